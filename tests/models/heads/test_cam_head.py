"""MultiLabelCAMHead: PSA's classifier (Dropout2d -> GAP -> bias-free 1x1 conv) and its CAMs."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from wider_mm.models.heads.cam_head import MultiLabelCAMHead, class_activation_maps, model_cams


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    """Build in mmpretrain's registries, as a fresh process of these tools does (earlier
    tests of the session may have left mmseg's scope current)."""
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def psa_classifier(x: torch.Tensor, fc8: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """PSA resnet38_cls.Net.forward after the trunk, with a given Dropout2d channel mask."""
    x = x * keep[:, :, None, None] / 0.5  # Dropout2d(0.5) with this mask
    x = F.avg_pool2d(x, kernel_size=(x.size(2), x.size(3)), padding=0)
    return F.conv2d(x, fc8).view(x.size(0), -1)


def test_same_function_as_psa_in_training_and_test():
    head = MultiLabelCAMHead(num_classes=5, in_channels=16, dropout=0.5)
    assert head.fc.bias is None
    fc8 = head.fc.weight[:, :, None, None]
    x = torch.rand(3, 16, 6, 7)
    pooled = x.mean((2, 3))
    head.eval()
    assert torch.allclose(head((pooled,)), psa_classifier(x, fc8, torch.full((3, 16), 0.5)))
    head.train()  # the channels Dropout drops on the pooled vector = Dropout2d's on the map
    torch.manual_seed(1)
    out = head((pooled,))
    torch.manual_seed(1)
    keep = (nn.Dropout(0.5)(torch.ones(3, 16)) > 0).float()
    assert torch.allclose(out, psa_classifier(x, fc8, keep), atol=1e-6)


def test_cam_is_relu_of_the_classifier_on_the_map():
    head = MultiLabelCAMHead(num_classes=4, in_channels=8)
    feat = torch.randn(2, 8, 5, 3)
    cam = head.cam(feat)
    want = torch.einsum('kc,nchw->nkhw', head.fc.weight, feat).clamp(min=0)
    assert cam.shape == (2, 4, 5, 3) and torch.allclose(cam, want, atol=1e-6)
    assert (cam == 0).any() and (cam > 0).any()
    # its spatial mean before the ReLU is the (eval) logit: CAMs explain the score
    head.eval()
    logits = head((feat.mean((2, 3)),))
    assert torch.allclose(F.conv2d(feat, head.fc.weight[..., None, None]).mean((2, 3)), logits)


def test_bias_option_and_bad_dropout():
    assert MultiLabelCAMHead(num_classes=2, in_channels=4, bias=True).fc.bias is not None
    with pytest.raises(ValueError, match='dropout'):
        MultiLabelCAMHead(num_classes=2, in_channels=4, dropout=1.0)


def test_model_cams_of_mmpretrain_classifiers():
    from mmpretrain.registry import MODELS

    def classifier(head):
        return MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(type='WiderResNet', depth=16, widen_factor=1 / 32, output_stride=8),
                neck=dict(type='GlobalAveragePooling'),
                head=head,
            )
        ).eval()

    x = torch.rand(1, 3, 32, 32)
    ours = classifier(dict(type='MultiLabelCAMHead', num_classes=3, in_channels=128))
    feat = ours.extract_feat(x, stage='backbone')[-1]
    assert torch.equal(model_cams(ours, x), ours.head.cam(feat))
    linear = classifier(dict(type='LinearClsHead', num_classes=3, in_channels=128))
    feat = linear.extract_feat(x, stage='backbone')[-1]
    assert torch.equal(model_cams(linear, x), class_activation_maps(feat, linear.head.fc.weight))
    with pytest.raises(TypeError, match='no class activation maps'):
        model_cams(linear, x, head=nn.Identity())


def test_dropout_0_is_no_dropout_and_head_arguments_reach_mmpretrain():
    no_dropout = MultiLabelCAMHead(num_classes=2, in_channels=4, dropout=0)
    assert isinstance(no_dropout.dropout, nn.Identity)
    head = MultiLabelCAMHead(num_classes=2, in_channels=4, dropout=0.25, thr=0.3)
    assert isinstance(head.dropout, nn.Dropout) and head.dropout.p == 0.25
    assert head.thr == 0.3  # a MultiLabelLinearClsHead argument


class _Trunk(nn.Module):
    """A stand-in classifier whose backbone output is its input."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def extract_feat(self, inputs, stage='neck'):
        assert stage == 'backbone'
        return (inputs,)


def test_model_cams_prefer_the_heads_own_cam():
    class OwnCAM(nn.Module):  # a head with CAMs of its own, and an fc
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def cam(self, feature):
            return feature[:, :2] * 10

    x = torch.rand(1, 4, 3, 3)
    assert torch.equal(model_cams(_Trunk(OwnCAM()), x), x[:, :2] * 10)


def test_a_head_without_cams_is_named_in_the_error():
    with pytest.raises(TypeError) as e:
        model_cams(_Trunk(nn.Identity()), torch.rand(1, 4, 3, 3))
    assert str(e.value) == (
        'Identity is not a linear classifier on pooled features (no .fc Linear layer), so it '
        "has no class activation maps; use type='MultiLabelCAMHead' or mmpretrain's "
        'LinearClsHead / MultiLabelLinearClsHead'
    )
