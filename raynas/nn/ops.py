"""Elastic layers: each owns one maximal weight and slices it in ``forward``.

The input width of every layer is read from the tensor it receives; the output width
(``active_out_channels``) and kernel size (``active_kernel_size``) are attributes set by
:meth:`raynas.nn.Supernet.set_active` only. Every layer has an ``export(...)`` that builds
the matching plain ``torch.nn`` layer with *copied* slices, so the exported layer computes
exactly what the elastic layer computes for the same widths.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "make_divisible",
    "hidden_channels",
    "se_channels",
    "ElasticConv2d",
    "ElasticDepthwiseConv2d",
    "ElasticBatchNorm2d",
    "ElasticSqueezeExcite",
    "ElasticLinear",
    "SqueezeExcite",
    "export_activation",
    "global_mean",
]


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``), never below 90% of it."""
    if divisor < 1:
        raise ValueError(f"divisor must be >= 1, got {divisor!r}")
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def hidden_channels(in_channels: int, expand_ratio: float, divisor: int = 8) -> int:
    """Width of an inverted residual's expanded (hidden) layer: ``make_divisible(in * ratio)``."""
    return make_divisible(round(in_channels * expand_ratio), divisor)


def se_channels(channels: int, reduction: int = 4, divisor: int = 8) -> int:
    """Width of the squeeze-excitation bottleneck for ``channels`` input channels."""
    return make_divisible(channels // reduction, divisor)


def _check_width(name: str, value: int, maximum: int) -> None:
    if not 1 <= value <= maximum:
        raise ValueError(f"{name} must be in [1, {maximum}], got {value!r}")


def _factory(tensor: torch.Tensor) -> dict:
    """``device=`` and ``dtype=`` of ``tensor``: exported layers are built where, and in the precision, the supernet is."""
    return {"device": tensor.device, "dtype": tensor.dtype}


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over the spatial dimensions, keeping them: ``x.mean(3).mean(2)`` in once-for-all's order.

    The order matters in the last float32 bits; this is the order once-for-all pools in (global
    pooling and squeeze-excitation), so supernets imported from it compute its logits exactly.
    """
    return x.mean(3, keepdim=True).mean(2, keepdim=True)


def export_activation(activation: nn.Module | None) -> nn.Module:
    """A fresh copy of a (stateless) activation module, or ``nn.Identity`` for ``None``."""
    return nn.Identity() if activation is None else copy.deepcopy(activation)


class ElasticConv2d(nn.Module):
    """A dense convolution with elastic input and output channels and a fixed kernel.

    The output width is ``active_out_channels``; the input width is read from the tensor,
    and the first channels of the maximal weight are used.
    """

    def __init__(
        self, max_in_channels: int, max_out_channels: int, kernel_size: int = 1, stride: int = 1, bias: bool = False
    ):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
        self.max_in_channels = max_in_channels
        self.max_out_channels = max_out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.weight = nn.Parameter(torch.empty(max_out_channels, max_in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(max_out_channels)) if bias else None
        nn.init.kaiming_normal_(self.weight, mode="fan_out")
        self.active_out_channels = max_out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_channels, out_channels = x.shape[1], self.active_out_channels
        weight = self.weight[:out_channels, :in_channels]
        bias = None if self.bias is None else self.bias[:out_channels]
        return F.conv2d(x, weight, bias, self.stride, self.kernel_size // 2)

    def export(self, in_channels: int, out_channels: int | None = None, kernel_size: int | None = None) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` with the first ``out_channels x in_channels`` filters copied."""
        out_channels = self.active_out_channels if out_channels is None else out_channels
        _check_width("in_channels", in_channels, self.max_in_channels)
        _check_width("out_channels", out_channels, self.max_out_channels)
        if kernel_size not in (None, self.kernel_size):
            raise ValueError(f"kernel_size of this conv is fixed at {self.kernel_size}, got {kernel_size!r}")
        conv = nn.Conv2d(
            in_channels, out_channels, self.kernel_size, self.stride, self.kernel_size // 2, bias=self.bias is not None,
            **_factory(self.weight),
        )
        with torch.no_grad():
            conv.weight.copy_(self.weight[:out_channels, :in_channels])
            if self.bias is not None:
                conv.bias.copy_(self.bias[:out_channels])
        return conv

    def in_channel_importance(self) -> torch.Tensor:
        """L1 norm of the maximal weight per input channel."""
        return self.weight.detach().abs().sum(dim=(0, 2, 3))

    @torch.no_grad()
    def permute_out_channels(self, order: torch.Tensor) -> None:
        """Reorder output channels of the maximal weight (and bias) by ``order``."""
        self.weight.copy_(self.weight[order])
        if self.bias is not None:
            self.bias.copy_(self.bias[order])

    @torch.no_grad()
    def permute_in_channels(self, order: torch.Tensor) -> None:
        """Reorder input channels of the maximal weight by ``order``."""
        self.weight.copy_(self.weight[:, order])

    def extra_repr(self) -> str:
        return (
            f"{self.max_in_channels}, {self.max_out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, bias={self.bias is not None}"
        )


class ElasticDepthwiseConv2d(nn.Module):
    """A depthwise convolution with elastic channels and an elastic kernel (once-for-all).

    The weight holds the largest kernel. A smaller kernel is the centre crop of the next
    larger (transformed) kernel, multiplied by a per-layer transformation matrix of size
    ``k*k x k*k`` shared by all channels (``transforms["7to5"]``, ``transforms["5to3"]``),
    initialised to the identity. The channel count is read from the input tensor.
    """

    def __init__(self, max_channels: int, kernel_sizes: Sequence[int], stride: int = 1):
        super().__init__()
        sizes = tuple(int(k) for k in kernel_sizes)
        if not sizes or any(k < 1 or k % 2 == 0 for k in sizes) or list(sizes) != sorted(set(sizes)):
            raise ValueError(f"kernel_sizes must be strictly increasing positive odd ints, got {kernel_sizes!r}")
        self.max_channels = max_channels
        self.kernel_sizes = sizes
        self.stride = stride
        max_kernel = sizes[-1]
        self.weight = nn.Parameter(torch.empty(max_channels, 1, max_kernel, max_kernel))
        nn.init.kaiming_normal_(self.weight, mode="fan_out")
        self.transforms = nn.ParameterDict(
            {f"{large}to{small}": nn.Parameter(torch.eye(small * small)) for large, small in zip(sizes[:0:-1], sizes[-2::-1])}
        )
        self.active_kernel_size = max_kernel

    def kernel(self, channels: int, kernel_size: int) -> torch.Tensor:
        """The ``(channels, 1, k, k)`` filter for ``kernel_size``, through the transformation chain."""
        if kernel_size not in self.kernel_sizes:
            raise ValueError(f"kernel_size must be one of {list(self.kernel_sizes)}, got {kernel_size!r}")
        weight = self.weight[:channels]
        current = self.kernel_sizes[-1]
        for smaller in reversed(self.kernel_sizes):
            if smaller >= current or smaller < kernel_size:
                continue
            start = (current - smaller) // 2
            crop = weight[:, :, start : start + smaller, start : start + smaller]
            matrix = self.transforms[f"{current}to{smaller}"]
            weight = F.linear(crop.reshape(channels, smaller * smaller), matrix).reshape(channels, 1, smaller, smaller)
            current = smaller
        return weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, kernel_size = x.shape[1], self.active_kernel_size
        return F.conv2d(x, self.kernel(channels, kernel_size), None, self.stride, kernel_size // 2, 1, channels)

    def export(self, in_channels: int, out_channels: int | None = None, kernel_size: int | None = None) -> nn.Conv2d:
        """A plain depthwise ``nn.Conv2d`` holding the transformed kernel for ``in_channels`` channels."""
        kernel_size = self.active_kernel_size if kernel_size is None else kernel_size
        _check_width("in_channels", in_channels, self.max_channels)
        if out_channels not in (None, in_channels):
            raise ValueError(f"a depthwise conv has out_channels == in_channels ({in_channels}), got {out_channels!r}")
        conv = nn.Conv2d(in_channels, in_channels, kernel_size, self.stride, kernel_size // 2, groups=in_channels,
                         bias=False, **_factory(self.weight))
        with torch.no_grad():
            conv.weight.copy_(self.kernel(in_channels, kernel_size))
        return conv

    @torch.no_grad()
    def permute_channels(self, order: torch.Tensor) -> None:
        """Reorder the channels of the maximal weight by ``order`` (the transforms are shared)."""
        self.weight.copy_(self.weight[order])

    def extra_repr(self) -> str:
        return f"{self.max_channels}, kernel_sizes={self.kernel_sizes}, stride={self.stride}"


class ElasticBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` over the first ``C`` channels, ``C`` read from the input.

    Running statistics of the used channels are updated in place, with the usual
    ``momentum`` (or cumulative averaging when ``momentum is None``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        channels = x.shape[1]
        if channels > self.num_features:
            raise ValueError(f"input has {channels} channels, more than this layer's {self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(
            x,
            self.running_mean[:channels] if track and self.running_mean is not None else None,
            self.running_var[:channels] if track and self.running_var is not None else None,
            None if self.weight is None else self.weight[:channels],
            None if self.bias is None else self.bias[:channels],
            use_batch_stats,
            factor,
            self.eps,
        )

    def export(self, channels: int) -> nn.BatchNorm2d:
        """A plain ``nn.BatchNorm2d`` (same train/eval mode) with the first ``channels`` parameters and statistics copied."""
        _check_width("channels", channels, self.num_features)
        source = self.running_mean if self.running_mean is not None else self.weight
        bn = nn.BatchNorm2d(channels, self.eps, self.momentum, self.affine, self.track_running_stats, **_factory(source))
        with torch.no_grad():
            if self.affine:
                bn.weight.copy_(self.weight[:channels])
                bn.bias.copy_(self.bias[:channels])
            if self.track_running_stats:
                bn.running_mean.copy_(self.running_mean[:channels])
                bn.running_var.copy_(self.running_var[:channels])
                bn.num_batches_tracked.copy_(self.num_batches_tracked)
        bn.train(self.training)
        return bn

    @torch.no_grad()
    def permute_channels(self, order: torch.Tensor) -> None:
        """Reorder scale, shift and running statistics by ``order``."""
        for tensor in (self.weight, self.bias, self.running_mean, self.running_var):
            if tensor is not None:
                tensor.copy_(tensor[order])


class SqueezeExcite(nn.Module):
    """Static squeeze-excitation: mean pool, 1x1 reduce, ReLU, 1x1 expand, hard sigmoid gate."""

    def __init__(self, channels: int, mid_channels: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, mid_channels, 1, bias=True)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(mid_channels, channels, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = global_mean(x)
        scale = self.gate(self.expand(self.act(self.reduce(scale))))
        return x * scale


class ElasticSqueezeExcite(nn.Module):
    """Squeeze-excitation with elastic channels; the bottleneck is ``se_channels(C)`` for input width ``C``."""

    def __init__(self, max_channels: int, reduction: int = 4, divisor: int = 8):
        super().__init__()
        self.max_channels = max_channels
        self.reduction = reduction
        self.divisor = divisor
        max_mid = se_channels(max_channels, reduction, divisor)
        self.max_mid_channels = max_mid
        self.reduce_weight = nn.Parameter(torch.empty(max_mid, max_channels, 1, 1))
        self.reduce_bias = nn.Parameter(torch.zeros(max_mid))
        self.expand_weight = nn.Parameter(torch.empty(max_channels, max_mid, 1, 1))
        self.expand_bias = nn.Parameter(torch.zeros(max_channels))
        nn.init.kaiming_normal_(self.reduce_weight, mode="fan_out")
        nn.init.kaiming_normal_(self.expand_weight, mode="fan_out")

    def mid_channels(self, channels: int) -> int:
        return se_channels(channels, self.reduction, self.divisor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        mid = self.mid_channels(channels)
        scale = global_mean(x)
        scale = F.relu(F.conv2d(scale, self.reduce_weight[:mid, :channels], self.reduce_bias[:mid]))
        scale = F.hardsigmoid(F.conv2d(scale, self.expand_weight[:channels, :mid], self.expand_bias[:channels]))
        return x * scale

    def export(self, channels: int) -> SqueezeExcite:
        """A static :class:`SqueezeExcite` for ``channels`` input channels, weights copied."""
        _check_width("channels", channels, self.max_channels)
        mid = self.mid_channels(channels)
        se = SqueezeExcite(channels, mid).to(**_factory(self.reduce_weight))
        with torch.no_grad():
            se.reduce.weight.copy_(self.reduce_weight[:mid, :channels])
            se.reduce.bias.copy_(self.reduce_bias[:mid])
            se.expand.weight.copy_(self.expand_weight[:channels, :mid])
            se.expand.bias.copy_(self.expand_bias[:channels])
        return se

    @torch.no_grad()
    def permute_channels(self, order: torch.Tensor) -> None:
        """Reorder the gated (input/output) channels by ``order``."""
        self.reduce_weight.copy_(self.reduce_weight[:, order])
        self.expand_weight.copy_(self.expand_weight[order])
        self.expand_bias.copy_(self.expand_bias[order])

    @torch.no_grad()
    def sort_mid_channels(self) -> None:
        """Order the bottleneck channels by the L1 norm of their expand weights, largest first."""
        importance = self.expand_weight.abs().sum(dim=(0, 2, 3))
        order = torch.argsort(importance, descending=True, stable=True)
        self.reduce_weight.copy_(self.reduce_weight[order])
        self.reduce_bias.copy_(self.reduce_bias[order])
        self.expand_weight.copy_(self.expand_weight[:, order])

    def extra_repr(self) -> str:
        return f"{self.max_channels}, max_mid_channels={self.max_mid_channels}"


class ElasticLinear(nn.Module):
    """A linear layer with elastic input features (read from the input) and elastic outputs."""

    def __init__(self, max_in_features: int, max_out_features: int, bias: bool = True):
        super().__init__()
        self.max_in_features = max_in_features
        self.max_out_features = max_out_features
        reference = nn.Linear(max_in_features, max_out_features, bias=bias)
        self.weight = nn.Parameter(reference.weight.detach().clone())
        self.bias = nn.Parameter(reference.bias.detach().clone()) if bias else None
        self.active_out_features = max_out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_features, out_features = x.shape[-1], self.active_out_features
        bias = None if self.bias is None else self.bias[:out_features]
        return F.linear(x, self.weight[:out_features, :in_features], bias)

    def export(self, in_features: int, out_features: int | None = None) -> nn.Linear:
        """A plain ``nn.Linear`` with the first ``out x in`` weights copied."""
        out_features = self.active_out_features if out_features is None else out_features
        _check_width("in_features", in_features, self.max_in_features)
        _check_width("out_features", out_features, self.max_out_features)
        linear = nn.Linear(in_features, out_features, bias=self.bias is not None, **_factory(self.weight))
        with torch.no_grad():
            linear.weight.copy_(self.weight[:out_features, :in_features])
            if self.bias is not None:
                linear.bias.copy_(self.bias[:out_features])
        return linear

    def extra_repr(self) -> str:
        return f"{self.max_in_features}, {self.max_out_features}, bias={self.bias is not None}"
