"""The VOC demo config shrunk for tests: depth 16, 1/32 width, 48x32 images, 4 iterations."""

_base_ = ['../../../configs/demo/wider_wrn38a1-w8-d8_2xb8-400i_demo-voc-128x96.py']

img_scale = (48, 32)
crop_size = (32, 32)
widen_factor = 1 / 32
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=16, widen_factor=widen_factor),
    decode_head=dict(in_channels=int(4096 * widen_factor), channels=8, dilation=1),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.75, 1.25)],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ],
    ),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
max_iters = 4
param_scheduler = [
    dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=2),
    dict(type='PolyLR', eta_min=1e-4, power=0.9, by_epoch=False, begin=2, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=2)
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=2, max_keep_ckpts=3, save_best=None)
)
