# Wider ResNet-38 Model A1, ImageNet-1k, evaluated with the authors' protocol: shorter side
# 320, centre crop 320, single crop. Use it to evaluate the released weights as published:
#   tools/test.py configs/classification/wrn38a1_8xb32_in1k-test320.py CONVERTED.pth
# where CONVERTED.pth is ilsvrc-cls_rna-a1_cls1000_ep-0001.params converted by
# tools/model_converters/.
#
# Published (released Model A1, this protocol): top-1 err 19.54, top-5 err 4.75.
# Ours: not evaluated here (weights not downloadable here).
_base_ = ['./wrn38a1_8xb32_in1k.py']

test_pipeline = _base_.test_pipeline_320
tta_pipeline = _base_.tta_pipeline_320
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
