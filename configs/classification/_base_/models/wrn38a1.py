# Wider ResNet-38 "Model A1": Model A with every max-pool replaced by a stride-2 first unit
# (B2..B6). Same parameters as Model A (the released A1 was fine-tuned from A), so the
# converted ilsvrc-cls_rna-a1_cls1000_ep-0001.params loads into this model as is.
_base_ = ['./wrn38a.py']

model = dict(backbone=dict(variant='a1'))
