# mmseg's UPerNet (UPerHead on four levels + FCN auxiliary head) on Wider ResNet-38 Model A1
# at output stride 32 (no dilation, as mmseg's upernet_r50). out_indices (2, 3, 4, 6) = B3,
# B4, B5, B7: 256, 512, 1024, 4096 channels at strides 4, 8, 16, 32, the pyramid UPerHead
# expects from ResNet's C2..C5; the auxiliary head reads index 2 (B5, 1024 channels).
_base_ = ['mmseg::_base_/models/upernet_r50.py', './wrn38a1_backbone.py']
custom_imports = dict(imports=['wider_mm'], allow_failed_imports=False)
model = dict(
    type='WiderEncoderDecoder',
    pretrained=None,
    backbone=dict(_base_.wrn38a1_backbone, output_stride=32),
    decode_head=dict(in_channels=[256, 512, 1024, 4096]),
    auxiliary_head=dict(in_channels=1024),
)
