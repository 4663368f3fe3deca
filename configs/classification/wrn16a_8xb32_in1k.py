# Wider ResNet-16 Model A (units per block B2..B7 from the paper's table) on
# ImageNet-1k with the authors' recipe: see wrn38a_8xb32_in1k.py, of which this is the
# depth-16 version. B7 still emits 4096 channels, so the head is unchanged.
#
# Published numbers: metafile.yaml (the model of this name).
_base_ = ['./wrn38a_8xb32_in1k.py']

model = dict(backbone=dict(depth=16))
