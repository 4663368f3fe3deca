"""``WiderResNet(memory_efficient=True)`` is the plain network, bit for bit, in less memory."""

import copy
import datetime
import itertools

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from wider_mm.models.backbones import memory_efficient
from wider_mm.models.backbones.memory_efficient import norm_act_conv
from wider_mm.models.backbones.wider_resnet import PreActUnit, WiderResNet

WIDTH = 1 / 32  # widths 2..128: every unit kind, fast in float64
ALL_OUT = tuple(range(7))


def _pair(dtype=torch.float64, **kw):
    """(plain, memory-efficient) WiderResNets with the same, non-trivial weights."""
    kw = dict(dict(depth=38, variant='a1', widen_factor=WIDTH, out_indices=ALL_OUT), **kw)
    plain = WiderResNet(**kw)
    plain.init_weights()
    with torch.no_grad():
        for m in plain.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    eff = WiderResNet(**kw, memory_efficient=True)
    eff.load_state_dict(plain.state_dict())
    units = [m for m in eff.modules() if isinstance(m, PreActUnit)]
    assert units and all(u.memory_efficient for u in units)
    return plain.to(dtype), eff.to(dtype)


def _run(model, x, seed=1, autocast=False, steps=2):
    """Train-mode steps (dropout seeded); everything the backward and the norms produce."""
    got = {}
    for step in range(steps):
        xi = x.clone().requires_grad_()
        torch.manual_seed(seed + step)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            outs = model(xi)
        loss = sum((o.float() * torch.linspace(-1, 2, o.numel()).view_as(o)).sum() for o in outs)
        model.zero_grad()
        loss.backward()
        got.update({f'{step}.out{i}': o.detach() for i, o in enumerate(outs)})
        got[f'{step}.input.grad'] = xi.grad
        got.update(
            {f'{step}.{n}.grad': p.grad for n, p in model.named_parameters() if p.requires_grad}
        )
    got.update({f'buffer.{n}': b.clone() for n, b in model.named_buffers()})
    return got


def _assert_identical(a, b):
    assert a.keys() == b.keys()
    differ = [k for k in a if a[k] is None or not torch.equal(a[k], b[k])]
    assert not differ, f'{len(differ)} of {len(a)} tensors differ, e.g. {differ[:5]}'


@pytest.mark.parametrize(
    'depth,variant,output_stride',
    list(itertools.product((16, 20, 38), ('a', 'a1', 'a2'), (8, 16, 32))),
)
def test_identical_to_plain_units_float64(depth, variant, output_stride):
    """Outputs, every gradient and running statistics (incl. batch counts), with dropout."""
    plain, eff = _pair(
        depth=depth, variant=variant, output_stride=output_stride, drop_rates=(0.3, 0.5)
    )
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    _assert_identical(_run(plain.train(), x), _run(eff.train(), x))


@pytest.mark.parametrize(
    'kw',
    [
        dict(norm_cfg=dict(type='GN', num_groups=2)),
        dict(frozen_stages=2, norm_eval=True, drop_rates=(0.3, 0.5), dropout_type='Dropout2d'),
        dict(frozen_stages=6),
        dict(act_cfg=dict(type='LeakyReLU', negative_slope=0.01)),
        dict(act_cfg=dict(type='ELU')),  # not run in place: as configured
        dict(with_cp=True, drop_rates=(0.3, 0.5)),
    ],
    ids=['gn', 'frozen-norm_eval-dropout2d', 'all-frozen', 'leaky_relu', 'elu', 'with_cp'],
)
def test_identical_for_norms_frozen_stages_activations_and_with_cp(kw):
    plain, eff = _pair(depth=20, output_stride=8, **kw)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    _assert_identical(_run(plain.train(), x), _run(eff.train(), x))


@pytest.mark.parametrize(
    'with_cp,channels_last,bf16',
    [(False, True, False), (False, False, True), (True, True, True)],
)
def test_identical_in_float32_under_bf16_autocast_and_channels_last(with_cp, channels_last, bf16):
    plain, eff = _pair(torch.float32, depth=20, output_stride=16, with_cp=with_cp)
    x = torch.randn(2, 3, 32, 32)
    if channels_last:
        plain, eff = (m.to(memory_format=torch.channels_last) for m in (plain, eff))
        x = x.contiguous(memory_format=torch.channels_last)
    _assert_identical(
        _run(plain.train(), x, autocast=bf16, steps=1), _run(eff.train(), x, autocast=bf16, steps=1)
    )


def test_eval_mode_identical_with_and_without_grad():
    plain, eff = _pair(depth=16, drop_rates=(0.3, 0.5))
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(plain.eval()(x), eff.eval()(x)):
            assert torch.equal(a, b)
    _assert_identical(_run(plain, x, steps=1), _run(eff, x, steps=1))  # eval, with grad


def _saved_bytes(model, x):
    """Bytes of the distinct non-parameter tensors autograd keeps for the backward pass."""
    params = {p.data_ptr() for p in model.parameters()}
    saved = {}

    def pack(t):
        if t.data_ptr() not in params:
            saved[t.data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        outs = model(x.clone().requires_grad_())
    sum(o.sum() for o in outs).backward()
    return sum(saved.values())


def test_keeps_about_half_the_saved_activations():
    plain, eff = _pair(torch.float32, depth=38, widen_factor=1 / 16)
    x = torch.randn(2, 3, 64, 64)
    base, efficient = _saved_bytes(plain.train(), x), _saved_bytes(eff.train(), x)
    assert efficient < 0.6 * base, (efficient, base)


def _tensors(obj):
    if torch.is_tensor(obj):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _tensors(o)


def test_function_keeps_only_the_norm_input():
    """Saved for the backward: the norm's input and the parameters; nothing else large."""
    norm, act, convs = nn.BatchNorm2d(4), nn.ReLU(), [nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 1)]
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    outs = norm_act_conv(x, norm, act, convs, nn.Dropout(0.5), True)
    ctx = outs[0].grad_fn
    params = [p for m in (norm, *convs) for p in m.parameters()]
    saved = ctx.saved_tensors
    assert torch.equal(saved[0], x) and all(a is b for a, b in zip(saved[1:], params))
    kept = [t for v in vars(ctx).values() for t in _tensors(v) if t.numel() >= x[0, 0].numel()]
    assert all(t.dtype == torch.uint8 for t in kept)  # only the random state
    sum(o.sum() for o in outs).backward()


class _LiveBytes(TorchDispatchMode):
    """Bytes of the storages made under it (not ``before``) still alive, at each aten op."""

    def __init__(self, before):
        super().__init__()
        self.before = {t.untyped_storage().data_ptr() for t in before}
        self.made, self.at = {}, {}  # data pointer -> weak reference; op -> bytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        now = [torch.UntypedStorage._new_with_weak_ptr(r.cdata) for r in self.made.values()]
        # the storages' sizes now (a storage resized to 0 counts 0); dead ones count nothing
        self.at.setdefault(str(func.overloadpacket), sum(s.nbytes() for s in now if s))
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            ptr = t.untyped_storage().data_ptr() if torch.is_tensor(t) else None
            if (
                ptr
                and ptr not in self.before
                and (ptr not in self.made or self.made[ptr].expired())
            ):
                self.made[ptr] = StorageWeakRef(t.untyped_storage())  # new (or reused address)
        return out


@pytest.mark.parametrize('norm', [nn.BatchNorm2d(8), nn.GroupNorm(2, 8)])
@pytest.mark.parametrize('act', [nn.ReLU(), nn.LeakyReLU(0.1), nn.LeakyReLU(0.0)])
def test_backward_frees_the_recomputed_activation_before_the_norm_backward(norm, act, monkeypatch):
    """At the norm's backward, of what the backward made only the gradient at the norm's
    output (one tensor of the input's size) and the convs' small weight gradients are alive:
    the recomputed activation and its gradient are gone (two more without the lean path)."""
    conv, shortcut = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 1)
    x = torch.randn(2, 8, 16, 16, requires_grad=True)
    size = x.numel() * x.element_size()

    def live_at_norm_backward():
        y, s = norm_act_conv(x, norm, act, [conv, shortcut], memory_efficient=True)
        grads = [torch.ones_like(y), torch.ones_like(s)]
        with _LiveBytes([x, *grads, *norm.parameters(), *norm.buffers()]) as live:
            torch.autograd.backward([y, s], grads)
        return next(v for k, v in live.at.items() if 'norm_backward' in k)

    lean = live_at_norm_backward()
    assert lean < 1.25 * size
    monkeypatch.setattr(memory_efficient, '_lean', lambda *a: False)
    assert lean <= live_at_norm_backward() - 2 * size


def test_function_falls_back_to_plain_without_gradients():
    norm, act, conv = nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        (y,) = norm_act_conv(x, norm, act, [conv], memory_efficient=True)
    assert y.grad_fn is None and norm.num_batches_tracked == 1
    (y,) = norm_act_conv(x.requires_grad_(), norm, act, [conv], memory_efficient=True)
    assert type(y.grad_fn).__name__ == '_NormActConvBackward'
    y.sum().backward()
    assert norm.num_batches_tracked == 2  # the backward's recomputation did not count


class _AllReduceSum(torch.autograd.Function):
    """Differentiable all-reduce (sum) over the processes."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class AllReduceBN(nn.BatchNorm2d):
    """BN with batch statistics summed over the processes (SyncBN's reduction) on CPU.

    torch's SyncBatchNorm refuses CPU tensors and mmcv's MMSyncBN is a CUDA op, so the
    distributed case is tested with this: a differentiable all-reduce in the forward
    pass (and hence in the memory-efficient recomputation) and in the backward pass.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        c = x.shape[1]
        local = torch.cat([x.sum((0, 2, 3)), x.square().sum((0, 2, 3))])
        total = _AllReduceSum.apply(local)
        count = x.numel() // c * dist.get_world_size()
        mean = total[:c] / count
        var = total[c:] / count - mean.square()
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean, alpha=m)
            self.running_var.mul_(1 - m).add_(var * count / (count - 1), alpha=m)
            self.num_batches_tracked.add_(1)
        shape = (1, c, 1, 1)
        scale = (self.weight / torch.sqrt(var + self.eps)).view(shape)
        return (x - mean.view(shape)) * scale + self.bias.view(shape)


def _to_all_reduce_bn(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            new = AllReduceBN(child.num_features, child.eps, child.momentum).to(child.weight)
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            _to_all_reduce_bn(child)


def _distributed_worker(rank: int, init_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=120),
    )
    try:
        torch.manual_seed(0)
        plain, eff = _pair(depth=16, output_stride=8, drop_rates=(0.3, 0.5))
        for m in (plain, eff):
            _to_all_reduce_bn(m)
        torch.manual_seed(10 + rank)  # each process its own images
        x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
        a, b = _run(plain.train(), x), _run(eff.train(), x)
        # Outputs and statistics bit for bit; gradients to float64 rounding: x reaches this
        # composite norm by three paths (sum, sum of squares, x - mean), and the backward
        # pass adds their gradients and the identity shortcut's in another order.
        exact = [k for k in a if k.startswith('buffer.') or '.out' in k]
        _assert_identical({k: a[k] for k in exact}, {k: b[k] for k in exact})
        for k in a:
            torch.testing.assert_close(b[k], a[k], rtol=1e-12, atol=1e-12, msg=k)
        mean = b['buffer.block2.unit1.norm1.running_mean']
        gathered = [torch.empty_like(mean) for _ in range(2)]
        dist.all_gather(gathered, mean)
        assert torch.equal(*gathered), 'the statistics were not reduced over the processes'
        assert b['buffer.block2.unit1.norm1.num_batches_tracked'] == 2
    finally:
        dist.destroy_process_group()


def test_identical_with_a_distributed_norm_in_two_gloo_processes(tmp_path):
    mp.start_processes(
        _distributed_worker,
        args=(str(tmp_path / 'rendezvous'),),
        nprocs=2,
        join=True,
        start_method='fork',
    )


def test_in_place_activation_never_overwrites_the_kept_input():
    """With a norm that returns its input, the activation must not run in place."""
    conv = nn.Conv2d(4, 4, 1).double()
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    grads = []
    for efficient in (False, True):
        xi = x.clone().requires_grad_()
        (y,) = norm_act_conv(xi, nn.Identity(), nn.LeakyReLU(0.1), [conv], None, efficient)
        y.square().sum().backward()
        assert torch.equal(xi.detach(), x)
        grads.append(xi.grad)
    assert torch.equal(*grads)


def _train(module: nn.Module) -> nn.Module:
    return module.train()


@pytest.mark.parametrize(
    'norm,act,dropout,lean',
    [
        (nn.BatchNorm2d(4), nn.ReLU(), None, True),
        (nn.GroupNorm(2, 4), nn.LeakyReLU(0.01), None, True),
        (nn.BatchNorm2d(4), nn.LeakyReLU(0.0), None, True),  # slope 0 is a ReLU
        (nn.BatchNorm2d(4), nn.LeakyReLU(-0.1), None, False),  # not monotone
        (nn.BatchNorm2d(4), nn.GELU(), None, False),
        (nn.InstanceNorm2d(4), nn.ReLU(), None, False),
        (nn.BatchNorm2d(4), nn.ReLU(), _train(nn.Dropout(0.5)), False),
        (nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5).eval(), True),
        (nn.BatchNorm2d(4), nn.ReLU(), _train(nn.Dropout(0.0)), True),
        (nn.BatchNorm2d(4), nn.ReLU(), _train(nn.Identity()), False),  # no p: not known
        (nn.BatchNorm2d(4), nn.GELU(), _train(nn.Dropout(0.5)), False),
    ],
)
def test_when_the_lean_backward_is_taken(norm, act, dropout, lean):
    """Only a monotone ReLU/LeakyReLU after BN/SyncBN/GN, with no active dropout, may
    recompute its gradient from the output alone."""
    assert memory_efficient._lean(norm, act, dropout) is lean


@pytest.mark.parametrize('act', [nn.ReLU(), nn.LeakyReLU(0.1)])
def test_activation_gradient_from_its_output(act):
    x = torch.tensor([-2.0, -0.5, 0.25, 0.5, 3.0], requires_grad=True)
    grad = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    y = act(x)
    (want,) = torch.autograd.grad(y, x, grad)
    torch.testing.assert_close(memory_efficient._act_backward(act, grad, y.detach()), want)


# --- norm_act_conv against the modules it runs -------------------------------------------


def _unit(act, norm=None, frozen=(), dtype=torch.float64):
    """norm -> act -> (conv with bias, shortcut without) as in a pre-activation unit."""
    norm = norm if norm is not None else nn.BatchNorm2d(4)
    with torch.no_grad():
        for p in norm.parameters():
            p.uniform_(0.5, 1.5)
    unit = nn.ModuleDict(
        dict(
            norm=norm,
            act=act,
            conv=nn.Conv2d(4, 6, 3, padding=1),
            shortcut=nn.Conv2d(4, 6, 1, bias=False),
        )
    ).to(dtype)
    for n, p in unit.named_parameters():
        p.requires_grad_(n not in frozen)
    return unit


def _step(unit, x, how, dropout=None, autocast=None):
    """One forward and backward on copies of ``unit`` and ``dropout``: the modules called
    directly (``how='modules'``), or ``norm_act_conv`` plain / memory-efficient."""
    unit, dropout = copy.deepcopy(unit), copy.deepcopy(dropout)
    xi = x.clone().requires_grad_(x.requires_grad)
    convs = [unit.conv, unit.shortcut]
    torch.manual_seed(0)
    with torch.autocast('cpu', dtype=autocast, enabled=autocast is not None):
        if how == 'modules':
            y = unit.act(unit.norm(xi))
            y = y if dropout is None else dropout(y)
            outs = tuple(conv(y) for conv in convs)
        else:
            outs = norm_act_conv(xi, unit.norm, unit.act, convs, dropout, how == 'efficient')
    loss = sum((o.double() * torch.linspace(-1, 2, o.numel()).view_as(o)).sum() for o in outs)
    loss.backward()
    got = {f'out{i}': o.detach() for i, o in enumerate(outs)}
    got['input.grad'] = xi.grad
    got.update({f'{n}.grad': p.grad for n, p in unit.named_parameters()})
    got.update({f'buffer.{n}': b for n, b in unit.named_buffers()})
    return got, outs[0].grad_fn


def _assert_same(want, got):
    """The same keys; each value None in both or the same tensor (dtype included)."""
    assert want.keys() == got.keys()
    differ = [
        k
        for k in want
        if (want[k] is None) != (got[k] is None)
        or (want[k] is not None and not torch.equal(want[k], got[k]))
    ]
    assert not differ, f'{len(differ)} of {len(want)} differ: {differ}'


def test_memory_efficient_is_off_by_default():
    unit = _unit(nn.ReLU(), dtype=torch.float32)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    (y,) = norm_act_conv(x, unit.norm, unit.act, [unit.conv])
    assert type(y.grad_fn).__name__ == 'ConvolutionBackward0'


class _HandBN(nn.BatchNorm2d):
    """BN written in torch ops, as a user's own norm may be: it reads and updates its
    running statistics in place in training."""

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
        n = x.numel() // x.shape[1]
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / (n - 1), self.momentum)
            self.num_batches_tracked += 1
        scale = self.weight / torch.sqrt(var + self.eps)
        return (x - mean[:, None, None]) * scale[:, None, None] + self.bias[:, None, None]


class _DetachedBN(nn.BatchNorm2d):
    """A norm that passes no gradient back (to its input or its parameters)."""

    def forward(self, x):
        return super().forward(x).detach()


def _wrapped_bn_training(num_features):
    """A container norm in eval mode around a BN in training mode (as after
    ``model.eval()`` and then ``.train()`` on every ``nn.BatchNorm2d``)."""
    norm = nn.Sequential(nn.BatchNorm2d(num_features)).eval()
    norm[0].train()
    return norm


_NORM_PARAMS = ('norm.weight', 'norm.bias')
_CONV_PARAMS = ('conv.weight', 'conv.bias', 'shortcut.weight')


@pytest.mark.parametrize('act', [nn.ReLU(), nn.ELU()], ids=['relu-lean', 'elu'])
@pytest.mark.parametrize(
    'norm,frozen,x_grad,batch',
    [
        (None, (), True, 2),
        (None, (), False, 2),
        (None, _NORM_PARAMS + _CONV_PARAMS, True, 2),
        (None, ('norm.weight',), True, 2),
        (None, _NORM_PARAMS, False, 2),
        (None, ('conv.bias',), True, 2),
        (None, (), True, 0),
        (_HandBN, (), True, 2),
        (_DetachedBN, (), True, 2),
        (_wrapped_bn_training, (), True, 2),
    ],
    ids=[
        'all-train',
        'input-without-grad',
        'only-input',
        'norm-weight-frozen',
        'only-convs',
        'conv-bias-frozen',
        'empty-batch',
        'hand-written-bn',
        'norm-passes-no-gradient',
        'eval-container-training-bn',
    ],
)
def test_function_matches_the_modules_for_what_requires_grad(act, norm, frozen, x_grad, batch):
    """Outputs, gradients (None where the modules give None) and buffers of the modules
    called directly, from both paths; the memory-efficient one is taken whenever anything
    requires grad."""
    unit = _unit(act, norm and norm(4), frozen)
    x = torch.randn(batch, 4, 6, 6, dtype=torch.float64).requires_grad_(x_grad)
    want, _ = _step(unit, x, 'modules')
    plain, _ = _step(unit, x, 'plain')
    efficient, fn = _step(unit, x, 'efficient')
    assert type(fn).__name__ == '_NormActConvBackward'
    _assert_same(want, plain)
    _assert_same(want, efficient)


@pytest.mark.parametrize(
    'act', [nn.ReLU(), nn.LeakyReLU(0.2), nn.ELU()], ids=['relu', 'leaky_relu-0.2', 'elu']
)
@pytest.mark.parametrize(
    'dropout,random',
    [
        (None, False),
        (_train(nn.Dropout(0.5)), True),
        (nn.Dropout(0.5).eval(), False),
        (_train(nn.Dropout(0.0)), False),
        (_train(nn.Identity()), True),  # no p: taken as random
    ],
    ids=['none', 'dropout', 'dropout-eval', 'dropout-p0', 'no-p'],
)
def test_function_keeps_the_random_state_only_for_random_dropout(act, dropout, random):
    """The modules' results from both paths; the memory-efficient one keeps the random
    generators' state (to redraw the dropout mask in the backward pass) only where the
    dropout draws one."""
    unit = _unit(act)
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64, requires_grad=True)
    want, _ = _step(unit, x, 'modules', dropout)
    _assert_same(want, _step(unit, x, 'plain', dropout)[0])
    efficient, fn = _step(unit, x, 'efficient', dropout)
    _assert_same(want, efficient)
    kept = [t for v in vars(fn).values() for t in _tensors(v)]
    assert bool(kept) == random, kept


@pytest.mark.parametrize(
    'dtype,autocast,act',
    [
        (torch.float32, torch.bfloat16, nn.ReLU()),
        (torch.float32, torch.bfloat16, nn.PReLU()),
        (torch.float32, torch.float16, nn.PReLU()),
        (torch.float32, None, nn.PReLU()),
        (torch.float64, torch.bfloat16, nn.ReLU()),
    ],
    ids=['bf16-relu', 'bf16-prelu', 'fp16-prelu', 'no-autocast-prelu', 'float64-bf16'],
)
def test_function_casts_as_autocast_does(dtype, autocast, act):
    """A float32 norm output is cast for the convs (their biases too) as autocast casts
    it, float64 is left alone; the backward recomputes the norm and activation (PReLU
    runs in the lower precision) under the forward pass's autocast state."""
    unit = _unit(act, dtype=dtype)
    x = torch.randn(2, 4, 6, 6, dtype=dtype, requires_grad=True)
    want, _ = _step(unit, x, 'modules', autocast=autocast)
    assert want['out0'].dtype == (dtype if autocast is None or dtype == torch.float64 else autocast)
    _assert_same(want, _step(unit, x, 'plain', autocast=autocast)[0])
    _assert_same(want, _step(unit, x, 'efficient', autocast=autocast)[0])


class _DoubledConv(nn.Conv2d):
    """A Conv2d subclass with a forward of its own (as weight-standardised convs have)."""

    def forward(self, x):
        return 2 * super().forward(x)


@pytest.mark.parametrize(
    'conv',
    [
        nn.Conv2d(4, 6, 3, padding=1, padding_mode='reflect'),
        nn.Conv2d(4, 6, 3, padding='same'),
        _DoubledConv(4, 6, 1),
    ],
    ids=['reflect-padding', 'same-padding', 'conv-subclass'],
)
def test_function_runs_other_convs_as_they_are(conv):
    """Convs the memory-efficient backward does not compute take the plain path."""
    unit = _unit(nn.ReLU())
    unit['conv'] = conv.double()
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64, requires_grad=True)
    want, _ = _step(unit, x, 'modules')
    efficient, fn = _step(unit, x, 'efficient')
    assert type(fn).__name__ != '_NormActConvBackward'
    _assert_same(want, efficient)


def test_backward_of_a_cpu_input_leaves_the_gpus_random_state_alone(monkeypatch):
    """With GPUs present (two, simulated), redrawing a CPU dropout mask reads and sets no
    GPU's random state (which would initialise every GPU)."""

    def touched(*args, **kwargs):
        raise AssertionError('a GPU random state was read or set')

    unit = _unit(nn.ReLU())
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64, requires_grad=True)
    want, _ = _step(unit, x, 'modules', _train(nn.Dropout(0.5)))
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    monkeypatch.setattr(torch.cuda, 'get_rng_state', touched)
    monkeypatch.setattr(torch.cuda, 'set_rng_state', touched)
    _assert_same(want, _step(unit, x, 'efficient', _train(nn.Dropout(0.5)))[0])


class _OnSecondGPU(torch.Tensor):
    """A CPU tensor that reports itself on the second GPU (and so do the results of ops on it)."""

    is_cuda = True
    device = torch.device('cuda', 1)


def _gpu_index(device='cuda'):
    """The GPU ``torch.cuda.get_rng_state(device)`` means (the current GPU is the first)."""
    device = torch.device('cuda', device) if isinstance(device, int) else torch.device(device)
    return 0 if device.index is None else device.index


class _SecondGPUDropout(nn.Dropout):
    """Dropout of a tensor on the second (simulated) GPU: it notes, and advances, that GPU's
    random state (the saved input reaches the backward as a plain CPU tensor)."""

    def __init__(self, gpu_states):
        super().__init__(0.5)
        self.gpu_states, self.seen = gpu_states, []

    def forward(self, y):
        self.seen.append(self.gpu_states[1])
        self.gpu_states[1] += 1
        return super().forward(y)


def test_backward_of_a_gpu_input_redraws_the_mask_from_that_gpus_random_state(monkeypatch):
    """For an input on the second of two GPUs (simulated), the backward redraws the dropout
    mask from that GPU's random state as the forward pass found it, leaves that state as
    it was before the backward, and reads and sets no other GPU's."""
    states, touched = {0: 10, 1: 20}, []

    def get_rng_state(device='cuda'):
        touched.append(_gpu_index(device))
        return states[_gpu_index(device)]

    def set_rng_state(state, device='cuda'):
        touched.append(_gpu_index(device))
        states[_gpu_index(device)] = state

    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    monkeypatch.setattr(torch.cuda, 'get_rng_state', get_rng_state)
    monkeypatch.setattr(torch.cuda, 'set_rng_state', set_rng_state)
    unit, dropout = _unit(nn.ReLU()), _SecondGPUDropout(states)
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64).as_subclass(_OnSecondGPU)
    (y,) = norm_act_conv(x.requires_grad_(), unit.norm, unit.act, [unit.conv], dropout, True)
    assert type(y.grad_fn).__name__ == '_NormActConvBackward'
    states[1] = 30  # other random draws on that GPU between the forward and the backward
    y.sum().backward()
    assert dropout.seen == [20, 20]  # the forward's state, not the one the backward found
    assert states == {0: 10, 1: 30}
    assert set(touched) == {1}
