# UPerNet on Wider ResNet-38 A1 (stride 32, four levels); PASCAL Context (59 classes, background
# ignored). mmseg's recipe for this dataset (as its FCN/PSPNet/DeepLabV3 configs; mmseg has no
# UPerNet config for it) with the backbone swapped (docs/model_zoo.md).
_base_ = [
    '../_base_/models/upernet_wrn38a1.py',
    'mmseg::_base_/datasets/pascal_context_59.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
crop_size = (480, 480)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=59),
    auxiliary_head=dict(num_classes=59),
    test_cfg=dict(mode='slide', crop_size=(480, 480), stride=(320, 320)),
)
# mmseg's PASCAL Context recipe: lr 0.004, weight decay 1e-4
optim_wrapper = dict(optimizer=dict(lr=0.004, weight_decay=0.0001))
# Published numbers, and what to compare with: metafile.yaml (the model of this name).
