# The paper's model (Model A1, output stride 8, the paper's head and bootstrapped loss) on ADE20K
# (150 classes), with the authors' recipe: crop 504, scale x U(0.7, 1.3), flip, frozen BN
# statistics, SGD momentum 0.9 wd 5e-4, biases and BN beta at lr x2 and wd 0, batch 16 on 4 GPUs.
# docs/model_zoo.md lists what still differs from the authors.
_base_ = [
    '../_base_/models/widerhead_wrn38a1-d8.py',
    './_base_/datasets/wider-recipe_ade20k-504x504.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
    './_base_/schedules/wider-recipe_schedule.py',
]
optim_wrapper = dict(paramwise_cfg=_base_.wider_paramwise_cfg)  # the authors' bias rule
crop_size = (504, 504)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=150),
)
# Published numbers, and what to compare with: metafile.yaml (the model of this name).
