# mmseg's 40k poly schedule (SGD lr 0.01, momentum 0.9, weight decay 5e-4 = the authors')
# with the authors' parameter-wise rule: every bias - conv biases AND BN betas - at lr x2 and
# no weight decay; everything else (conv weights, BN gammas) at lr x1, wd 5e-4.
# Why custom_keys and not bias_lr_mult=2/bias_decay_mult=0/norm_decay_mult=0: mmengine's
# DefaultOptimWrapperConstructor applies bias_lr_mult to non-norm biases only (BN beta stays
# at lr x1) and norm_decay_mult to BN gamma as well as beta (docs/model_zoo.md; checked by
# tests/configs/test_segmentation_configs.py).
_base_ = 'mmseg::_base_/schedules/schedule_40k.py'
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.bias': dict(lr_mult=2.0, decay_mult=0.0)}))
