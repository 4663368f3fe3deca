"""wider_mm: the Wider ResNet family (Wu, Shen, van den Hengel, arXiv:1611.10080) for the
OpenMMLab stack. ``import wider_mm`` (or ``custom_imports=dict(imports=['wider_mm'])`` in a
config) registers the backbone and the paper's decode head in mmseg's and mmpretrain's
registries and applies the fixes of :mod:`wider_mm.compat`.
"""

from . import compat
from .models.backbones.wider_resnet import WiderResNet
from .registry import missing_libraries, register_all
from .version import __version__

compat.apply()
registered = register_all()

__all__ = ['WiderResNet', 'registered', 'missing_libraries', '__version__']
