"""Demo, Cityscapes path: the demo model on the synthetic Cityscapes-layout street scenes.

Same model and schedule as the VOC demo (``wider_wrn38a1-w8-d8_2xb8-400i_demo-voc-128x96.py``),
with mmseg's own ``CityscapesDataset`` (19 classes, ``*_leftImg8bit.png`` /
``*_gtFine_labelTrainIds.png``) on ``data/demo/cityscapes``. It exercises the Cityscapes
server format: ``tools/test.py CONFIG CKPT --format-only --cfg-options
test_dataloader.dataset.data_prefix.img_path=leftImg8bit/test`` writes labelIds PNGs and a
zip (mmseg's ``CityscapesMetric``).
"""

_base_ = ['./wider_wrn38a1-w8-d8_2xb8-400i_demo-voc-128x96.py']

data_root = 'data/demo/cityscapes'
num_classes = 19
model = dict(decode_head=dict(num_classes=num_classes))


train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CityscapesDataset',
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline={{_base_.train_pipeline}},
    )
)
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CityscapesDataset',
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline={{_base_.test_pipeline}},
    )
)
test_dataloader = val_dataloader
