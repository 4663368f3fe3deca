# How the released Model A1 was made: Model A's weights in the A1 network (same parameter
# shapes; strided units replace the max-pools), fine-tuned on ImageNet-1k for 45k
# iterations at lr 0.01, batch 256 (8 GPUs x 32), same augmentation as the training recipe.
# `load_from` is a Model A checkpoint: the released one converted by
# tools/model_converters/ (or a wrn38a_8xb32_in1k.py run); set it on the command line with
# `--cfg-options load_from=PATH`. Tested with the standard 224 protocol; the -test320 eval
# config of A1 is wrn38a1_8xb32_in1k-test320.py.
#
# Published numbers: metafile.yaml (the model of this name).
_base_ = [
    './_base_/models/wrn38a1.py',
    './_base_/datasets/imagenet_bs32_wrn.py',
    './_base_/schedules/finetune_bs256_45k-lr0.01.py',
    'mmpretrain::_base_/default_runtime.py',
]

load_from = 'checkpoints/wrn38a_ade_in1k.pth'
# The converted Model A checkpoint records variant='a'; loading it into A1 is the point here
# (load_from is strict otherwise: wider_mm/engine/checkpoint.py).
load_from_ignore_recorded = ['variant']

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=3),
)
log_processor = dict(by_epoch=False)
