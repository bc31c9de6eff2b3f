"""Cutting a MobileNet-family subnet into the layers a latency table times: stem, blocks, head.

A layer is identified by everything that decides its cost: the input resolution, the
widths, the kernel size, the expand ratio and the stride, plus the stage and block index
(which fix the activation, squeeze-excitation and shortcut). The same layer appears in
many subnets, so a table of these layers predicts every subnet of the space.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping

from raynas.errors import ConfigError

__all__ = ["LayerConfig", "subnet_layers", "space_layers", "check_mobilenet_space"]

KINDS = ("stem", "block", "head")


@dataclass(frozen=True)
class LayerConfig:
    """One timed layer of a subnet.

    ``kind`` is ``"stem"`` (conv, BN, activation), ``"block"`` (one inverted residual) or
    ``"head"`` (head convs, global pooling, pooled convs and the classifier).
    ``resolution`` is the layer's input height (= width).
    """

    kind: str
    resolution: int
    in_channels: int
    out_channels: int
    kernel_size: int = 0
    stride: int = 1
    stage: int = -1
    index: int = -1
    expand_ratio: int = 0
    head_widths: tuple[int, ...] = ()
    pooled_widths: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"LayerConfig.kind must be one of {list(KINDS)}, got {self.kind!r}")

    @property
    def key(self) -> str:
        """The table key, e.g. ``block|s2.b0|r12|in16|out24|k5|e4|st2``."""
        if self.kind == "stem":
            return f"stem|r{self.resolution}|in{self.in_channels}|out{self.out_channels}|k{self.kernel_size}|st{self.stride}"
        if self.kind == "block":
            return (
                f"block|s{self.stage}.b{self.index}|r{self.resolution}|in{self.in_channels}|out{self.out_channels}"
                f"|k{self.kernel_size}|e{self.expand_ratio}|st{self.stride}"
            )
        head = "-".join(map(str, self.head_widths)) or "none"
        pooled = "-".join(map(str, self.pooled_widths)) or "none"
        return f"head|r{self.resolution}|in{self.in_channels}|head{head}|pooled{pooled}|cls{self.out_channels}"


def _conv_out(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


def check_mobilenet_space(space: Any) -> None:
    """Raise :class:`ConfigError` unless ``space`` is a MobileNet-family space (``spec``, ``decode``)."""
    if not all(hasattr(space, name) for name in ("spec", "decode", "resolutions", "num_classes")):
        raise ConfigError(
            f"latency tables cover MobileNet-family spaces (with a spec, decode() and resolutions); "
            f"space {getattr(space, 'name', type(space).__name__)!r} is not one"
        )


def subnet_layers(space: Any, arch: Mapping[str, Any]) -> list[LayerConfig]:
    """The layers of the subnet ``arch`` in forward order: stem, every active block, head."""
    check_mobilenet_space(space)
    spec = space.spec
    config = space.decode(arch)
    size = config.resolution
    layers = [
        LayerConfig("stem", size, spec.in_channels, config.stem_width, spec.stem_kernel_size, spec.stem_stride)
    ]
    size = _conv_out(size, spec.stem_stride)
    width = config.stem_width
    for block in spec.plan(config):
        layers.append(
            LayerConfig(
                "block", size, block.in_channels, block.out_channels, block.kernel_size, block.stride,
                stage=block.stage, index=block.index, expand_ratio=block.expand_ratio,
            )
        )
        size = _conv_out(size, block.stride)
        width = block.out_channels
    layers.append(
        LayerConfig("head", size, width, space.num_classes, head_widths=tuple(config.head_widths),
                    pooled_widths=tuple(config.pooled_widths))
    )
    return layers


def space_layers(space: Any) -> list[LayerConfig]:
    """Every distinct layer of every subnet of ``space``, in a fixed order.

    The spatial size at a block depends only on the resolution (strides sit on the first
    block of a stage, which every subnet has), so the layers are enumerated per resolution
    without enumerating subnets.
    """
    check_mobilenet_space(space)
    spec = space.spec
    stages = ([(0, spec.first_block)] if spec.first_block is not None else []) + list(enumerate(spec.stages, start=1))
    out: dict[str, LayerConfig] = {}

    def add(layer: LayerConfig) -> None:
        out.setdefault(layer.key, layer)

    for resolution in space.resolutions:
        for width in spec.stem_widths:
            add(LayerConfig("stem", resolution, spec.in_channels, width, spec.stem_kernel_size, spec.stem_stride))
        size = _conv_out(resolution, spec.stem_stride)
        for stage_index, stage in stages:
            for index in range(stage.max_depth):
                stride = stage.stride if index == 0 else 1
                inputs = spec.input_widths(stage_index) if index == 0 else stage.widths
                for in_width, out_width, kernel, ratio in itertools.product(
                    inputs, stage.widths, stage.kernel_sizes, stage.expand_ratios
                ):
                    add(LayerConfig("block", size, in_width, out_width, kernel, stride,
                                    stage=stage_index, index=index, expand_ratio=ratio))
                size = _conv_out(size, stride)
        for in_width in spec.stages[-1].widths:
            for head in itertools.product(*spec.head_widths):
                for pooled in itertools.product(*spec.pooled_widths):
                    add(LayerConfig("head", size, in_width, space.num_classes, head_widths=tuple(head),
                                    pooled_widths=tuple(pooled)))
    return list(out.values())
