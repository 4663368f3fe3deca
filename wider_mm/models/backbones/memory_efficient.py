"""Memory-efficient ``norm -> activation -> conv``: keep the norm's input, recompute the rest.

A pre-activation unit (He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016)
runs ``norm -> activation -> conv`` before every conv. Plain autograd keeps, for each of
them, two tensors of the same size: the norm's input (the norm's backward needs it) and the
activated tensor (the conv's backward needs it). :func:`norm_act_conv` keeps only the
first and recomputes the cheap, element-wise norm and activation from it in the backward
pass; no convolution is recomputed. This is the saving of InPlace-ABN (Rota Bulo, Porzi,
Kontschieder, "In-Place Activated BatchNorm for Memory-Optimized Training of DNNs", CVPR
2018) in plain PyTorch (no compiled op), for any norm (BN, SyncBN, GN, ...) and any
activation, at the cost of one more norm + activation per conv in the backward pass.

Exactness: the backward runs the same kernels on the same tensors as plain autograd (the
conv's ``aten.convolution_backward``, the norm's and activation's own backward on the
recomputed graph), so outputs, gradients and running statistics are identical to the plain
path (``tests/models/backbones/test_memory_efficient.py`` checks this bit for bit):

* running statistics are updated once, in the forward pass: the recomputation restores the
  norm's buffers (a distributed norm such as SyncBN does its reduction again in the
  backward pass, on the same inputs);
* dropout between the activation and the conv is recomputed under the forward pass's random
  state (as ``torch.utils.checkpoint`` does);
* under autocast, the conv's input and weight are cast exactly as autocast casts them
  (floating tensors other than float64 to the autocast dtype), the norm is recomputed under
  the forward pass's autocast state;
* in both paths, ReLU and LeakyReLU run in place on the norm's fresh output (exact: their
  backward reads the result either way; faster), other activations as configured.

This module imports only torch, so :mod:`wider_resnet` can be carried without the package.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def norm_act_conv(
    x: torch.Tensor,
    norm: nn.Module,
    act: nn.Module,
    convs: Sequence[nn.Conv2d],
    dropout: Optional[nn.Module] = None,
    memory_efficient: bool = False,
) -> Tuple[torch.Tensor, ...]:
    """Return ``conv(dropout(act(norm(x))))`` for every conv in ``convs``.

    Args:
        x (Tensor): Input of the norm.
        norm (nn.Module): Norm layer (any: BN, SyncBN, GN, ...).
        act (nn.Module): Activation layer.
        convs (Sequence[nn.Conv2d]): Convs reading the same activated tensor (a unit's
            first conv and its projection shortcut).
        dropout (nn.Module, optional): Applied between the activation and the convs.
            Default: None.
        memory_efficient (bool): Keep only ``x`` for the backward pass and recompute the
            norm and activation there (see the module docstring). Without gradients (no
            grad mode, or nothing requires grad) both paths are the plain one. Default: False.

    Returns:
        tuple[Tensor]: One output per conv.

    Example:
        >>> import torch, torch.nn as nn
        >>> norm, act, conv = nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1)
        >>> x = torch.rand(2, 4, 8, 8, requires_grad=True)
        >>> (y,) = norm_act_conv(x, norm, act, [conv], memory_efficient=True)
        >>> y.shape
        torch.Size([2, 8, 8, 8])
    """
    params = [p for m in (norm, act, *convs) for p in m.parameters()]
    if (
        memory_efficient
        and torch.is_grad_enabled()
        and (x.requires_grad or any(p.requires_grad for p in params))
        and all(_supported(c) for c in convs)
    ):
        return _NormActConv.apply(x, norm, act, dropout, tuple(convs), *params)
    y = _activate(act, norm(x), x)  # in place where safe: exact, and faster
    if dropout is not None:
        y = dropout(y)
    return tuple(conv(y) for conv in convs)


def _supported(conv: nn.Module) -> bool:
    """Convs whose backward :class:`_NormActConv` computes (others take the plain path)."""
    return (
        type(conv) is nn.Conv2d
        and conv.padding_mode == 'zeros'
        and not isinstance(conv.padding, str)
    )


def _activate(act: nn.Module, y: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``act(y)``, in place for ReLU / LeakyReLU unless ``y`` shares memory with ``source``."""
    if y.data_ptr() != source.data_ptr():
        if type(act) is nn.ReLU:
            return y.relu_()
        if type(act) is nn.LeakyReLU and act.negative_slope >= 0:
            return F.leaky_relu_(y, act.negative_slope)
    return act(y)


def _autocast_cast(t: Optional[torch.Tensor], dtype: Optional[torch.dtype]):
    """What autocast does to a conv's argument: floating, non-float64 tensors -> ``dtype``."""
    if t is None or dtype is None or not t.is_floating_point() or t.dtype == torch.float64:
        return t
    return t.to(dtype)


class _NormActConv(torch.autograd.Function):
    """``conv_i(dropout(act(norm(x))))`` for each conv, saving ``x`` and the parameters."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        norm: nn.Module,
        act: nn.Module,
        dropout: Optional[nn.Module],
        convs: Tuple[nn.Conv2d, ...],
        *params: torch.Tensor,
    ) -> Tuple[torch.Tensor, ...]:
        device = x.device.type
        autocast = torch.is_autocast_enabled(device)
        ctx.autocast = (device, autocast, torch.get_autocast_dtype(device))
        ctx.modules = (norm, act, dropout, convs)
        ctx.rng = None
        if dropout is not None and dropout.training and getattr(dropout, 'p', 1) > 0:
            cuda = [x.device] if x.is_cuda else []
            ctx.rng = (torch.get_rng_state(), cuda, [torch.cuda.get_rng_state(d) for d in cuda])
        y = _activate(act, norm(x), x)
        if dropout is not None:
            y = dropout(y)
        cast = ctx.autocast[2] if autocast else None
        outs = []
        with torch.autocast(device, enabled=False):
            for conv in convs:
                w, b = _autocast_cast(conv.weight, cast), _autocast_cast(conv.bias, cast)
                outs.append(conv._conv_forward(_autocast_cast(y, cast), w, b))
        ctx.save_for_backward(x, *params)
        return tuple(outs)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor):
        x, *params = ctx.saved_tensors
        norm, act, dropout, convs = ctx.modules
        device, autocast, dtype = ctx.autocast
        n_pre = len(params) - sum(len(list(c.parameters())) for c in convs)
        pre_params = params[:n_pre]
        needs_x = ctx.needs_input_grad[0]
        # Lean path: the norm's backward (not the activation's) goes through autograd, the
        # activation's backward is its own aten kernel, and the recomputed activation is freed
        # before the norm's backward runs: one or two fewer tensors of the input's size live
        # at the backward's peak.
        lean = _lean(norm, act, dropout)
        with torch.enable_grad(), torch.autocast(device, enabled=autocast, dtype=dtype):
            xd = x.detach().requires_grad_(needs_x)
            if lean:
                z = _recompute(xd, norm, None, None, None)
                with torch.no_grad():
                    y = _activate(act, z.detach(), x)
            else:
                y = z = _recompute(xd, norm, act, dropout, ctx.rng)
        cast = dtype if autocast else None
        yc = _autocast_cast(y.detach(), cast)
        grad_y = None
        conv_grads: List[Optional[torch.Tensor]] = []
        for conv, grad in zip(convs, grads):
            w, b = conv.weight, conv.bias
            gi, gw, gb = torch.ops.aten.convolution_backward(
                grad,
                yc,
                _autocast_cast(w, cast),
                None if b is None else list(b.shape),
                conv.stride,
                conv.padding,
                conv.dilation,
                False,
                [0] * len(conv.stride),
                conv.groups,
                [z.requires_grad, w.requires_grad, b is not None and b.requires_grad],
            )
            if gi is not None:
                gi = gi.to(y.dtype)
                grad_y = gi if grad_y is None else grad_y + gi
            del gi
            conv_grads.append(None if gw is None else gw.to(w.dtype))
            if b is not None:
                conv_grads.append(None if gb is None else gb.to(b.dtype))
        del yc
        if lean and grad_y is not None:
            grad_y = _act_backward(act, grad_y, y)
            if y.data_ptr() == z.data_ptr():  # the activation ran in place on z
                z.untyped_storage().resize_(0)  # the norm's backward reads its input only
            del y
        wanted = ([xd] if needs_x else []) + [p for p in pre_params if p.requires_grad]
        found = iter(
            torch.autograd.grad(z, wanted, grad_y) if wanted and grad_y is not None else ()
        )
        grad_x = next(found, None) if needs_x else None
        grad_pre = [next(found, None) if p.requires_grad else None for p in pre_params]
        return (grad_x, None, None, None, None, *grad_pre, *conv_grads)


#: Norms whose backward reads their input and statistics, never their output (their output
#: can be freed before their backward runs): the forwards of torch's BN, SyncBN and GN.
_LEAN_NORMS = (
    nn.modules.batchnorm._BatchNorm.forward,
    nn.SyncBatchNorm.forward,
    nn.GroupNorm.forward,
)


def _lean(norm: nn.Module, act: nn.Module, dropout: Optional[nn.Module]) -> bool:
    """Whether :meth:`_NormActConv.backward` may take its lean path for these modules."""
    relu = type(act) is nn.ReLU or (type(act) is nn.LeakyReLU and act.negative_slope >= 0)
    no_dropout = dropout is None or not dropout.training or getattr(dropout, 'p', 1) == 0
    return relu and no_dropout and type(norm).forward in _LEAN_NORMS


def _act_backward(act: nn.Module, grad: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The gradient at the activation's input, by the kernel autograd runs for it."""
    if type(act) is nn.ReLU:
        return torch.ops.aten.threshold_backward(grad, y, 0)
    return torch.ops.aten.leaky_relu_backward(grad, y, act.negative_slope, True)


def _recompute(
    x: torch.Tensor,
    norm: nn.Module,
    act: Optional[nn.Module],
    dropout: Optional[nn.Module],
    rng: Optional[tuple],
) -> torch.Tensor:
    """``dropout(act(norm(x)))`` again (``norm(x)`` without ``act``), leaving the norm's
    running statistics as they are."""
    # The norm updates copies of its buffers (running statistics, batch count), which are
    # dropped afterwards; the real buffers are not written (their version counter, which
    # the forward pass's autograd graph may check, stays as it is). In eval mode too: a
    # norm's submodule may be in training mode while the norm is not.
    originals = [
        (m._buffers, k, b) for m in norm.modules() for k, b in m._buffers.items() if b is not None
    ]
    for buffers, k, b in originals:
        buffers[k] = b.clone()
    try:
        y = norm(x) if act is None else _activate(act, norm(x), x)
    finally:
        for buffers, k, b in originals:
            buffers[k] = b
    if dropout is None:
        return y
    if rng is None:
        return dropout(y)
    cpu_state, devices, states = rng
    with torch.random.fork_rng(devices=devices):
        torch.set_rng_state(cpu_state)
        for d, s in zip(devices, states):
            torch.cuda.set_rng_state(s, d)
        return dropout(y)


__all__ = ['norm_act_conv']
