# The authors' ImageNet schedule (ademxapp iclass/ilsvrc.py `--lr-type linear`, batch 256):
# - TorchNesterov (their util/optimizer.py) is exactly PyTorch's SGD with nesterov=True;
#   momentum 0.9, weight decay 1e-4, lr 0.1 for a total batch of 256 (8 GPUs x 32).
# - MXNet's default wd_mult decays only `*_weight` and `*_gamma` parameters: biases (the FC
#   bias) and BN betas get no weight decay. `custom_keys={'.bias': ...}` matches exactly
#   those (every `.bias` here is a BN beta or the FC bias; the convs have none).
# - lr decays linearly, per iteration, from 0.1 to 1e-6 over 90 epochs (their
#   LinearScheduler(updates=90 epochs of iterations, stop_lr=1e-6)): mmengine's LinearLR to
#   end_factor 1e-5, given in epochs and converted to iterations (by_epoch=True,
#   convert_to_iter_based=True).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True),
    paramwise_cfg=dict(custom_keys={'.bias': dict(decay_mult=0.0)}),
)

param_scheduler = dict(
    type='LinearLR',
    start_factor=1.0,
    end_factor=1e-5,
    by_epoch=True,
    begin=0,
    end=90,
    convert_to_iter_based=True,
)

train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# The lr above is for a total batch of 256; `tools/train.py --auto-scale-lr` rescales it.
auto_scale_lr = dict(base_batch_size=256)
