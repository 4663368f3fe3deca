"""``WiderResNet(memory_efficient=True)`` is the plain network, bit for bit, in less memory."""

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
@pytest.mark.parametrize('act', [nn.ReLU(), nn.LeakyReLU(0.1)])
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
