# The authors' data recipe (docs/model_zoo.md), written once for the wider-recipe_<dataset> bases:
# long side rescaled to the test scale x U(0.7, 1.3), random 504x504 crop, flip; no photometric
# distortion and no category-ratio crop constraint (mmseg additions the authors did not use).
# Test: one resize to the test scale (keep_ratio); `tools/test.py --tta`: scales relative to the
# test scale, each with and without flip. Labels: LoadAnnotations takes reduce_zero_label from the
# dataset (ADE20K and PASCAL Context 59 set it), as mmseg asks instead of the deprecated argument.
# Each protocol is a (train, test, tta) pipeline triple; a dataset base unpacks the one it uses.


def _pipelines(test_scale):
    """The (train, test, tta) pipelines of the recipe at one test scale (dropped from the config:
    mmengine keeps no functions)."""
    train = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='RandomResize', scale=test_scale, ratio_range=(0.7, 1.3), keep_ratio=True),
        dict(type='RandomCrop', crop_size=(504, 504)),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackSegInputs'),
    ]
    test = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=test_scale, keep_ratio=True),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs'),
    ]
    resizes = [
        dict(type='Resize', scale=(int(test_scale[0] * r), int(test_scale[1] * r)), keep_ratio=True)
        for r in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    ]
    flips = [
        dict(type='RandomFlip', prob=0.0, direction='horizontal'),
        dict(type='RandomFlip', prob=1.0, direction='horizontal'),
    ]
    labels, pack = [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]
    tta = [
        dict(type='LoadImageFromFile', backend_args=None),
        dict(type='TestTimeAug', transforms=[resizes, flips, labels, pack]),
    ]
    return train, test, tta


# The paper's test protocols: long side 500 (VOC, PASCAL Context, ADE20K) and Cityscapes' full
# resolution (the model slides windows over it).
wider_recipe = dict(long_side_500=_pipelines((500, 500)), full_resolution=_pipelines((2048, 1024)))
