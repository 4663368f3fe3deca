# PASCAL VOC 2012 + SBD (mmseg's pascal_voc12_aug base), the authors' data recipe
# (wider-recipe_504x504.py), tested at long side 500; both training sets take the recipe.
_base_ = ['mmseg::_base_/datasets/pascal_voc12_aug.py', './wider-recipe_504x504.py']
train_pipeline, test_pipeline, tta_pipeline = _base_.wider_recipe.long_side_500
dataset_train = dict(_base_.dataset_train, pipeline=train_pipeline)
dataset_aug = dict(_base_.dataset_aug, pipeline=train_pipeline)
train_dataloader = dict(dataset=dict(datasets=[dataset_train, dataset_aug]))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
