# mmseg's DeepLabV3+ (DepthwiseSeparableASPPHead + FCN auxiliary head) on Wider ResNet-38
# Model A1, output stride 8. Everything but the backbone is mmseg's own base; out_indices
# (2, 3, 4, 6) = B3, B4, B5, B7 (256, 512, 1024, 4096 channels at strides 4, 8, 8, 8): the
# low-level feature (the head's inputs[0]) is B3 at stride 4 with 256 channels, exactly what
# mmseg's c1_in_channels=256 expects from ResNet's C2; the ASPP reads index 3 (B7), the
# auxiliary head index 2 (B5, 1024 channels).
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py', './wrn38a1_backbone.py']
custom_imports = dict(imports=['wider_mm'], allow_failed_imports=False)
model = dict(
    type='WiderEncoderDecoder',
    pretrained=None,
    backbone={{_base_.wrn38a1_backbone}},
    decode_head=dict(in_channels=4096, c1_in_channels=256),
    auxiliary_head=dict(in_channels=1024),
)
