# Wider ResNet-38 Model A (Wu, Shen, van den Hengel, arXiv:1611.10080) on ImageNet-1k with
# the authors' recipe (ademxapp iclass/ilsvrc.py): batch 256 (8 GPUs x 32), random-sized
# crop 224, colour jitter 0.4, PCA lighting 0.1, flip; nesterov SGD 0.9, wd 1e-4, lr 0.1
# decayed linearly to 1e-6 over 90 epochs. Tested with the standard protocol (shorter side
# 256, centre crop 224).
#
# Published numbers: metafile.yaml (the model of this name).
_base_ = [
    './_base_/models/wrn38a.py',
    './_base_/datasets/imagenet_bs32_wrn.py',
    './_base_/schedules/imagenet_bs256_linear-90e.py',
    'mmpretrain::_base_/default_runtime.py',
]
