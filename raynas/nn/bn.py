"""BatchNorm statistics re-calibration for one subnet of a supernet (or any module)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from raynas.checks import check_choice

__all__ = ["bn_layers", "recalibrate_bn", "BN_METHODS"]

_BatchNorm = nn.modules.batchnorm._BatchNorm

BN_METHODS = ("torch", "ofa")
"""How :func:`recalibrate_bn` estimates statistics: PyTorch's cumulative average (unbiased
variance) or once-for-all's ``set_running_statistics`` (biased variance)."""


def bn_layers(net: nn.Module) -> list[_BatchNorm]:
    """Every BatchNorm layer of ``net`` that tracks running statistics, in module order."""
    return [m for m in net.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def _inputs(batch: Any) -> torch.Tensor:
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0]
    if isinstance(batch, Mapping) and isinstance(batch.get("x"), torch.Tensor):
        return batch["x"]
    raise TypeError(
        f"each calibration batch must be a tensor, an (inputs, targets) pair or a dict with 'x', got {type(batch).__name__}"
    )


class _Average:
    """Once-for-all's ``AverageMeter``: ``sum += value * n``, ``count += n``, ``avg = sum / count``."""

    def __init__(self) -> None:
        self.sum: Any = 0
        self.count = 0

    def update(self, value: torch.Tensor, n: int) -> None:
        self.sum = self.sum + value * n
        self.count += n

    @property
    def avg(self) -> torch.Tensor:
        return self.sum / self.count


def _ofa_forward(bn: _BatchNorm, mean: _Average, var: _Average):
    """A BatchNorm forward that normalises with the batch's statistics and records them, as
    once-for-all's ``set_running_statistics`` does (same operations, same order)."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        batch_mean = x.mean(0, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
        batch_var = (x - batch_mean) * (x - batch_mean)
        batch_var = batch_var.mean(0, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
        batch_mean, batch_var = torch.squeeze(batch_mean), torch.squeeze(batch_var)
        mean.update(batch_mean, x.size(0))
        var.update(batch_var, x.size(0))
        channels = batch_mean.size(0)
        weight = None if bn.weight is None else bn.weight[:channels]
        bias = None if bn.bias is None else bn.bias[:channels]
        return F.batch_norm(x, batch_mean, batch_var, weight, bias, False, 0.0, bn.eps)

    return forward


def _recalibrate_ofa(net: nn.Module, batches: Iterable[Any], layers: list[_BatchNorm], device: Any) -> int:
    stats = {id(m): (_Average(), _Average()) for m in layers}
    was_training = net.training
    count = 0
    try:
        for m in layers:
            m.forward = _ofa_forward(m, *stats[id(m)])  # an instance attribute; removed below
        net.eval()  # dropout off; every BatchNorm runs the forward above
        for batch in batches:
            x = _inputs(batch)
            net(x if device is None else x.to(device))
            count += 1
    finally:
        for m in layers:
            del m.forward
        net.train(was_training)
    if count == 0:
        raise ValueError("recalibrate_bn needs at least one calibration batch, got an empty iterable")
    for m in layers:
        mean, var = stats[id(m)]
        if mean.count > 0:
            channels = mean.avg.size(0)
            m.running_mean[:channels].copy_(mean.avg)
            m.running_var[:channels].copy_(var.avg)
    return count


@torch.no_grad()
def recalibrate_bn(
    net: nn.Module, batches: Iterable[Any], arch: Mapping[str, Any] | None = None, *, method: str = "torch"
) -> int:
    """Recompute BatchNorm running statistics of ``net`` (optionally after ``net.set_active(arch)``).

    ``method="torch"`` (the default): every BatchNorm layer's running statistics are reset,
    its ``momentum`` set to ``None`` (PyTorch's cumulative moving average) and ``net`` run in
    train mode on each batch; then
    momentum and the train/eval mode are restored. With cumulative averaging each layer ends
    with ``running_mean`` = the mean over batches of each batch's per-channel mean (the mean
    of the concatenated activations when batches have equal size) and ``running_var`` = the
    mean over batches of each batch's unbiased per-channel variance (the unbiased variance
    of the concatenated activations for a single batch). Layers that the active subnet does
    not run keep their previous statistics.

    ``method="ofa"``: once-for-all's ``set_running_statistics``. Each layer normalises every
    batch with that batch's own mean and *biased* variance (computed as
    ``x.mean(0).mean(2).mean(3)`` and likewise for the squared deviations), and ends with
    ``running_mean`` / ``running_var`` = the batch-size-weighted averages of those; the
    channels past the active width and the layers the subnet does not run keep their
    statistics. Subnets of a supernet imported from once-for-all then match OFA's
    re-calibrated subnets.

    Args:
        net: a module (a :class:`~raynas.nn.Supernet` when ``arch`` is given).
        batches: an iterable of input tensors, ``(inputs, targets)`` pairs or ``{"x": ...}`` dicts.
        arch: if given, ``net.set_active(arch)`` is called first.
        method: one of :data:`BN_METHODS`.

    Returns:
        The number of batches used.

    Raises:
        ValueError: ``batches`` is empty, or ``method`` is unknown.
    """
    check_choice(None, "method", method, BN_METHODS)
    if arch is not None:
        if not hasattr(net, "set_active"):
            raise TypeError(f"arch= needs a supernet with set_active(); got a {type(net).__name__}")
        net.set_active(arch)
    layers = bn_layers(net)
    device = next((p.device for p in net.parameters()), None)
    if method == "ofa":
        return _recalibrate_ofa(net, batches, layers, device)
    saved = [
        (m, m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in layers
    ]
    used: set[int] = set()
    hooks = [m.register_forward_pre_hook(lambda module, args: used.add(id(module))) for m in layers]
    was_training = net.training
    count = 0
    try:
        for m in layers:
            m.reset_running_stats()
            m.momentum = None
        net.train()
        for batch in batches:
            x = _inputs(batch)
            net(x if device is None else x.to(device))
            count += 1
    finally:
        for hook in hooks:
            hook.remove()
        for m, momentum, mean, var, tracked in saved:
            m.momentum = momentum
            if id(m) not in used or count == 0:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(tracked)
        net.train(was_training)
    if count == 0:
        raise ValueError("recalibrate_bn needs at least one calibration batch, got an empty iterable")
    return count
