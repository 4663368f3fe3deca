# Wider ResNet-38 "Model A2": max-pools before B2 and B3, stride-2 first units of B4..B6.
# The paper made it by fine-tuning Model A on Places365 (no A2 weights were released).
# Same parameter shapes as Model A; the 3x3/2 pools use padding 1 here (pool_padding=0 is
# only needed to reproduce the released Model A).
_base_ = ['./wrn38a.py']

model = dict(backbone=dict(variant='a2', pool_padding=1))
