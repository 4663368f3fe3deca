# PSA's classification network (Ahn & Kwak, CVPR 2018, jiwoon-ahn/psa): Wider ResNet-38
# Model A1 at output stride 8 ("resnet38d"), trained as a 20-class multi-label classifier on
# PASCAL VOC 2012 train_aug image labels, whose class activation maps (CAMs) seed
# weakly-supervised segmentation (tools/cam.py; docs/cam.md). mmpretrain's own VOC dataset
# (labels from Annotations/*.xml) and multi-label metrics (mAP, CP/CR/CF1, OP/OR/OF1).
#
# The recipe of PSA's train_cls.py / network/resnet38_cls.py:
# - initialised from the authors' ImageNet Model A1 (ilsvrc-cls_rna-a1_cls1000_ep-0001.params,
#   converted by tools/model_converters/wrn2mm.py to checkpoints/wrn38a1_in1k.pth);
# - stem and B2 frozen (frozen_stages=1); every BatchNorm frozen: statistics in eval mode and
#   affine parameters not trained (PSA's Net.train());
# - Dropout2d(0.5) on the final feature, global average pooling, fc8 = 1x1 conv 4096 -> 20
#   without bias, Xavier-uniform init (MultiLabelCAMHead: dropout + bias-free linear on the
#   pooled feature, the same function);
# - multi-label soft-margin loss (= mmpretrain's sigmoid CrossEntropyLoss / 20 classes);
# - batch 16, 15 epochs; long side resized to U(256, 512) (bicubic), flip, colour jitter
#   (0.3, 0.3, 0.3, 0.1), random 448x448 crop, padded with the mean colour where the image is
#   smaller (PSA pads with zeros after normalisation, the same colour);
# - SGD, lr 0.1 with poly decay (power 0.9, per iteration), weight decay 5e-4; biases lr x2
#   without decay; the new classifier lr x10 (its bias, had it one, x20).
#   PSA's PolyOptimizer calls torch.optim.SGD(params, lr, weight_decay), which passes the
#   weight decay where SGD expects the momentum: PSA trains with momentum 5e-4, which this
#   config keeps (momentum=5e-4).
# What differs from PSA: PSA's trunk also applies Dropout2d before the 3x3 conv of B6/B7
# (0.3, 0.5); WiderResNet drops before the last 1x1 conv only (test time is unaffected, so
# PSA's released weights give the same CAMs). mmpretrain's RandomCrop centres a smaller
# image in its padding; PSA places it at random. Labels: mmpretrain's VOC reads "difficult"
# objects as a separate list and trains on the others, while PSA's cls_labels.npy counts every
# object; tools/cam.py computes CAMs for both.
#
# Published (PSA README, released res38_cls.pth, CAMs at scales 1, 0.5, 1.5, 2 + flip; PSA's
# infer_cls.py labels pixels with a background score of 0.2): CAM mIoU 47.7 on VOC 2012
# train, 47.2 on val (48.0 / 46.8 in the CVPR paper). The released res38_cls.pth converts
# into a checkpoint of this config (its fc8 becomes head.fc): metafile.yaml, docs/cam.md.
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['wider_mm'], allow_failed_imports=False)

data_root = 'data/VOCdevkit/VOC2012'
crop_size = 448

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='WiderResNet',
        depth=38,
        variant='a1',
        output_stride=8,
        contract_dilation=True,  # PSA's b5: first 3x3 at dilation 1, then 2
        out_indices=(6,),
        frozen_stages=1,
        norm_eval=True,
        norm_cfg=dict(type='BN', eps=1e-5, requires_grad=False),
        drop_rates=(0.3, 0.5),
        dropout_type='Dropout2d',
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/wrn38a1_in1k.pth', prefix='backbone.'
        ),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MultiLabelCAMHead',
        num_classes=20,
        in_channels=4096,
        dropout=0.5,
        bias=False,
        # mmpretrain's multi-label loss sums over classes (averages over images only);
        # PSA's multilabel_soft_margin_loss also averages over the 20 classes.
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1 / 20),
        thr=0.5,
        init_cfg=dict(type='Xavier', layer='Linear', distribution='uniform'),
    ),
)

data_preprocessor = dict(
    num_classes=20,
    mean=[123.675, 116.28, 103.53],  # PSA's Normalize: ImageNet mean / std on RGB
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    to_onehot=True,
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # long side = 512 x U(0.5, 1) = U(256, 512), aspect kept (PSA's RandomResizeLong)
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(0.5, 1.0),
        keep_ratio=True,
        interpolation='bicubic',
    ),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # torchvision's ColorJitter on the RGB image, as PSA. (mmpretrain's ColorJitter goes
    # through mmcv 2.1.0's adjust_hue, which fails for negative hue shifts under numpy 2:
    # np.uint8(-2.5) raises OverflowError.)
    dict(type='NumpyToPIL', to_rgb=True),
    dict(type='torchvision/ColorJitter', brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1),
    dict(type='PILToNumpy', to_bgr=True, dtype='uint8'),
    # pad_val: the mean colour in BGR (the image is BGR until the data preprocessor)
    dict(type='RandomCrop', crop_size=crop_size, pad_if_needed=True, pad_val=(104, 116, 124)),
    dict(type='PackInputs'),
]
# Whole images; the data preprocessor pads a batch to its largest image with zeros after
# normalisation (the mean colour), as PSA's validation (CenterCrop(500) with zero padding).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='PackInputs',
        # `gt_label_difficult` is needed for VOC evaluation
        meta_keys=(
            'sample_idx',
            'img_path',
            'ori_shape',
            'img_shape',
            'scale_factor',
            'flip',
            'flip_direction',
            'gt_label_difficult',
        ),
    ),
]
# train_aug: VOC 2012 train + SBD minus VOC val (10,582 images), the list that mmseg's
# tools/dataset_converters/voc_aug.py writes as trainaug.txt; every one of these images has
# an XML annotation in VOC2012/Annotations.
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    dataset=dict(
        type='VOC',
        data_root=data_root,
        split='train',
        image_set_path='ImageSets/Segmentation/trainaug.txt',
        pipeline=train_pipeline,
    ),
    sampler=dict(type='DefaultSampler', shuffle=True),
    drop_last=True,  # as PSA's loader
)
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    dataset=dict(
        type='VOC',
        data_root=data_root,
        split='val',
        image_set_path='ImageSets/Segmentation/val.txt',
        test_mode=True,
        pipeline=test_pipeline,
    ),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_dataloader = val_dataloader
# mmpretrain's VOC metrics: CP/CR/CF1 (macro), OP/OR/OF1 (micro), mAP
val_evaluator = [
    dict(type='VOCMultiLabelMetric'),
    dict(type='VOCMultiLabelMetric', average='micro'),
    dict(type='VOCAveragePrecision'),
]
test_evaluator = val_evaluator

# tools/cam.py: PSA's inference (scales 1, 0.5, 1.5, 2 with flips) on the segmentation lists,
# scored against SegmentationClass over background thresholds 0.05..0.95.
cam_cfg = dict(
    scales=(1.0, 0.5, 1.5, 2.0),
    flip=True,
    thresholds=[round(0.05 * i, 2) for i in range(1, 20)],
    image_set_path='ImageSets/Segmentation/{split}.txt',
    seg_map_path='SegmentationClass',
    num_overlays=8,
)

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=5e-4, weight_decay=5e-4),
    paramwise_cfg=dict(
        bias_lr_mult=2.0,
        bias_decay_mult=0.0,
        custom_keys={'head.fc': dict(lr_mult=10.0)},  # weight x10; a bias would get x20
    ),
)
param_scheduler = dict(
    type='PolyLR',
    power=0.9,
    eta_min=0.0,
    by_epoch=True,
    begin=0,
    end=15,
    convert_to_iter_based=True,
)
train_cfg = dict(by_epoch=True, max_epochs=15, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
