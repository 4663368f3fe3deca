"""Demo: the paper's segmentation model, at 1/8 width, on the synthetic VOC-layout demo data.

Wider ResNet-38 Model A1 (output stride 8, widths x 1/8) + the paper's head (``WiderHead``)
in ``WiderEncoderDecoder``, trained from scratch with mmseg's own ``PascalVOCDataset`` on
``data/demo`` (``tools/make_demo_data.py``). Two processes x 8 images ("2xb8"), 400 iterations:
a few minutes on a 2-core CPU (``make demo``). The demo scenes use five VOC classes; the
dataset's ``metainfo`` subset makes mmseg remap the VOC ids (0, 1, 3, 7, 15) to 0..4.
The scaled-down choices (width, crop, head dilation, schedule) are commented below; the
rest is the full-size recipe's.
"""

_base_ = [
    'mmseg::_base_/datasets/pascal_voc12.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['wider_mm', 'wider_mm.evaluation'], allow_failed_imports=False)

data_root = 'data/demo/VOCdevkit/VOC2012'
classes = ('background', 'aeroplane', 'bird', 'car', 'person')
img_scale = (128, 96)  # (w, h) of the demo images
crop_size = (96, 96)
widen_factor = 1 / 8
# The multi-GPU recipes use SyncBN; tools/train.py reverts it to BN on CPU (gloo).
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    type='WiderEncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=crop_size,
    ),
    pretrained=None,
    backbone=dict(
        type='WiderResNet',
        depth=38,
        variant='a1',
        widen_factor=widen_factor,
        output_stride=8,
        out_indices=(6,),
        norm_cfg=norm_cfg,
    ),
    decode_head=dict(
        type='WiderHead',
        in_channels=int(4096 * widen_factor),
        channels=64,
        # The paper's dilation 12 is for ~63-pixel feature maps (500-pixel images at
        # stride 8); the demo's are 12-16 pixels, so the same field of view is ~3.
        dilation=3,
        num_classes=len(classes),
        dropout_ratio=0.1,
        norm_cfg=None,  # the paper's head has no BN
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
img_ratios = [0.75, 1.0, 1.25]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ],
    ),
]
metainfo = dict(classes=classes)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,  # 2 cores run 2 training processes already
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# Schedule: SGD + poly as the paper's recipes (momentum 0.9, wd 5e-4, biases at lr x2 and
# no decay), with a larger lr and a short warm-up because the demo trains from scratch.
max_iters = 400
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0, norm_decay_mult=0.0),
    clip_grad=None,
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', eta_min=1e-4, power=0.9, by_epoch=False, begin=30, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=200, max_keep_ckpts=2, save_best='mIoU'
    ),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
)
# overlays at half opacity (the default 0.8 hides the demo's small images)
visualizer = dict(
    type='SegLocalVisualizer',
    vis_backends=[dict(type='LocalVisBackend')],
    name='visualizer',
    alpha=0.5,
)
randomness = dict(seed=0)
env_cfg = dict(cudnn_benchmark=False)
