"""Independent reference implementations of the released Wider ResNet ports (tests only).

Written here, structured like the public ports so that their ``state_dict`` keys are the
real ones, but sharing no code with ``wider_mm`` (checked against the public sources:
jiwoon-ahn/psa ``network/resnet38d.py``, mapillary/inplace_abn ``models/wider_resnet.py`` +
``modules/residual.py`` + ``modules/bn.py``, NVIDIA/semantic-segmentation
``network/wider_resnet.py``, itijyou/ademxapp ``util/symbol/resnet_v2.py``). Widths divide
by ``div`` so tests can run them small; ``div=1`` is the released size.

Also here: ``psa_to_ade``/``port_to_ade``, the ports' weights in the authors' MXNet (ADE)
``arg:``/``aux:`` names (PSA's resnet38d is a port of ADE's Model A1, so its forward is the
ADE graph's), and ``to_ade``, a ``WiderResNet`` state dict in those names (for tests that
need a file in ADE naming, not a reference output).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

STRUCTURE_38 = (3, 3, 6, 3, 1, 1)
CHANNELS = ((128, 128), (256, 256), (512, 512), (512, 1024), (512, 1024, 2048), (1024, 2048, 4096))


# ----------------------------------------------------------------------------- PSA
class PsaResBlock(nn.Module):
    """PSA ``ResBlock``: basic pre-activation unit, stride and ``first_dilation`` on conv 2a."""

    def __init__(self, cin, mid, cout, stride=1, first_dilation=None, dilation=1):
        super().__init__()
        self.same_shape = cin == cout and stride == 1
        fd = dilation if first_dilation is None else first_dilation
        self.bn_branch2a = nn.BatchNorm2d(cin)
        self.conv_branch2a = nn.Conv2d(cin, mid, 3, stride, padding=fd, dilation=fd, bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(mid)
        self.conv_branch2b1 = nn.Conv2d(
            mid, cout, 3, padding=dilation, dilation=dilation, bias=False
        )
        if not self.same_shape:
            self.conv_branch1 = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        pre = F.relu(self.bn_branch2a(x))
        short = x if self.same_shape else self.conv_branch1(pre)
        out = self.conv_branch2b1(F.relu(self.bn_branch2b1(self.conv_branch2a(pre))))
        return short + out


class PsaResBlockBot(nn.Module):
    """PSA ``ResBlock_bot``: bottleneck cout/4 -> cout/2 -> cout, Dropout2d before 2b1, 2b2."""

    def __init__(self, cin, cout, stride=1, dilation=1, dropout=0.0):
        super().__init__()
        self.same_shape = cin == cout and stride == 1
        self.bn_branch2a = nn.BatchNorm2d(cin)
        self.conv_branch2a = nn.Conv2d(cin, cout // 4, 1, stride, bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(cout // 4)
        self.dropout_2b1 = nn.Dropout2d(dropout)
        self.conv_branch2b1 = nn.Conv2d(
            cout // 4, cout // 2, 3, padding=dilation, dilation=dilation, bias=False
        )
        self.bn_branch2b2 = nn.BatchNorm2d(cout // 2)
        self.dropout_2b2 = nn.Dropout2d(dropout)
        self.conv_branch2b2 = nn.Conv2d(cout // 2, cout, 1, bias=False)
        if not self.same_shape:
            self.conv_branch1 = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        pre = F.relu(self.bn_branch2a(x))
        short = self.conv_branch1(pre)
        out = self.conv_branch2a(pre)
        out = self.conv_branch2b1(self.dropout_2b1(F.relu(self.bn_branch2b1(out))))
        out = self.conv_branch2b2(self.dropout_2b2(F.relu(self.bn_branch2b2(out))))
        return short + out


class PsaNet(nn.Module):
    """PSA ``resnet38d.Net``: Model A1, stride 8 (b5 dilation 2 after a d1 conv, b6/b7 d4)."""

    def __init__(self, div: int = 1):
        super().__init__()

        def c(n):
            return n // div

        self.conv1a = nn.Conv2d(3, c(64), 3, padding=1, bias=False)
        self.b2 = PsaResBlock(c(64), c(128), c(128), stride=2)
        self.b2_1 = PsaResBlock(c(128), c(128), c(128))
        self.b2_2 = PsaResBlock(c(128), c(128), c(128))
        self.b3 = PsaResBlock(c(128), c(256), c(256), stride=2)
        self.b3_1 = PsaResBlock(c(256), c(256), c(256))
        self.b3_2 = PsaResBlock(c(256), c(256), c(256))
        self.b4 = PsaResBlock(c(256), c(512), c(512), stride=2)
        for i in range(1, 6):
            setattr(self, f'b4_{i}', PsaResBlock(c(512), c(512), c(512)))
        self.b5 = PsaResBlock(c(512), c(512), c(1024), stride=1, first_dilation=1, dilation=2)
        self.b5_1 = PsaResBlock(c(1024), c(512), c(1024), dilation=2)
        self.b5_2 = PsaResBlock(c(1024), c(512), c(1024), dilation=2)
        self.b6 = PsaResBlockBot(c(1024), c(2048), stride=1, dilation=4, dropout=0.3)
        self.b7 = PsaResBlockBot(c(2048), c(4096), dilation=4, dropout=0.5)
        self.bn7 = nn.BatchNorm2d(c(4096))

    def forward(self, x):
        x = self.conv1a(x)
        for name in (
            'b2',
            'b2_1',
            'b2_2',
            'b3',
            'b3_1',
            'b3_2',
            'b4',
            'b4_1',
            'b4_2',
            'b4_3',
            'b4_4',
            'b4_5',
            'b5',
            'b5_1',
            'b5_2',
            'b6',
            'b7',
        ):
            x = getattr(self, name)(x)
        return F.relu(self.bn7(x))


# ----------------------------------------------------------------------------- MAP / NV
class InPlaceABNRef(nn.Module):
    """MAP's InPlace-ABN at inference: leaky_relu(BN(x; weight |w| + eps), 0.01).

    Parameters sit on the module itself (keys ``bn1.weight``, not ``bn1.bn.weight``).
    """

    def __init__(self, num_features, eps=1e-5, slope=0.01):
        super().__init__()
        self.eps, self.slope = eps, slope
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer('running_mean', torch.zeros(num_features))
        self.register_buffer('running_var', torch.ones(num_features))

    def forward(self, x):
        y = F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight.abs() + self.eps,
            self.bias,
            False,
            0.0,
            self.eps,
        )
        return F.leaky_relu(y, self.slope)


def nv_bnrelu(channels):
    """NVIDIA's ``bnrelu``: Sequential(BatchNorm2d, ReLU) (keys ``bn1.0.weight``)."""
    return nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU())


class IdentityResidualBlock(nn.Module):
    """MAP/NV ``IdentityResidualBlock`` (bn1, convs.{conv1,bn2,conv2[,bn3,conv3]}, proj_conv).

    ``bottleneck_stride``: where a bottleneck strides, 'conv1' (NV) or 'conv2' (MAP).
    """

    def __init__(
        self,
        cin,
        channels,
        stride=1,
        dilation=1,
        norm_act=nv_bnrelu,
        dropout=None,
        bottleneck_stride='conv1',
    ):
        super().__init__()
        bottleneck = len(channels) == 3
        self.bn1 = norm_act(cin)
        if not bottleneck:
            layers = [
                (
                    'conv1',
                    nn.Conv2d(
                        cin, channels[0], 3, stride, padding=dilation, dilation=dilation, bias=False
                    ),
                ),
                ('bn2', norm_act(channels[0])),
                (
                    'conv2',
                    nn.Conv2d(
                        channels[0],
                        channels[1],
                        3,
                        1,
                        padding=dilation,
                        dilation=dilation,
                        bias=False,
                    ),
                ),
            ]
            where = 2
        else:
            s1, s2 = (stride, 1) if bottleneck_stride == 'conv1' else (1, stride)
            layers = [
                ('conv1', nn.Conv2d(cin, channels[0], 1, s1, bias=False)),
                ('bn2', norm_act(channels[0])),
                (
                    'conv2',
                    nn.Conv2d(
                        channels[0],
                        channels[1],
                        3,
                        s2,
                        padding=dilation,
                        dilation=dilation,
                        bias=False,
                    ),
                ),
                ('bn3', norm_act(channels[1])),
                ('conv3', nn.Conv2d(channels[1], channels[2], 1, bias=False)),
            ]
            where = 4
        if dropout is not None:
            layers.insert(where, ('dropout', dropout()))
        self.convs = nn.Sequential(OrderedDict(layers))
        if stride != 1 or cin != channels[-1]:
            self.proj_conv = nn.Conv2d(cin, channels[-1], 1, stride, bias=False)

    def forward(self, x):
        pre = self.bn1(x)
        short = self.proj_conv(pre) if hasattr(self, 'proj_conv') else x
        return self.convs(pre) + short


class PortWiderResNet(nn.Module):
    """MAP/NV ``WiderResNet`` (Model A: pool2..pool6) or ``WiderResNetA2`` (``a2=True``).

    Args:
        norm_act: Norm-activation factory: ``nv_bnrelu`` (NV) or ``InPlaceABNRef`` (MAP).
        a2 (bool): Pools before mod2, mod3 only; strided first blocks of mod4..mod6.
        dilation (bool): A2 only: stride 8, mod5 dilation 2, mod6/mod7 dilation 4, stride
            at mod4 only (both convs of a dilated block dilated).
        classes (int): Add avg-pool + ``classifier.fc``.
        pool_padding (int): Of the 3x3/2 max-pools: 1 in MAP/NV, 0 in ADE's Model A.
    """

    def __init__(
        self,
        structure=STRUCTURE_38,
        norm_act=nv_bnrelu,
        classes=0,
        a2=False,
        dilation=False,
        div=1,
        bottleneck_stride='conv1',
        pool_padding=1,
    ):
        super().__init__()
        self.a2 = a2

        def c(n):
            return n // div

        self.mod1 = nn.Sequential(
            OrderedDict([('conv1', nn.Conv2d(3, c(64), 3, 1, 1, bias=False))])
        )
        cin = c(64)
        for mod_id, num in enumerate(structure):
            chans = tuple(c(n) for n in CHANNELS[mod_id])
            blocks = []
            for block_id in range(num):
                stride, dil, drop = 1, 1, None
                if a2:
                    if dilation:
                        dil = {3: 2, 4: 4, 5: 4}.get(mod_id, 1)
                        stride = 2 if block_id == 0 and mod_id == 2 else 1
                    else:
                        stride = 2 if block_id == 0 and 2 <= mod_id <= 4 else 1
                    drop = {4: 0.3, 5: 0.5}.get(mod_id)
                    drop = (lambda p=drop: nn.Dropout2d(p)) if drop else None
                blocks.append(
                    (
                        f'block{block_id + 1}',
                        IdentityResidualBlock(
                            cin, chans, stride, dil, norm_act, drop, bottleneck_stride
                        ),
                    )
                )
                cin = chans[-1]
            if mod_id <= (1 if a2 else 4):
                self.add_module(f'pool{mod_id + 2}', nn.MaxPool2d(3, 2, pool_padding))
            self.add_module(f'mod{mod_id + 2}', nn.Sequential(OrderedDict(blocks)))
        self.bn_out = norm_act(cin)
        if classes:
            self.classifier = nn.Sequential(
                OrderedDict(
                    [
                        ('avg_pool', nn.AdaptiveAvgPool2d(1)),
                        ('flat', nn.Flatten()),
                        ('fc', nn.Linear(cin, classes)),
                    ]
                )
            )

    def features(self, x):
        x = self.mod1(x)
        for m in range(2, 8):
            if hasattr(self, f'pool{m}'):
                x = getattr(self, f'pool{m}')(x)
            x = getattr(self, f'mod{m}')(x)
        return self.bn_out(x)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x) if hasattr(self, 'classifier') else x


# ----------------------------------------------------------------------------- helpers
@torch.no_grad()
def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights AND random BN statistics/affine (so a wrong mapping shows)."""
    g = torch.Generator().manual_seed(seed)
    for name, t in model.state_dict().items():
        if not t.is_floating_point():
            continue
        if name.endswith('running_var'):
            t.copy_(torch.rand(t.shape, generator=g) * 1.5 + 0.5)
        elif name.endswith('running_mean'):
            t.copy_(torch.randn(t.shape, generator=g) * 0.2)
        elif t.dim() == 1 and name.endswith('weight'):  # gammas, some negative
            t.copy_(torch.randn(t.shape, generator=g) * 0.5 + 0.3)
        elif t.dim() == 1:
            t.copy_(torch.randn(t.shape, generator=g) * 0.1)
        else:  # conv/fc: fan-in scaled so activations neither vanish nor explode
            fan_in = t[0].numel()
            t.copy_(torch.randn(t.shape, generator=g) * (1.0 / fan_in) ** 0.5)
    return model


def wrap_torch(model: nn.Module, data_parallel: bool) -> dict:
    """A MAP/NV-style training checkpoint: ``module.`` keys in ``{'state_dict': ...}``."""
    sd = model.state_dict()
    if data_parallel:
        sd = OrderedDict((f'module.{k}', v) for k, v in sd.items())
        return {'epoch': 90, 'arch': 'wider_resnet38', 'state_dict': sd}
    return sd


def max_rel_err(a: torch.Tensor, b: torch.Tensor) -> Tuple[float, float]:
    """(max |a - b|, the same divided by max |b|, the output's scale)."""
    diff = (a - b).abs().max().item()
    return diff, diff / max(b.abs().max().item(), 1e-12)


# ----------------------------------------------------------------------------- ADE (MXNet)
def ade_unit(b: int, u: int) -> str:
    """ADE unit name: block 2 unit 1 -> '2a', unit 2 -> '2b1'."""
    return f'{b}a' if u == 1 else f'{b}b{u - 1}'


def to_ade(sd: Dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """Test-side renaming of a ``WiderResNet`` state dict to ADE ``arg:``/``aux:`` names."""
    bn = {
        'weight': ('arg', 'gamma'),
        'bias': ('arg', 'beta'),
        'running_mean': ('aux', 'moving_mean'),
        'running_var': ('aux', 'moving_var'),
    }
    branch = {1: '2a', 2: '2b1', 3: '2b2'}
    out = OrderedDict()
    for k, v in sd.items():
        parts = k.split('.')
        if parts[-1] == 'num_batches_tracked':
            continue
        if k == 'stem.weight':
            out['arg:conv1a_weight'] = v
        elif parts[0] == 'norm_out':
            kind, p = bn[parts[1]]
            out[f'{kind}:bn7_{p}'] = v
        else:
            b, u = int(parts[0][5:]), int(parts[1][4:])
            unit = ade_unit(b, u)
            layer = parts[2]
            if layer == 'shortcut':
                out[f'arg:res{unit}_branch1_weight'] = v
            elif layer.startswith('conv'):
                out[f'arg:res{unit}_branch{branch[int(layer[4:])]}_weight'] = v
            else:
                kind, p = bn[parts[3]]
                out[f'{kind}:bn{unit}_branch{branch[int(layer[4:])]}_{p}'] = v
    return out


ADE_BN = {
    'weight': 'arg:{}_gamma',
    'bias': 'arg:{}_beta',
    'running_mean': 'aux:{}_moving_mean',
    'running_var': 'aux:{}_moving_var',
}


def psa_to_ade(sd: Dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """A ``PsaNet`` state dict in the ADE names (PSA's resnet38d is a port of ADE's A1)."""
    out = OrderedDict()
    for k, v in sd.items():
        *mod, param = k.split('.')
        if param == 'num_batches_tracked':
            continue
        if mod == ['conv1a']:
            out['arg:conv1a_weight'] = v
        elif mod == ['bn7']:
            out[ADE_BN[param].format('bn7')] = v
        else:
            block, layer = mod  # 'b4_2', 'bn_branch2b1'
            level, _, index = block[1:].partition('_')
            unit = ade_unit(int(level), int(index or 0) + 1)
            kind, branch = layer.split('_', 1)
            if kind == 'bn':
                out[ADE_BN[param].format(f'bn{unit}_{branch}')] = v
            else:
                out[f'arg:res{unit}_{branch}_weight'] = v
    return out


def port_to_ade(sd: Dict[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """A ``PortWiderResNet`` (NV norm-act) state dict in the ADE names."""
    branch = {'conv1': '2a', 'bn2': '2b1', 'conv2': '2b1', 'bn3': '2b2', 'conv3': '2b2'}
    out = OrderedDict()
    for k, v in sd.items():
        parts = k.split('.')
        if parts[-1] == 'num_batches_tracked':
            continue
        if parts[0] == 'mod1':
            out['arg:conv1a_weight'] = v
        elif parts[0] == 'bn_out':
            out[ADE_BN[parts[-1]].format('bn7')] = v
        elif parts[0] == 'classifier':
            out[f'arg:linear{v.shape[0]}_{parts[-1]}'] = v
        else:
            unit = ade_unit(int(parts[0][3:]), int(parts[1][5:]))
            if parts[2] == 'bn1':
                out[ADE_BN[parts[-1]].format(f'bn{unit}_branch2a')] = v
            elif parts[2] == 'proj_conv':
                out[f'arg:res{unit}_branch1_weight'] = v
            elif parts[3].startswith('bn'):
                out[ADE_BN[parts[-1]].format(f'bn{unit}_branch{branch[parts[3]]}')] = v
            else:
                out[f'arg:res{unit}_branch{branch[parts[3]]}_weight'] = v
    return out


def set_bn_eps(model: nn.Module, eps: float = 1.001e-5) -> nn.Module:
    """The BN epsilon of ADE's MXNet graph (``BatchNorm(eps=1.001e-5)``)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = eps
    return model
