# DeepLabV3 on Wider ResNet-38 A1 (output stride 8); ADE20K (150 classes). mmseg's own recipe of
# deeplabv3_r101-d8_4xb4-160k_ade20k-512x512 with only the backbone swapped, so the comparison with
# ResNet-101 below isolates the backbone (docs/model_zoo.md).
_base_ = [
    '../_base_/models/deeplabv3_wrn38a1-d8.py',
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
# The number to compare with: ResNet-101 with the same head and recipe (mmseg).
published = dict(
    metric='mIoU',
    value=45.0,
    value_tta=46.66,
    split='val',
    protocol='single scale; value_tta: 6 scales + flip; whole image, short side 512',
    model='ResNet-101-D8 + DeepLabV3 (mmseg)',
    source='mmseg 1.2.2 metafile: deeplabv3_r101-d8_4xb4-160k_ade20k-512x512',
)
