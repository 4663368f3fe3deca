"""Tests of the paper's decode head (``WiderHead``) and of its hard-pixel bootstrapping.

The paper (Wu, Shen, van den Hengel, arXiv:1611.10080, sec. 5) bootstraps its softmax loss:
only pixels whose probability of the true class is <= 0.6 contribute, and at least the 256
hardest. The configs use mmseg's ``OHEMPixelSampler(thresh=0.6, min_kept=256)`` for that; the
tests below compute the authors' kept set independently (numpy, from the rule as the authors'
MXNet operator applies it) and compare, in both regimes and at the edges where they differ.
"""

import inspect

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvWS2d
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.structures.sampler import OHEMPixelSampler
from torch.nn.modules.batchnorm import _BatchNorm

from wider_mm.models.decode_heads.wider_head import WiderHead

IGNORE = 255
THRESH, MIN_KEPT = 0.6, 256


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    """Small ops on one thread: on shared cores two threads wait on each other at each op."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _head(**kwargs) -> WiderHead:
    cfg = dict(in_channels=32, channels=16, num_classes=5, norm_cfg=None)
    cfg.update(kwargs)
    return WiderHead(**cfg)


def _samples(labels: torch.Tensor) -> list:
    """SegDataSamples holding ``labels`` (N, H, W) as ground truth."""
    out = []
    for lab in labels:
        s = SegDataSample(metainfo=dict(img_shape=tuple(lab.shape), ori_shape=tuple(lab.shape)))
        s.gt_sem_seg = PixelData(data=lab[None].long())
        out.append(s)
    return out


# --------------------------------------------------------------------------- structure
def test_registered_and_takes_only_its_own_arguments():
    assert MODELS.get('WiderHead') is WiderHead
    params = list(inspect.signature(WiderHead.__init__).parameters)
    assert params == ['self', 'dilation', 'kwargs']


def test_convs_are_dilated_with_bias_relu_and_no_norm():
    head = MODELS.build(
        dict(type='WiderHead', in_channels=4096, channels=512, num_classes=21, norm_cfg=None)
    )
    conv = head.conv.conv
    assert (conv.in_channels, conv.out_channels) == (4096, 512)
    assert conv.kernel_size == (3, 3) and conv.dilation == (12, 12) and conv.padding == (12, 12)
    assert conv.bias is not None
    assert not head.conv.with_norm
    assert isinstance(head.conv.activate, nn.ReLU)
    cls = head.conv_seg
    assert (cls.in_channels, cls.out_channels) == (512, 21)
    assert cls.kernel_size == (3, 3) and cls.dilation == (12, 12) and cls.padding == (12, 12)
    assert cls.bias is not None
    assert not any(isinstance(m, (_BatchNorm, nn.GroupNorm)) for m in head.modules())


@pytest.mark.parametrize('ratio', [0.0, 0.3])
def test_dropout_is_configurable(ratio):
    head = _head(dropout_ratio=ratio)
    if ratio == 0:
        assert head.dropout is None
    else:
        assert isinstance(head.dropout, nn.Dropout2d) and head.dropout.p == ratio


def test_dilation_is_an_argument():
    head = _head(dilation=6)
    assert head.dilation == 6
    assert head.conv.conv.dilation == (6, 6) and head.conv_seg.dilation == (6, 6)
    assert head.conv.conv.padding == (6, 6) and head.conv_seg.padding == (6, 6)


def test_conv_norm_and_act_cfg_reach_the_dilated_conv():
    """``conv_cfg``, ``norm_cfg`` and ``act_cfg`` (BaseDecodeHead's arguments) build the 3x3
    conv's layers: weight-standardised conv, GroupNorm and LeakyReLU here, not the defaults."""
    head = _head(
        conv_cfg=dict(type='ConvWS'),
        norm_cfg=dict(type='GN', num_groups=4),
        act_cfg=dict(type='LeakyReLU', negative_slope=0.2),
    )
    assert isinstance(head.conv.conv, ConvWS2d)
    assert head.conv.with_norm and isinstance(head.conv.norm, nn.GroupNorm)
    assert head.conv.norm.num_groups == 4 and head.conv.norm.num_channels == 16
    assert head.conv.conv.bias is None  # a norm follows: ConvModule drops the bias
    assert isinstance(head.conv.activate, nn.LeakyReLU)
    assert head.conv.activate.negative_slope == 0.2


@pytest.mark.parametrize('hw', [(64, 64), (72, 40)])
def test_logits_at_stride_8_of_the_input(hw):
    """In the segmentor with a stride-8 backbone: logits at 1/8 of the input, then upsampled."""
    model = MODELS.build(
        dict(
            type='WiderEncoderDecoder',
            backbone=dict(
                type='WiderResNet', depth=16, output_stride=8, widen_factor=1 / 32, out_indices=(6,)
            ),
            decode_head=dict(type='WiderHead', in_channels=128, channels=16, num_classes=7),
        )
    ).eval()
    x = torch.rand(1, 3, *hw)
    with torch.no_grad():
        logits = model.decode_head(model.extract_feat(x))
        full = model.encode_decode(x, [dict(img_shape=hw, ori_shape=hw, pad_shape=hw)])
    assert logits.shape == (1, 7, hw[0] // 8, hw[1] // 8)
    assert full.shape == (1, 7, *hw)


def test_forward_and_backward_reach_both_convs():
    head = _head(num_classes=4)
    x = torch.rand(2, 32, 6, 6, requires_grad=True)
    out = head([x])
    assert out.shape == (2, 4, 6, 6)
    out.sum().backward()
    for p in (head.conv.conv.weight, head.conv.conv.bias, head.conv_seg.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


# --------------------------------------------------------------------------- bootstrapping
def authors_kept(prob_true: np.ndarray, valid: np.ndarray, thresh: float, min_kept: int):
    """The authors' kept set over one forward batch, written from their rule.

    The authors' operator pools every pixel of the batch on a device: if ``min_kept`` is at
    least the number of valid pixels all are kept; otherwise the threshold is ``thresh``,
    raised to the ``min_kept``-th smallest true-class probability when that is higher, and
    the pixels with probability <= threshold are kept (gradients divided by their number).
    """
    p = prob_true[valid]
    keep = np.zeros(prob_true.shape, dtype=bool)
    if min_kept >= p.size:
        keep[valid] = True
        return keep
    threshold = thresh
    kth = np.sort(p)[min_kept - 1]
    if kth > thresh:
        threshold = kth
    keep[valid] = p <= threshold
    return keep


def _mmseg_kept(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    sampler = OHEMPixelSampler(context=_head(), thresh=THRESH, min_kept=MIN_KEPT)
    return sampler.sample(logits, labels[:, None]).numpy().astype(bool)


def _prob_true(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    prob = F.softmax(logits.double(), dim=1)
    idx = labels.clone()
    idx[idx == IGNORE] = 0
    return prob.gather(1, idx[:, None]).squeeze(1).numpy()


def _batch(n, h, w, c, confident_frac, seed, ignore_frac=0.1):
    """Random logits/labels; ``confident_frac`` of pixels get a large true-class margin."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, c, (n, h, w), generator=g)
    logits = torch.randn(n, c, h, w, generator=g)
    confident = torch.rand(n, h, w, generator=g) < confident_frac
    boost = F.one_hot(labels, c).permute(0, 3, 1, 2).float() * 8.0
    logits = logits + boost * confident[:, None]
    labels[torch.rand(n, h, w, generator=g) < ignore_frac] = IGNORE
    return logits, labels


@pytest.mark.parametrize('seed', [0, 1])
def test_many_hard_pixels_keeps_all_below_threshold(seed):
    """Regime 1: more than 256 pixels below 0.6 -> exactly those are kept."""
    logits, labels = _batch(1, 48, 48, 21, confident_frac=0.3, seed=seed)
    p, valid = _prob_true(logits, labels), labels.numpy() != IGNORE
    assert ((p < THRESH) & valid).sum() > MIN_KEPT
    ours = _mmseg_kept(logits, labels)
    ref = authors_kept(p, valid, THRESH, MIN_KEPT)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(ours, valid & (p <= THRESH))


@pytest.mark.parametrize('seed', [0, 1])
def test_few_hard_pixels_keeps_the_256_hardest(seed):
    """Regime 2: fewer than 256 pixels below 0.6 -> the 256 hardest are kept."""
    logits, labels = _batch(1, 48, 48, 21, confident_frac=0.97, seed=seed)
    p, valid = _prob_true(logits, labels), labels.numpy() != IGNORE
    assert 0 < ((p < THRESH) & valid).sum() < MIN_KEPT
    ours = _mmseg_kept(logits, labels)
    ref = authors_kept(p, valid, THRESH, MIN_KEPT)
    np.testing.assert_array_equal(ours, ref)
    assert ours.sum() == MIN_KEPT
    assert p[ours].max() <= p[valid & ~ours].min()  # the hardest ones


@pytest.mark.parametrize('confident_frac', [0.3, 0.97])
def test_min_kept_is_per_image_in_mmseg(confident_frac):
    """mmseg keeps ``min_kept`` x batch size over the pooled batch: the authors' rule with
    min_kept=512 for two images (not 256 hardest in each image)."""
    logits, labels = _batch(2, 40, 40, 21, confident_frac=confident_frac, seed=3)
    p, valid = _prob_true(logits, labels), labels.numpy() != IGNORE
    ours = _mmseg_kept(logits, labels)
    np.testing.assert_array_equal(ours, authors_kept(p, valid, THRESH, 2 * MIN_KEPT))
    if confident_frac > 0.5:
        assert ours.sum() == 2 * MIN_KEPT
        assert not np.array_equal(ours, authors_kept(p, valid, THRESH, MIN_KEPT))


def test_ignored_pixels_are_never_kept():
    logits, labels = _batch(1, 32, 32, 5, confident_frac=0.0, seed=4, ignore_frac=0.5)
    ours = _mmseg_kept(logits, labels)
    assert not ours[labels.numpy() == IGNORE].any()


def test_fewer_valid_pixels_than_min_kept_differs_by_the_easiest_pixel():
    """Documented difference (docs/model_zoo.md): with at most min_kept valid pixels the
    authors keep them all; mmseg's threshold is the largest probability itself and its strict
    '<' drops that pixel (when it is above 0.6)."""
    logits, labels = _batch(1, 16, 16, 5, confident_frac=0.5, seed=5, ignore_frac=0.0)
    labels.view(-1)[100:] = IGNORE  # 100 valid pixels < 256
    p, valid = _prob_true(logits, labels), labels.numpy() != IGNORE
    assert p[valid].max() > THRESH
    ours = _mmseg_kept(logits, labels)
    ref = authors_kept(p, valid, THRESH, MIN_KEPT)
    assert ref.sum() == 100
    easiest = np.unravel_index(np.where(valid, p, -1).argmax(), p.shape)
    expected = ref.copy()
    expected[easiest] = False
    np.testing.assert_array_equal(ours, expected)


def test_loss_is_normalised_by_all_pixels_not_by_kept_ones():
    """mmseg's CrossEntropyLoss (avg_non_ignore=False) divides the kept pixels' summed loss by
    N*H*W; the authors divide by the number of kept pixels. Documented in docs/model_zoo.md."""
    head = _head(
        num_classes=21,
        sampler=dict(type='OHEMPixelSampler', thresh=THRESH, min_kept=MIN_KEPT),
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    )
    logits, labels = _batch(2, 32, 32, 21, confident_frac=0.5, seed=6)
    loss = head.loss_by_feat(logits, _samples(labels))['loss_ce']
    p, valid = _prob_true(logits, labels), labels.numpy() != IGNORE
    kept = torch.from_numpy(authors_kept(p, valid, THRESH, 2 * MIN_KEPT))
    ce = F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction='none')
    summed = ce[kept].sum()
    torch.testing.assert_close(loss, summed / labels.numel())
    authors = summed / kept.sum()
    assert not torch.allclose(loss, authors)
    torch.testing.assert_close(loss / authors, kept.sum() / torch.tensor(labels.numel()).float())
