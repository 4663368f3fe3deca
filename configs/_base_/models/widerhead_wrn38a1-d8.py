# The paper's segmentation model (Wu, Shen, van den Hengel, "Wider or Deeper", arXiv:1611.10080;
# docs/model_zoo.md): Wider ResNet-38 Model A1 at output stride 8 (B5 dilation 2, B6/B7
# dilation 4, the authors' contracted dilation), element-wise dropout 0.3/0.5 in B6/B7, frozen
# BN statistics, and the paper's head on the final 4096-channel feature: 3x3 conv dilation 12
# to 512 channels (bias, ReLU, no BN) -> 3x3 dilation-12 classifier. Loss: softmax
# cross-entropy with hard-pixel bootstrapping (keep pixels whose true-class probability is
# < 0.6, at least the 256 hardest per image) = mmseg's OHEMPixelSampler.
custom_imports = dict(imports=['wider_mm'], allow_failed_imports=False)
# The authors' weights (ADE, MXNet) were trained with BN epsilon 1.001e-5. Statistics are
# frozen (norm_eval=True), so SyncBN never synchronises here; it is kept for mmseg's
# convention (a non-distributed Runner turns it into BN).
backbone_norm_cfg = dict(type='SyncBN', eps=1.001e-5, requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
)
model = dict(
    type='WiderEncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='WiderResNet',
        depth=38,
        variant='a1',
        output_stride=8,
        contract_dilation=True,
        out_indices=(6,),
        norm_cfg=backbone_norm_cfg,
        norm_eval=True,
        drop_rates=(0.3, 0.5),
        dropout_type='Dropout',
        # Keep only each norm's input, recompute norm + activation in the backward pass:
        # bit-identical results, -43% step memory at 512x512 (docs/benchmarks.md).
        memory_efficient=True,
        # ImageNet weights: tools/model_converters/wrn2mm.py \
        #   ilsvrc-cls_rna-a1_cls1000_ep-0001.params checkpoints/wrn38a1_in1k.pth
        init_cfg=dict(
            type='Pretrained', checkpoint='checkpoints/wrn38a1_in1k.pth', prefix='backbone.'
        ),
    ),
    decode_head=dict(
        type='WiderHead',
        in_channels=4096,
        in_index=0,
        channels=512,
        dilation=12,
        dropout_ratio=0.0,
        norm_cfg=None,
        num_classes=21,
        align_corners=False,
        sampler=dict(type='OHEMPixelSampler', thresh=0.6, min_kept=256),
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    ),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)
