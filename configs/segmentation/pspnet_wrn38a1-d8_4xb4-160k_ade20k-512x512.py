# PSPNet on Wider ResNet-38 A1 (output stride 8); ADE20K (150 classes). mmseg's own recipe of
# pspnet_r101-d8_4xb4-160k_ade20k-512x512 with only the backbone swapped, so the comparison with
# ResNet-101 below isolates the backbone (docs/model_zoo.md).
_base_ = [
    '../_base_/models/pspnet_wrn38a1-d8.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
)
# Published numbers, and what to compare with: metafile.yaml (the model of this name).
