# PASCAL Context, 59 classes (background ignored) (mmseg's pascal_context_59 base), the authors'
# data recipe (wider-recipe_504x504.py), tested at long side 500.
_base_ = ['mmseg::_base_/datasets/pascal_context_59.py', './wider-recipe_504x504.py']
train_pipeline, test_pipeline, tta_pipeline = _base_.wider_recipe.long_side_500
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
