# FCN on Wider ResNet-38 A1 (output stride 8); PASCAL Context (60 classes: 59 + background). mmseg's
# own recipe of fcn_r101-d8_4xb4-80k_pascal-context-480x480 with only the backbone swapped, so the
# comparison with ResNet-101 below isolates the backbone (docs/model_zoo.md).
_base_ = [
    '../_base_/models/fcn_wrn38a1-d8.py',
    './_base_/datasets/pascal_context_tta.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
crop_size = (480, 480)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=60),
    auxiliary_head=dict(num_classes=60),
    test_cfg=dict(mode='slide', crop_size=(480, 480), stride=(320, 320)),
)
# mmseg's PASCAL Context recipe: lr 0.004, weight decay 1e-4
optim_wrapper = dict(optimizer=dict(lr=0.004, weight_decay=0.0001))
# Published numbers, and what to compare with: metafile.yaml (the model of this name).
