"""tests/tools/configs/tiny_voc.py for the resume tests: dropout on in the backbone (the
head's is on already), 6 iterations, a checkpoint and a validation every 2 (the newest
checkpoint and the best kept), losses logged per iteration, unsmoothed."""

_base_ = ['../../tools/configs/tiny_voc.py']

model = dict(backbone=dict(drop_rates=(0.3, 0.5)))
train_cfg = dict(max_iters=6, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=1, save_best='mIoU'))
log_processor = dict(window_size=1)
