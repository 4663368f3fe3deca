# Wider ResNet-38 (Model A layout) as trained on ImageNet-1k by mapillary/inplace_abn (MAP),
# with MAP's recipe. Source: mapillary/inplace_abn,
# scripts/experiments/wider_resnet38_ipabn_lr_256.json + scripts/imagenet/config.py
# (defaults it overrides) + scripts/imagenet/{utils,transforms}.py + scripts/train_imagenet.py
# + scripts/models/wider_resnet.py:
# - network: `wider_resnet38`, InPlace-ABN with leaky_relu 0.01; 3x3/2 max-pools (padding 1)
#   before mod2..mod6 = Model A with pool_padding=1. InPlace-ABN is a memory saving; the
#   maths is BN (eps 1e-5) + LeakyReLU(0.01), which is what this model computes. (Their
#   released weights store gamma as InPlace-ABN does; the converter turns it into BN's.)
# - init: convs xavier_normal with gain calculate_gain('leaky_relu', 0.01); BN 1/0; the FC
#   xavier_uniform gain 0.1, bias 0.
# - optimizer: SGD, batch 256, lr 0.1, momentum 0.9, wd 1e-4 (on every parameter),
#   nesterov=true, clip 0 (no gradient clipping).
# - schedule: "linear", mode "step", 90 epochs, lr factor = 1 - 2.222e-6 * iteration, i.e.
#   linear from 0.1 to ~0 over 90 epochs of batch-256 iterations (~450k), per iteration.
# - input: RandomResizedCrop(224) (torchvision, PIL bilinear), horizontal flip, colour
#   jitter (saturation, brightness, contrast 0.4, random order), PCA lighting 0.1,
#   ImageNet mean/std; validation: Resize(256) + CenterCrop(224).
# Differences left: their jitter and lighting run on [0, 1] float tensors without clipping;
# mmcv's colour jitter clips to [0, 255].
#
# Published numbers: metafile.yaml (the model of this name).
# MAP's 10-crop protocol is not expressible with mmpretrain 1.2.0's transforms (no
# fixed-position/corner crop), see docs/classification.md.
_base_ = [
    './_base_/models/wrn38a.py',
    './_base_/datasets/imagenet_bs32_wrn.py',
    './_base_/schedules/imagenet_bs256_linear-90e.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        pool_padding=1,
        norm_cfg=dict(type='BN', eps=1e-5),
        act_cfg=dict(type='LeakyReLU', negative_slope=0.01),
        init_cfg=[
            # gain = calculate_gain('leaky_relu', 0.01) = sqrt(2 / (1 + 0.01 ** 2))
            dict(type='Xavier', layer='Conv2d', distribution='normal', gain=1.4141428),
            dict(type='Constant', layer='_BatchNorm', val=1.0, bias=0.0),
        ],
    ),
    head=dict(
        init_cfg=dict(
            _delete_=True,
            type='Xavier',
            layer='Linear',
            distribution='uniform',
            gain=0.1,
            bias=0.0,
        )
    ),
)

# Same ImageNet normalisation as the base; torchvision-style (PIL) resizing at test time.
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    # cv2 bilinear: mmcv's pillow resize takes uint8 only (the float32 load is for Lighting).
    dict(type='RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # backend='cv2': the pillow backend takes uint8 only; cv2 gives the same blends.
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, backend='cv2'),
    dict(
        type='Lighting',
        eigval=_base_.LIGHTING_EIGVAL,
        eigvec=_base_.LIGHTING_EIGVEC,
        alphastd=0.1,
        to_rgb=False,
    ),
    dict(type='PackInputs'),
]
test_pipeline_224 = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
# MAP's README does not state the resize behind its "320" column (test_imagenet.py takes
# --scale and --crop); this uses the authors' 320 protocol (shorter side 320, crop 320).
test_pipeline_320 = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=320, edge='short', backend='pillow', interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=320),
    dict(type='PackInputs'),
]
test_pipeline = test_pipeline_224
tta_pipeline_224 = test_pipeline_224[:-1] + [_base_.flip_tta]
tta_pipeline_320 = test_pipeline_320[:-1] + [_base_.flip_tta]
tta_pipeline = tta_pipeline_224
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True),
)
param_scheduler = dict(end_factor=0.0)
