# The fine-tuning that made Model A1 from Model A: 45k iterations at lr 0.01, batch 256
# (WIDER_RESNET.md sec. 6); constant lr, ademxapp's default `fixed` lr type. The length of
# A2's Places365 fine-tuning is not published: its config reuses this schedule (an
# assumption, said there). Optimizer as in the training schedule (nesterov SGD, momentum
# 0.9, wd 1e-4, no decay on biases / BN betas: MXNet's default).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True),
    paramwise_cfg=dict(custom_keys={'.bias': dict(decay_mult=0.0)}),
)

param_scheduler = dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=45000)

train_cfg = dict(type='IterBasedTrainLoop', max_iters=45000, val_interval=5000)
# (iteration-based logging/checkpointing is set in the leaf configs: default_hooks come
# from the runtime base and two bases may not set the same key.)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=256)
