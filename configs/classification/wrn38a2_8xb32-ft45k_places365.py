# Wider ResNet-38 Model A2 (pools before B2, B3; strided B4..B6) on Places365-Standard
# (365 classes), made as in the paper: Model A's trunk fine-tuned on Places365. The trunk
# is initialised from a Model A checkpoint (the released one converted by
# tools/model_converters/, or a wrn38a_8xb32_in1k.py run; set the path with
# `--cfg-options model.backbone.init_cfg.checkpoint=PATH`), loaded strictly under the
# `backbone.` prefix; the 365-way FC starts fresh.
# Assumption: the paper gives no Places365 schedule, so this reuses the A1 fine-tuning
# (45k iterations at lr 0.01, batch 256 = 8 GPUs x 32) and the ImageNet augmentation.
# Data: mmpretrain has no Places365 class; CustomDataset on the folder layout (see
# _base_/datasets/places365_bs32_wrn.py). Tested with the standard 224 protocol.
#
# Published numbers: metafile.yaml (the model of this name).
_base_ = [
    './_base_/models/wrn38a2.py',
    './_base_/datasets/places365_bs32_wrn.py',
    './_base_/schedules/finetune_bs256_45k-lr0.01.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='checkpoints/wrn38a_ade_in1k.pth',
            prefix='backbone.',
            # Model A's weights in the A2 layout on purpose (same tensors, other pooling)
            ignore_recorded=['variant'],
        )
    ),
    head=dict(num_classes=365),
)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=3),
)
log_processor = dict(by_epoch=False)
