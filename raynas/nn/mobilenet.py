"""The elastic MobileNet supernet (once-for-all / BigNAS style) and its building blocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from raynas.checks import check_float
from raynas.errors import ConfigError
from raynas.nn.ops import (
    ElasticBatchNorm2d,
    ElasticConv2d,
    ElasticDepthwiseConv2d,
    ElasticLinear,
    ElasticSqueezeExcite,
    export_activation,
    global_mean,
)
from raynas.nn.specs import ACTIVATIONS, BlockPlan, MobileNetArch, MobileNetSpec, StageSpec
from raynas.nn.static import InvertedResidual, MobileNet
from raynas.nn.supernet import Supernet

__all__ = ["ElasticLayers", "ElasticConvNormAct", "ElasticInvertedResidual", "ElasticMobileNet"]


@dataclass(frozen=True)
class ElasticLayers:
    """The layer constructors an :class:`ElasticMobileNet` is built from.

    Each constructor is called with the maximal sizes:
    ``conv(max_in, max_out, kernel_size, stride)``, ``depthwise(max_channels, kernel_sizes, stride)``,
    ``norm(max_channels, eps=...)``, ``se(max_channels)``, ``linear(max_in, max_out)``, and
    ``activations[name]()``. Replacements must offer the same ``export``/``permute_*`` methods.
    """

    conv: Callable[..., nn.Module] = ElasticConv2d
    depthwise: Callable[..., nn.Module] = ElasticDepthwiseConv2d
    norm: Callable[..., nn.Module] = ElasticBatchNorm2d
    se: Callable[..., nn.Module] = ElasticSqueezeExcite
    linear: Callable[..., nn.Module] = ElasticLinear
    activations: Mapping[str, Callable[[], nn.Module]] = field(default_factory=lambda: dict(ACTIVATIONS))

    def activation(self, name: str | None) -> nn.Module | None:
        if name is None:
            return None
        if name not in self.activations:
            raise ConfigError(f"unknown activation {name!r}; available: {sorted(self.activations)}")
        return self.activations[name]()


class ElasticConvNormAct(nn.Module):
    """An elastic conv followed by an optional elastic BatchNorm and an optional activation."""

    def __init__(self, conv: nn.Module, norm: nn.Module | None = None, activation: nn.Module | None = None):
        super().__init__()
        self.conv = conv
        self.norm = norm
        self.act = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x

    def export(self, in_channels: int, out_channels: int | None = None, kernel_size: int | None = None) -> nn.Sequential:
        """``nn.Sequential(conv[, bn][, act])`` with copied weights."""
        conv = self.conv.export(in_channels, out_channels, kernel_size)
        layers: list[nn.Module] = [conv]
        if self.norm is not None:
            layers.append(self.norm.export(conv.out_channels))
        if self.act is not None:
            layers.append(export_activation(self.act))
        return nn.Sequential(*layers)


class ElasticInvertedResidual(nn.Module):
    """An inverted residual (MobileNetV2/V3) with elastic kernel, expand ratio and widths.

    ``expand`` (1x1, absent when the only expand ratio is 1) -> ``depthwise`` -> optional
    ``se`` -> ``project`` (1x1, no activation) [+ input when ``residual``].
    """

    def __init__(
        self,
        max_in_channels: int,
        max_hidden_channels: int,
        max_out_channels: int,
        kernel_sizes: tuple[int, ...],
        stride: int,
        activation: str,
        se: bool,
        has_expand: bool,
        residual: bool,
        layers: ElasticLayers,
        bn_eps: float = 1e-5,
    ):
        super().__init__()
        if not has_expand and max_hidden_channels != max_in_channels:
            raise ConfigError("a block without expansion conv has hidden width == input width")
        self.expand = (
            ElasticConvNormAct(
                layers.conv(max_in_channels, max_hidden_channels, 1, 1),
                layers.norm(max_hidden_channels, eps=bn_eps),
                layers.activation(activation),
            )
            if has_expand
            else None
        )
        self.depthwise = ElasticConvNormAct(
            layers.depthwise(max_hidden_channels, kernel_sizes, stride),
            layers.norm(max_hidden_channels, eps=bn_eps),
            layers.activation(activation),
        )
        self.se = layers.se(max_hidden_channels) if se else None
        self.project = ElasticConvNormAct(
            layers.conv(max_hidden_channels, max_out_channels, 1, 1), layers.norm(max_out_channels, eps=bn_eps), None
        )
        self.residual = residual

    def _activate(self, plan: BlockPlan) -> None:
        # Called only from ElasticMobileNet._activate (i.e. Supernet.set_active).
        if self.expand is not None:
            self.expand.conv.active_out_channels = plan.hidden_channels
        self.depthwise.conv.active_kernel_size = plan.kernel_size
        self.project.conv.active_out_channels = plan.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.depthwise(out)
        if self.se is not None:
            out = self.se(out)
        out = self.project(out)
        if self.residual:
            out = out + x
        return out

    def export(self, plan: BlockPlan) -> InvertedResidual:
        """A static :class:`~raynas.nn.InvertedResidual` for ``plan``, weights copied."""
        expand = None
        if self.expand is not None:
            expand = self.expand.export(plan.in_channels, plan.hidden_channels)
        depthwise = self.depthwise.export(plan.hidden_channels, plan.hidden_channels, plan.kernel_size)
        se = None if self.se is None else self.se.export(plan.hidden_channels)
        project = self.project.export(plan.hidden_channels, plan.out_channels)
        return InvertedResidual(expand, depthwise, se, project, self.residual)

    @torch.no_grad()
    def sort_hidden_channels(self) -> None:
        """Reorder the expanded channels by the L1 norm of the projection weights, largest first.

        All layers that share the hidden channels (expand conv and BN, depthwise conv and BN,
        squeeze-excitation, projection conv) are permuted together, so the block's function
        with all channels active is unchanged.
        """
        if self.expand is None:
            return
        order = torch.argsort(self.project.conv.in_channel_importance(), descending=True, stable=True)
        self.project.conv.permute_in_channels(order)
        if self.se is not None:
            self.se.permute_channels(order)
            self.se.sort_mid_channels()
        self.depthwise.norm.permute_channels(order)
        self.depthwise.conv.permute_channels(order)
        self.expand.norm.permute_channels(order)
        self.expand.conv.permute_out_channels(order)


class ElasticMobileNet(Supernet):
    """A MobileNet-family supernet: elastic resolution, widths, depth, kernel sizes and expand ratios.

    Forward: resize the input to the active resolution (bilinear, ``align_corners=False``,
    no antialiasing) when its spatial size differs, stem, optional fixed first block, the
    first ``depth`` blocks of every stage, head convs, global mean pool (``x.mean(3).mean(2)``,
    once-for-all's order), pooled convs, dropout (train mode, largest child), linear classifier.

    Args:
        space: the search space; it must offer ``canonical(arch)``, ``largest()`` and
            ``decode(arch) -> MobileNetArch``.
        spec: the structure (stages, stem, head).
        num_classes: classifier outputs.
        layers: the elastic layer constructors.
    """

    def __init__(self, space: Any, spec: MobileNetSpec, num_classes: int = 10, *, layers: ElasticLayers | None = None):
        super().__init__(space, num_classes)
        if not isinstance(spec, MobileNetSpec):
            raise ConfigError(f"spec must be a MobileNetSpec, got {type(spec).__name__}")
        layers = ElasticLayers() if layers is None else layers
        self.spec = spec
        width = spec.stem_widths[-1]
        self.stem = ElasticConvNormAct(
            layers.conv(spec.in_channels, width, spec.stem_kernel_size, spec.stem_stride),
            layers.norm(width, eps=spec.bn_eps),
            layers.activation(spec.stem_activation),
        )
        self.first_block = None
        if spec.first_block is not None:
            self.first_block = self._make_block(spec, 0, 0, spec.first_block, width, layers)
            width = spec.first_block.widths[-1]
        self.stages = nn.ModuleList()
        for stage_index, stage in enumerate(spec.stages, start=1):
            blocks = nn.ModuleList()
            for index in range(stage.max_depth):
                blocks.append(self._make_block(spec, stage_index, index, stage, width, layers))
                width = stage.widths[-1]
            self.stages.append(blocks)
        self.head = nn.ModuleList()
        for widths in spec.head_widths:
            self.head.append(
                ElasticConvNormAct(
                    layers.conv(width, widths[-1], 1, 1),
                    layers.norm(widths[-1], eps=spec.bn_eps),
                    layers.activation(spec.head_activation),
                )
            )
            width = widths[-1]
        self.pooled = nn.ModuleList()
        for widths in spec.pooled_widths:
            self.pooled.append(
                ElasticConvNormAct(layers.conv(width, widths[-1], 1, 1), None, layers.activation(spec.head_activation))
            )
            width = widths[-1]
        self.classifier = layers.linear(width, num_classes)
        self._resolution = 0
        self._depths: tuple[int, ...] = ()
        self.set_active(space.largest())

    @staticmethod
    def _make_block(
        spec: MobileNetSpec, stage_index: int, index: int, stage: StageSpec, in_width: int, layers: ElasticLayers
    ) -> ElasticInvertedResidual:
        first_hidden, other_hidden = spec.max_hidden_channels(stage_index)
        return ElasticInvertedResidual(
            max_in_channels=in_width,
            max_hidden_channels=first_hidden if index == 0 else other_hidden,
            max_out_channels=stage.widths[-1],
            kernel_sizes=stage.kernel_sizes,
            stride=stage.stride if index == 0 else 1,
            activation=stage.activation,
            se=stage.se,
            has_expand=stage.has_expand,
            residual=spec.residual(stage_index, index),
            layers=layers,
            bn_eps=spec.bn_eps,
        )

    # -- activation --------------------------------------------------------------------------
    def _blocks_of(self, plans: tuple[BlockPlan, ...]) -> list[tuple[ElasticInvertedResidual, BlockPlan]]:
        out = []
        for plan in plans:
            block = self.first_block if plan.stage == 0 else self.stages[plan.stage - 1][plan.index]
            out.append((block, plan))
        return out

    def _activate(self, arch: dict[str, Any]) -> None:
        config: MobileNetArch = self.space.decode(arch)
        plans = self.spec.plan(config)
        self.stem.conv.active_out_channels = config.stem_width
        for block, plan in self._blocks_of(plans):
            block._activate(plan)
        for conv, width in zip(self.head, config.head_widths):
            conv.conv.active_out_channels = width
        for conv, width in zip(self.pooled, config.pooled_widths):
            conv.conv.active_out_channels = width
        self._resolution = config.resolution
        self._depths = tuple(stage.depth for stage in config.stages)

    # -- forward -----------------------------------------------------------------------------
    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """Resize to the active resolution, stem, and the fixed first block."""
        size = self._resolution
        if x.shape[-2] != size or x.shape[-1] != size:
            x = F.interpolate(x, size=[size, size], mode="bilinear", align_corners=False, antialias=False)
        x = self.stem(x)
        if self.first_block is not None:
            x = self.first_block(x)
        return x

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """The active blocks of stage ``index`` (0-based)."""
        for block in self.stages[index][: self._depths[index]]:
            x = block(x)
        return x

    def forward_head(self, x: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
        """Head convs, global mean pool, pooled convs, dropout (train mode only), classifier."""
        for conv in self.head:
            x = conv(x)
        x = global_mean(x)
        for conv in self.pooled:
            x = conv(x)
        x = torch.flatten(x, 1)
        if self.training and dropout > 0:
            x = F.dropout(x, dropout, training=True)
        return self.classifier(x)

    def forward(self, x: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
        """Logits of the active subnet; ``dropout`` applies before the classifier in train mode only."""
        check_float(None, "dropout", dropout, low=0.0, high=1.0, high_open=True)
        x = self.forward_stem(x)
        for index in range(len(self.stages)):
            x = self.forward_stage(index, x)
        return self.forward_head(x, dropout)

    # -- export ------------------------------------------------------------------------------
    def extract(self, arch: Mapping[str, Any] | None = None) -> MobileNet:
        """A standalone :class:`~raynas.nn.MobileNet` (eval mode) with weights copied for ``arch``.

        ``arch`` defaults to the active architecture; the active one is not changed. The
        subnet's parameters and buffers have the supernet's dtype and device.
        """
        arch = self.active_arch if arch is None else self.space.canonical(arch)
        config: MobileNetArch = self.space.decode(arch)
        plans = self.spec.plan(config)
        stem = self.stem.export(self.spec.in_channels, config.stem_width)
        blocks = [block.export(plan) for block, plan in self._blocks_of(plans)]
        width = plans[-1].out_channels
        head = []
        for conv, out in zip(self.head, config.head_widths):
            head.append(conv.export(width, out))
            width = out
        pooled = []
        for conv, out in zip(self.pooled, config.pooled_widths):
            pooled.append(conv.export(width, out))
            width = out
        classifier = self.classifier.export(width, self.num_classes)
        return MobileNet(config.resolution, stem, blocks, head, pooled, classifier).eval()

    # -- training helpers --------------------------------------------------------------------
    def _all_blocks(self) -> list[ElasticInvertedResidual]:
        blocks = [] if self.first_block is None else [self.first_block]
        for stage in self.stages:
            blocks.extend(stage)
        return blocks

    @torch.no_grad()
    def sort_channels(self) -> None:
        """Sort the expanded channels of every inverted residual by L1 importance (once-for-all).

        The largest subnet computes the same function before and after.
        """
        for block in self._all_blocks():
            block.sort_hidden_channels()

    @torch.no_grad()
    def zero_init_residual(self) -> None:
        """Zero the projection BatchNorm scale of every residual block (BigNAS), so it starts as identity."""
        for block in self._all_blocks():
            if block.residual and block.project.norm is not None and block.project.norm.weight is not None:
                block.project.norm.weight.zero_()
