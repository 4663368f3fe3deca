"""The Cityscapes demo config shrunk for tests (see tiny_voc.py)."""

_base_ = ['../../../configs/demo/wider_wrn38a1-w8-d8_2xb8-400i_demo-cityscapes-128x96.py']

img_scale = (48, 32)
widen_factor = 1 / 32
model = dict(
    data_preprocessor=dict(size=(32, 32)),
    backbone=dict(depth=16, widen_factor=widen_factor),
    decode_head=dict(in_channels=int(4096 * widen_factor), channels=8, dilation=1),
)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
