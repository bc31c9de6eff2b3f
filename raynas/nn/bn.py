"""BatchNorm statistics re-calibration for one subnet of a supernet (or any module)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import torch
from torch import nn

__all__ = ["bn_layers", "recalibrate_bn"]

_BatchNorm = nn.modules.batchnorm._BatchNorm


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


@torch.no_grad()
def recalibrate_bn(net: nn.Module, batches: Iterable[Any], arch: Mapping[str, Any] | None = None) -> int:
    """Recompute BatchNorm running statistics of ``net`` (optionally after ``net.set_active(arch)``).

    Every BatchNorm layer's running statistics are reset, its ``momentum`` set to ``None``
    (PyTorch's cumulative moving average) and ``net`` run in train mode on each batch; then
    momentum and the train/eval mode are restored. With cumulative averaging each layer ends
    with ``running_mean`` = the mean over batches of each batch's per-channel mean (the mean
    of the concatenated activations when batches have equal size) and ``running_var`` = the
    mean over batches of each batch's unbiased per-channel variance (the unbiased variance
    of the concatenated activations for a single batch). Layers that the active subnet does
    not run keep their previous statistics.

    Args:
        net: a module (a :class:`~raynas.nn.Supernet` when ``arch`` is given).
        batches: an iterable of input tensors, ``(inputs, targets)`` pairs or ``{"x": ...}`` dicts.
        arch: if given, ``net.set_active(arch)`` is called first.

    Returns:
        The number of batches used.

    Raises:
        ValueError: ``batches`` is empty.
    """
    if arch is not None:
        if not hasattr(net, "set_active"):
            raise TypeError(f"arch= needs a supernet with set_active(); got a {type(net).__name__}")
        net.set_active(arch)
    layers = bn_layers(net)
    saved = [
        (m, m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in layers
    ]
    used: set[int] = set()
    hooks = [m.register_forward_pre_hook(lambda module, args: used.add(id(module))) for m in layers]
    was_training = net.training
    device = next((p.device for p in net.parameters()), None)
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
