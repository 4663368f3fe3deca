"""Backbones."""

from .wider_resnet import WiderResNet

__all__ = ['WiderResNet']
