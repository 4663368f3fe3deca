# ImageNet-1k data for the Wider ResNet recipes: mmpretrain's ImageNet base (folder layout
# or meta/{train,val}.txt, RGB mean/std normalisation = the authors' 1/255 + mean/std) with
# the authors' augmentation (ademxapp iclass/ilsvrc.py, _train_impl):
#   RandomSizedCrop(224) -> ColorJitter(0.4, 0.4, 0.4) -> Lighting(0.1, AlexNet PCA)
#   -> clip to [0, 1] -> horizontal flip -> normalise.
# and the two test protocols as separate, named pipelines:
#   test_pipeline_224: shorter side 256, centre crop 224 (the standard one, mmpretrain's)
#   test_pipeline_320: shorter side 320, centre crop 320, single crop (the authors' one,
#                      behind the published 19.20 / 4.73 of Model A)
# `test_pipeline` (used by val/test) is the 224 one; a `*-test320.py` config switches it
# (and `tta_pipeline`, the same protocol plus a mirrored view, for `tools/test.py --tta`).
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs32.py']

# AlexNet/fb.resnet.torch PCA lighting, as used by the authors: eigenvalues of the RGB
# covariance for images in [0, 1], scaled by 255 because images here are in [0, 255];
# eigenvector rows reordered to BGR, because images are BGR until the data preprocessor.
LIGHTING_EIGVAL = [55.4625, 4.7940, 1.1475]  # 255 * [0.2175, 0.0188, 0.0045]
LIGHTING_EIGVEC = [
    [-0.5836, -0.6948, 0.4203],  # B
    [-0.5808, -0.0045, -0.8140],  # G
    [-0.5675, 0.7192, 0.4009],  # R
]

train_pipeline = [
    # float32 from the start: mmpretrain's Lighting casts its result back to the input
    # dtype without clipping, so on uint8 images a bright pixel pushed past 255 wraps round
    # to black. On float32 images the photometric transforms clip to [0, 255] themselves
    # (mmcv's adjust_*); only Lighting's small offset is left unclipped (the authors clip
    # after it; there is no clip transform in mmpretrain 1.2.0).
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='RandomResizedCrop', scale=224),
    # backend='cv2': the pillow backend takes uint8 only; cv2 gives the same blends.
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, backend='cv2'),
    dict(
        type='Lighting',
        eigval=LIGHTING_EIGVAL,
        eigvec=LIGHTING_EIGVEC,
        alphastd=0.1,
        to_rgb=False,
    ),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

# Standard protocol: shorter side 256, centre crop 224 (mmpretrain's ResNets are reported
# with it, and so are MAP's and fb.resnet.torch's 224 numbers).
test_pipeline_224 = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

# The authors' protocol (ademxapp README: `iclass/ilsvrc.py --test-scales 320`, which is
# Scale(320) of the shorter side then CenterCrop(320)): single crop, no flip.
test_pipeline_320 = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=320, edge='short'),
    dict(type='CenterCrop', crop_size=320),
    dict(type='PackInputs'),
]

test_pipeline = test_pipeline_224

# Flip test-time augmentation for `tools/test.py --tta` (the authors' `--test-flipping`;
# behind none of the published numbers): mmpretrain's AverageClsScoreTTA averages the
# scores of the centre crop and its mirror image. 10-crop testing (4 corners + centre,
# each mirrored) cannot be written with mmpretrain 1.2.0's transforms: TestTimeAug and
# AverageClsScoreTTA exist, but no transform crops at a fixed corner (RandomCrop's offset
# is random, CenterCrop's central; torchvision's TenCrop returns a tuple of crops).
tta_model = dict(type='AverageClsScoreTTA')
flip_tta = dict(
    type='TestTimeAug',
    transforms=[
        [
            dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            dict(type='RandomFlip', prob=0.0, direction='horizontal'),
        ],
        [dict(type='PackInputs')],
    ],
)
tta_pipeline_224 = test_pipeline_224[:-1] + [flip_tta]
tta_pipeline_320 = test_pipeline_320[:-1] + [flip_tta]
tta_pipeline = tta_pipeline_224

train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=32, dataset=dict(pipeline=test_pipeline))
