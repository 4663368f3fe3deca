# The authors' parameter-wise rule on top of mmseg's poly schedule (schedule_<N>k.py, SGD lr 0.01,
# momentum 0.9, weight decay 5e-4 = the authors'): every bias - conv biases AND BN betas - at lr x2
# and no weight decay; everything else (conv weights, BN gammas) at lr x1, wd 5e-4. A leaf lists
# mmseg's schedule of its length next to this base and sets
# `optim_wrapper = dict(paramwise_cfg=_base_.wider_paramwise_cfg)` (two bases may not both set
# optim_wrapper, and a base cannot read a length the leaf sets: mmengine reads bases first).
# Why custom_keys and not bias_lr_mult=2/bias_decay_mult=0/norm_decay_mult=0: mmengine's
# DefaultOptimWrapperConstructor applies bias_lr_mult to non-norm biases only (BN beta stays
# at lr x1) and norm_decay_mult to BN gamma as well as beta (docs/model_zoo.md; checked by
# tests/configs/test_segmentation_configs.py).
wider_paramwise_cfg = dict(custom_keys={'.bias': dict(lr_mult=2.0, decay_mult=0.0)})
