# Cityscapes, fine annotations, 19 classes (mmseg's cityscapes base), the authors' data recipe
# (wider-recipe_504x504.py), tested at the full resolution 1024x2048.
_base_ = ['mmseg::_base_/datasets/cityscapes.py', './wider-recipe_504x504.py']
train_pipeline, test_pipeline, tta_pipeline = _base_.wider_recipe.full_resolution
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
