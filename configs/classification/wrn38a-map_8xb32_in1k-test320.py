# MAP's Wider ResNet-38 (mapillary/inplace_abn, InPlace-ABN + LeakyReLU 0.01, Model A
# layout with padded pools), ImageNet-1k, evaluated at 320: shorter side 320, centre crop
# 320, single crop. Evaluate MAP's released weights (converted by tools/model_converters/:
# `module.` prefix stripped, InPlace-ABN gamma -> |gamma| + eps, `classifier.fc.*` ->
# `head.fc.*`) with tools/test.py THIS_CONFIG CONVERTED.pth.
#
# Published numbers: metafile.yaml (the model of this name).
_base_ = ['./wrn38a-map_8xb32_in1k.py']

test_pipeline = _base_.test_pipeline_320
tta_pipeline = _base_.tta_pipeline_320
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
