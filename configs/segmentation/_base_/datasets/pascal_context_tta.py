# mmseg's PASCAL Context (60 classes) base plus the test-time augmentation pipeline that its
# siblings (pascal_context_59, voc, ade20k, cityscapes) define and it lacks, so that
# tools/test.py --tta works: mmseg's scale ratios, each with and without flip.
_base_ = 'mmseg::_base_/datasets/pascal_context.py'
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ],
    ),
]
