# Places365-Standard for the Wider ResNet recipes. mmpretrain 1.2.0 has no Places365
# dataset class, so this uses its CustomDataset on the ImageNet-like folder layout of
# Places365's "easy format" release (places365standard_easyformat.tar):
#   data/places365/train/<class>/*.jpg   data/places365/val/<class>/*.jpg
# Class indices are the sorted folder names (CustomDataset); check them against
# categories_places365.txt before comparing per-class indices with other code.
# Pipelines (authors' augmentation, 224 / 320 test protocols) as for ImageNet.
_base_ = ['./imagenet_bs32_wrn.py']

data_root = 'data/places365'
data_preprocessor = dict(num_classes=365)

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=_base_.train_pipeline,
    )
)
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline=_base_.test_pipeline,
    )
)
test_dataloader = val_dataloader
