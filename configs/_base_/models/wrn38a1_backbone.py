# Wider ResNet-38 Model A1 as the backbone of mmseg's own model bases (fcn/pspnet/deeplabv3/
# deeplabv3plus/upernet_wrn38a1*.py): one definition, referenced as
# `backbone={{_base_.wrn38a1_backbone}}` (output stride 8; UPerNet overrides it to 32).
# out_indices (2, 3, 4, 6) = B3, B4, B5, B7: 256, 512, 1024, 4096 channels, ResNet's C2..C5
# layout, so mmseg's in_index values stay as they are. `_delete_` drops the ResNet's keys.
wrn38a1_backbone = dict(
    _delete_=True,
    type='WiderResNet',
    depth=38,
    variant='a1',
    output_stride=8,
    contract_dilation=True,
    out_indices=(2, 3, 4, 6),
    norm_cfg=dict(type='SyncBN', eps=1.001e-5, requires_grad=True),
    norm_eval=False,
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/wrn38a1_in1k.pth', prefix='backbone.'),
)
