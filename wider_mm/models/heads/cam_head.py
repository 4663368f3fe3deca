"""The multi-label classifier of PSA and its class activation maps.

PSA (Ahn & Kwak, "Learning Pixel-level Semantic Affinity with Image-level Supervision for
Weakly Supervised Semantic Segmentation", CVPR 2018; jiwoon-ahn/psa
``network/resnet38_cls.py``) puts on the stride-8 Wider ResNet-38 A1 trunk:
``Dropout2d(0.5)`` -> global average pooling -> ``fc8 = Conv2d(4096, 20, 1, bias=False)``,
trained with the multi-label soft-margin loss, and takes as class activation maps (CAMs, Zhou
et al., CVPR 2016) ``ReLU(conv2d(feature, fc8.weight))``.

In mmpretrain terms: ``GlobalAveragePooling`` neck + :class:`MultiLabelCAMHead` (dropout and a
bias-free linear layer on the pooled feature). ``Dropout2d`` on the map before the pooling and
``Dropout`` on the pooled vector drop the same channels with the same scaling, so the two
compute the same function in training and in test. The soft-margin loss is mmpretrain's
``CrossEntropyLoss(use_sigmoid=True)`` (a binary cross-entropy averaged over classes and
images, which is what ``multilabel_soft_margin_loss`` computes).
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.heads import MultiLabelLinearClsHead
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MultiLabelCAMHead(MultiLabelLinearClsHead):
    """Multi-label linear head with dropout and an optional bias (PSA's ``fc8``).

    mmpretrain's ``MultiLabelLinearClsHead`` always has a bias and no dropout; PSA's
    classifier has dropout and no bias (a bias would not change the CAMs, but it would make
    the converted ``fc8`` an incomplete checkpoint for the head).

    Args:
        num_classes (int): Number of classes (20 for PASCAL VOC).
        in_channels (int): Channels of the pooled feature (4096 for Wider ResNet-38).
        dropout (float): Dropout rate on the pooled feature (PSA: 0.5). Default: 0.5.
        bias (bool): Give the linear layer a bias (PSA: no). Default: False.
        **kwargs: Passed to ``MultiLabelLinearClsHead`` (``loss``, ``thr``, ``topk``,
            ``init_cfg``; PSA initialises ``fc8`` with
            ``dict(type='Xavier', layer='Linear', distribution='uniform')``).

    Example:
        >>> import torch
        >>> head = MultiLabelCAMHead(num_classes=20, in_channels=64)
        >>> head((torch.rand(2, 64),)).shape
        torch.Size([2, 20])
        >>> head.cam(torch.rand(2, 64, 7, 9)).shape
        torch.Size([2, 20, 7, 9])
    """

    def __init__(
        self, num_classes: int, in_channels: int, dropout: float = 0.5, bias: bool = False, **kwargs
    ) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels, **kwargs)
        if not 0 <= dropout < 1:
            raise ValueError(f'dropout must be in [0, 1), got {dropout!r}')
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes, bias=bias)

    def pre_logits(self, feats: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The pooled feature of the last stage, after dropout."""
        return self.dropout(feats[-1])

    def cam(self, feature: torch.Tensor) -> torch.Tensor:
        """Class activation maps of a feature map: ``ReLU(conv1x1(feature, fc.weight))``.

        Args:
            feature: ``(N, in_channels, H, W)``, the backbone's last output (before pooling).

        Returns:
            ``(N, num_classes, H, W)`` non-negative maps (no bias, as PSA's ``forward_cam``).
        """
        return class_activation_maps(feature, self.fc.weight)


def class_activation_maps(feature: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``ReLU(conv1x1(feature, weight))``: CAMs of a linear classifier on pooled features.

    Args:
        feature: ``(N, C, H, W)``.
        weight: ``(num_classes, C)`` (a linear layer's) or ``(num_classes, C, 1, 1)``.
    """
    if weight.dim() == 2:
        weight = weight[:, :, None, None]
    return F.relu(F.conv2d(feature, weight))


def model_cams(model: nn.Module, inputs: torch.Tensor, head: Optional[nn.Module] = None):
    """CAMs of an mmpretrain ``ImageClassifier`` whose head is linear on pooled features.

    Uses the head's ``cam`` if it has one, else the weight of its ``fc`` linear layer
    (mmpretrain's ``LinearClsHead`` / ``MultiLabelLinearClsHead``).

    Args:
        model: The classifier (``extract_feat(inputs, stage='backbone')``).
        inputs: Preprocessed images ``(N, 3, H, W)``.
        head: The head to use. Default: ``model.head``.

    Returns:
        ``(N, num_classes, h, w)`` maps at the backbone's output resolution.

    Raises:
        TypeError: the head is not a linear layer on pooled features.
    """
    head = model.head if head is None else head
    feature = model.extract_feat(inputs, stage='backbone')[-1]
    if hasattr(head, 'cam'):
        return head.cam(feature)
    fc = getattr(head, 'fc', None)
    if not isinstance(fc, nn.Linear):
        raise TypeError(
            f'{type(head).__name__} is not a linear classifier on pooled features (no .fc '
            "Linear layer), so it has no class activation maps; use type='MultiLabelCAMHead' "
            "or mmpretrain's LinearClsHead / MultiLabelLinearClsHead"
        )
    return class_activation_maps(feature, fc.weight)


__all__ = ['MultiLabelCAMHead', 'class_activation_maps', 'model_cams']
