"""The paper's segmentation head (Wu, Shen, van den Hengel, arXiv:1611.10080, sec. 5).

From the final 4096-channel feature: a 3x3 conv with dilation 12 to 512 channels (with
bias, ReLU, no BN), dropout, and a 3x3 classifier with dilation 12 (with bias). Everything
else (loss, hard-pixel bootstrapping via ``sampler=dict(type='OHEMPixelSampler', thresh=0.6,
min_kept=256)``, resizing, ignore index) is mmseg's ``BaseDecodeHead``.
"""

from __future__ import annotations

from typing import List

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS


@MODELS.register_module()
class WiderHead(BaseDecodeHead):
    """Dilated-conv head of the Wider ResNet paper.

    Args:
        dilation (int): Dilation (and padding) of both 3x3 convs. Default: 12.
        **kwargs: Passed to :class:`BaseDecodeHead` (``in_channels``, ``channels``,
            ``num_classes``, ``dropout_ratio``, ``norm_cfg`` (None: no BN, as the paper),
            ``loss_decode``, ``sampler`` ...).

    Example:
        >>> import torch
        >>> head = WiderHead(in_channels=64, channels=16, num_classes=5)
        >>> head([torch.rand(1, 64, 8, 8)]).shape
        torch.Size([1, 5, 8, 8])
    """

    def __init__(self, dilation: int = 12, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dilation = dilation
        self.conv = ConvModule(
            self.in_channels,
            self.channels,
            3,
            padding=dilation,
            dilation=dilation,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg,
        )
        # mmseg's conv_seg is 1x1; the paper's classifier is a dilated 3x3.
        self.conv_seg = nn.Conv2d(
            self.channels, self.out_channels, 3, padding=dilation, dilation=dilation
        )

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        """Logits at the feature's stride."""
        return self.cls_seg(self.conv(self._transform_inputs(inputs)))
