# PSPNet on Wider ResNet-38 A1 (output stride 8); Cityscapes, fine annotations (19 classes). mmseg's
# own recipe of pspnet_r101-d8_4xb2-80k_cityscapes-512x1024 with only the backbone swapped, so the
# comparison with ResNet-101 below isolates the backbone (docs/model_zoo.md).
_base_ = [
    '../_base_/models/pspnet_wrn38a1-d8.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=19),
    auxiliary_head=dict(num_classes=19),
    # full-resolution (1024x2048) inference by sliding 1024x1024 windows
    test_cfg=dict(mode='slide', crop_size=(1024, 1024), stride=(768, 768)),
)
# The number to compare with: ResNet-101 with the same head and recipe (mmseg).
published = dict(
    metric='mIoU',
    value=79.76,
    value_tta=81.01,
    split='val',
    protocol='single scale; value_tta: 6 scales + flip; whole, 1024x2048',
    model='ResNet-101-D8 + PSPNet (mmseg)',
    source='mmseg 1.2.2 metafile: pspnet_r101-d8_4xb2-80k_cityscapes-512x1024',
)
