# Wider ResNet-38 Model A1, ImageNet-1k, evaluated with the authors' protocol: shorter side
# 320, centre crop 320, single crop. Use it to evaluate the released weights as published:
#   tools/test.py configs/classification/wrn38a1_8xb32_in1k-test320.py CONVERTED.pth
# where CONVERTED.pth is ilsvrc-cls_rna-a1_cls1000_ep-0001.params converted by
# tools/model_converters/.
#
# Published numbers: metafile.yaml (the model of this name).
_base_ = ['./wrn38a1_8xb32_in1k.py']

test_pipeline = _base_.test_pipeline_320
tta_pipeline = _base_.tta_pipeline_320
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
