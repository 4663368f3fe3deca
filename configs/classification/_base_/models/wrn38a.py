# Wider ResNet-38 "Model A" (Wu, Shen, van den Hengel, arXiv:1611.10080) as an mmpretrain
# ImageClassifier: backbone -> global average pooling -> FC-1000.
#
# Set up to load the authors' released MXNet weights (ilsvrc-cls_rna-a_cls1000_ep-0001.params,
# converted with tools/model_converters/wrn2mm.py: MXNet `linear1000_{weight,bias}` ->
# `head.fc.{weight,bias}`, the trunk under `backbone.`):
# - pool_padding=0: the released Model A reproduces its accuracy only with unpadded 3x3/2
#   max-pools (an MXNet padding change, see the ademxapp README). Such a Model A needs
#   inputs of at least 63x63 pixels (5 unpadded pools).
# - BN eps 1.001e-5 (MXNet's), momentum 0.1 in PyTorch terms (0.9 in MXNet terms).
# - init_cfg: the authors' initialisation for training from scratch (iclass/ilsvrc.py):
#   MXNet Xavier(gaussian, 'in', magnitude 2) for convs = Kaiming-normal fan_in; BN 1/0;
#   the FC keeps PyTorch's nn.Linear default, which is what their TorchXavier_Linear
#   (uniform, 'in', magnitude 1: U(+-1/sqrt(fan_in)) for weight and bias) draws.
custom_imports = dict(imports=['wider_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='WiderResNet',
        depth=38,
        variant='a',
        pool_padding=0,
        out_indices=(6,),
        norm_cfg=dict(type='BN', eps=1.001e-5),
        init_cfg=[
            dict(
                type='Kaiming',
                layer='Conv2d',
                mode='fan_in',
                nonlinearity='relu',
                distribution='normal',
            ),
            dict(type='Constant', layer='_BatchNorm', val=1.0, bias=0.0),
        ],
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        # B7 emits 4096 channels at every depth (16/20/38); scale it with widen_factor.
        in_channels=4096,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        # None = PyTorch's nn.Linear init = the authors' TorchXavier_Linear (see above).
        init_cfg=None,
    ),
)
