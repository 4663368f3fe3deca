# Wider ResNet-38 Model A1 (stride-2 units instead of max-pools) trained from scratch on
# ImageNet-1k with the authors' Model A recipe (see wrn38a_8xb32_in1k.py). The released A1
# was not trained this way but fine-tuned from Model A: wrn38a1_8xb32-ft45k_in1k.py.
# Tested with the standard protocol (shorter side 256, centre crop 224).
#
# Published numbers: metafile.yaml (the model of this name).
_base_ = [
    './_base_/models/wrn38a1.py',
    './_base_/datasets/imagenet_bs32_wrn.py',
    './_base_/schedules/imagenet_bs256_linear-90e.py',
    'mmpretrain::_base_/default_runtime.py',
]
