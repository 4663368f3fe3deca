# UPerNet on Wider ResNet-38 A1 (stride 32, four levels); Cityscapes, fine annotations (19 classes).
# mmseg's own recipe of upernet_r101_4xb2-80k_cityscapes-512x1024 with only the backbone swapped, so
# the comparison with ResNet-101 below isolates the backbone (docs/model_zoo.md).
_base_ = [
    '../_base_/models/upernet_wrn38a1.py',
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
# Published numbers, and what to compare with: metafile.yaml (the model of this name).
