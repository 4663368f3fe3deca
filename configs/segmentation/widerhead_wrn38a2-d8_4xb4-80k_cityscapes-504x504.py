# The paper's Model A2 (max-pools before B2, B3; strided B4..B6; output stride 8) on Cityscapes
# fine, otherwise as the A1 config. The authors released no A2 weights; the A2 weights in use (the
# NVIDIA/Mapillary ports) dilate both convs of the first dilated unit and use PyTorch's BN epsilon,
# hence contract_dilation=False and eps=1e-5 (docs/model_zoo.md).
_base_ = './widerhead_wrn38a1-d8_4xb4-80k_cityscapes-504x504.py'
model = dict(
    backbone=dict(
        variant='a2',
        contract_dilation=False,
        pool_padding=1,
        norm_cfg=dict(type='SyncBN', eps=1e-5, requires_grad=True),
        init_cfg=dict(checkpoint='checkpoints/wrn38a2_in1k.pth'),
    )
)
# Published numbers, and what to compare with: metafile.yaml (the model of this name).
