"""Demo: PSA's CAM classifier at 1/16 width on the synthetic VOC-layout demo data.

The recipe of ``configs/classification/psa/wrn38a1-d8-psa_1xb16-15e_voc12aug-448x448.py``
(Wider ResNet-38 A1 at output stride 8, bias-free multi-label head, mmpretrain's ``VOC``
dataset and metrics, ``cam_cfg`` for ``tools/cam.py``) scaled down for a CPU: widths x 1/16,
the demo's 128x96 images, two processes x 8 images ("2xb8"), 300 iterations
(``bash tools/cam_demo.sh``, docs/cam.md). The demo scenes have four object classes.

What the demo changes because it trains from scratch (no ImageNet weights): PSA freezes
every BatchNorm and the stem + B2 of a pre-trained trunk, and gives the new classifier 10x
the lr; a random trunk needs its BN trained (``norm_eval=False``, ``requires_grad=True``),
nothing frozen, one lr for all (the 10x classifier lr and dropout slowed learning from
scratch: mAP 81 vs 83 after 100 iterations), momentum 0.9 and a short warm-up. Everything
else is the recipe's.
"""

_base_ = ['../classification/psa/wrn38a1-d8-psa_1xb16-15e_voc12aug-448x448.py']

data_root = 'data/demo/VOCdevkit/VOC2012'
classes = ('aeroplane', 'bird', 'car', 'person')
widen_factor = 1 / 16
crop_size = 96

model = dict(
    backbone=dict(
        widen_factor=widen_factor,
        frozen_stages=-1,
        norm_eval=False,
        # trained BN; SyncBN as multi-GPU recipes (tools/train.py reverts it to BN on CPU
        # and averages the statistics of the processes, so all of them validate alike)
        norm_cfg=dict(type='SyncBN', eps=1e-5, requires_grad=True),
        drop_rates=(0.0, 0.0),
        init_cfg=None,
    ),
    head=dict(
        in_channels=int(4096 * widen_factor),
        num_classes=len(classes),
        dropout=0.0,
        loss=dict(loss_weight=1 / len(classes)),
    ),
)
data_preprocessor = dict(num_classes=len(classes))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # long side U(64, 128): the recipe's U(256, 512) relative to its 448 crop
    dict(
        type='RandomResize',
        scale=(128, 128),
        ratio_range=(0.5, 1.0),
        keep_ratio=True,
        interpolation='bicubic',
    ),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/ColorJitter', brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1),
    dict(type='PILToNumpy', to_bgr=True, dtype='uint8'),
    dict(type='RandomCrop', crop_size=crop_size, pad_if_needed=True, pad_val=(104, 116, 124)),
    dict(type='PackInputs'),
]
metainfo = dict(classes=classes)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,  # 2 cores run 2 training processes already
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root=data_root,
        image_set_path='ImageSets/Segmentation/train.txt',
        metainfo=metainfo,
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo),
)
test_dataloader = val_dataloader

max_iters = 300
optim_wrapper = dict(
    optimizer=dict(lr=0.1, momentum=0.9),
    paramwise_cfg=dict(custom_keys={'head.fc': dict(lr_mult=1.0)}),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=30, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=100)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=1),
)
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(base_batch_size=16)
randomness = dict(seed=0)
