# Wider ResNet-38 Model A, ImageNet-1k, evaluated with the authors' protocol: shorter side
# 320, centre crop 320, single crop (ademxapp: `iclass/ilsvrc.py --test-scales 320`).
# Use it to evaluate the released weights as published:
#   tools/test.py configs/classification/wrn38a_8xb32_in1k-test320.py CONVERTED.pth
# where CONVERTED.pth is ilsvrc-cls_rna-a_cls1000_ep-0001.params converted by
# tools/model_converters/ (the model keeps pool_padding=0 and BN eps 1.001e-5, which the
# released Model A needs).
#
# Published numbers: metafile.yaml (the model of this name).
_base_ = ['./wrn38a_8xb32_in1k.py']

test_pipeline = _base_.test_pipeline_320
tta_pipeline = _base_.tta_pipeline_320
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
