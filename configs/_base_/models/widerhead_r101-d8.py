# The paper's head (widerhead_wrn38a1-d8.py) on mmseg's ResNetV1c-101-D8 (the backbone of
# mmseg's deeplabv3_r101-d8): the baseline of docs/benchmarks.md for the paper's model, so
# that only the backbone differs. The decode head reads C5 (2048 channels, stride 8).
_base_ = ['./widerhead_wrn38a1-d8.py']
model = dict(
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(
        _delete_=True,
        type='ResNetV1c',
        depth=101,
        num_stages=4,
        out_indices=(3,),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
    ),
    decode_head=dict(in_channels=2048),
)
