"""Declarative descriptions of MobileNet-family supernets and of one active subnet.

:class:`StageSpec` and :class:`MobileNetSpec` describe the supernet (the choices per
stage); :class:`MobileNetArch` describes one subnet; :meth:`MobileNetSpec.plan` turns a
subnet into the list of its inverted-residual blocks with every width resolved.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from torch import nn

from raynas.errors import ConfigError
from raynas.nn.ops import hidden_channels

__all__ = ["ACTIVATIONS", "StageSpec", "MobileNetSpec", "StageArch", "MobileNetArch", "BlockPlan"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "hswish": nn.Hardswish,
    "swish": nn.SiLU,
}
"""Activation names accepted by :class:`StageSpec` and :class:`MobileNetSpec`."""


def _int_tuple(owner: str, name: str, value: Any, *, odd: bool = False) -> tuple[int, ...]:
    values = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ConfigError(f"{owner}.{name} must be an int or a sequence of ints, got {value!r}")
    values = tuple(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ConfigError(f"{owner}.{name} must be a non-empty sequence of positive ints, got {value!r}")
    if list(values) != sorted(set(values)):
        raise ConfigError(f"{owner}.{name} must be strictly increasing, got {value!r}")
    if odd and any(v % 2 == 0 for v in values):
        raise ConfigError(f"{owner}.{name} must hold odd kernel sizes, got {value!r}")
    return values


def _check_activation(owner: str, name: str, value: Any) -> None:
    if value not in ACTIVATIONS:
        raise ConfigError(f"{owner}.{name} must be one of {sorted(ACTIVATIONS)}, got {value!r}")


def _check_stride(owner: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{owner}.stride must be a positive int, got {value!r}")


@dataclass(frozen=True)
class StageSpec:
    """One stage of inverted-residual blocks and its choices.

    Args:
        widths: output channels of every block of the stage (one value = fixed width).
        depths: numbers of blocks (the first ``depth`` blocks run).
        kernel_sizes: depthwise kernel sizes per block (odd, increasing).
        expand_ratios: hidden-width multipliers per block; ``(1,)`` means no expansion conv.
        stride: stride of the first block.
        activation: one of :data:`ACTIVATIONS`.
        se: squeeze-excitation in every block.
    """

    widths: tuple[int, ...]
    depths: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    expand_ratios: tuple[int, ...]
    stride: int = 1
    activation: str = "relu"
    se: bool = False

    def __post_init__(self) -> None:
        owner = "StageSpec"
        object.__setattr__(self, "widths", _int_tuple(owner, "widths", self.widths))
        object.__setattr__(self, "depths", _int_tuple(owner, "depths", self.depths))
        object.__setattr__(self, "kernel_sizes", _int_tuple(owner, "kernel_sizes", self.kernel_sizes, odd=True))
        object.__setattr__(self, "expand_ratios", _int_tuple(owner, "expand_ratios", self.expand_ratios))
        _check_stride(owner, self.stride)
        _check_activation(owner, "activation", self.activation)
        if not isinstance(self.se, bool):
            raise ConfigError(f"StageSpec.se must be a bool, got {self.se!r}")

    @property
    def max_depth(self) -> int:
        return self.depths[-1]

    @property
    def has_expand(self) -> bool:
        """Whether blocks have a 1x1 expansion conv (any expand ratio other than 1)."""
        return self.expand_ratios != (1,)

    @property
    def fixed(self) -> bool:
        """True when every choice has one value."""
        return all(len(v) == 1 for v in (self.widths, self.depths, self.kernel_sizes, self.expand_ratios))

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` (lists for tuples) that :meth:`from_dict` accepts."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | "StageSpec") -> "StageSpec":
        """Build from a mapping; unknown keys raise :class:`~raynas.errors.ConfigError` listing the valid ones."""
        if isinstance(data, StageSpec):
            return data
        if not isinstance(data, Mapping):
            raise ConfigError(f"a stage must be a StageSpec or a dict, got {type(data).__name__}")
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in data if k not in valid]
        if unknown:
            raise ConfigError(f"unknown StageSpec key {unknown[0]!r}; valid keys: {valid}")
        return cls(**dict(data))


@dataclass(frozen=True)
class StageArch:
    """One stage of a subnet: its width and the kernel size / expand ratio of each active block."""

    width: int
    kernel_sizes: tuple[int, ...]
    expand_ratios: tuple[int, ...]

    @property
    def depth(self) -> int:
        return len(self.kernel_sizes)


@dataclass(frozen=True)
class MobileNetArch:
    """One subnet of a :class:`MobileNetSpec` supernet, every choice resolved."""

    resolution: int
    stem_width: int
    stages: tuple[StageArch, ...]
    head_widths: tuple[int, ...] = ()
    pooled_widths: tuple[int, ...] = ()


@dataclass(frozen=True)
class BlockPlan:
    """One active inverted-residual block with its widths resolved.

    ``stage`` is 0 for the fixed first block and 1.. for the elastic stages; ``index`` is
    the block's position in its stage.
    """

    stage: int
    index: int
    in_channels: int
    hidden_channels: int
    out_channels: int
    kernel_size: int
    expand_ratio: int
    stride: int
    activation: str
    se: bool
    has_expand: bool
    residual: bool


def _width_tuples(owner: str, name: str, value: Any) -> tuple[tuple[int, ...], ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigError(f"{owner}.{name} must be a sequence of widths (ints or tuples of ints), got {value!r}")
    return tuple(_int_tuple(owner, f"{name}[{i}]", v) for i, v in enumerate(value))


@dataclass(frozen=True)
class MobileNetSpec:
    """The structure of a MobileNet-family supernet.

    ``stem -> [first_block] -> stages -> head convs (1x1, BN, act) -> global mean pool ->
    pooled convs (1x1, act, no BN) -> [dropout] -> linear classifier``.

    Args:
        stages: the elastic stages.
        in_channels: channels of the input images.
        stem_widths: output channels of the stem conv (one value = fixed).
        stem_stride, stem_kernel_size, stem_activation: the stem conv.
        first_block: an optional fixed inverted residual between stem and stages, given as a
            :class:`StageSpec` with one value per choice and depth 1 (once-for-all has one).
        head_widths: widths of the 1x1 convs before pooling; each an int or a tuple of choices.
        pooled_widths: widths of the 1x1 convs after pooling; each an int or a tuple of choices.
        head_activation: activation of the head and pooled convs.
        bn_eps: the ``eps`` of every BatchNorm (once-for-all: 1e-5 for MobileNetV3, 1e-3 for
            ProxylessNAS).
    """

    stages: tuple[StageSpec, ...]
    in_channels: int = 3
    stem_widths: tuple[int, ...] = (16,)
    stem_stride: int = 2
    stem_kernel_size: int = 3
    stem_activation: str = "hswish"
    first_block: StageSpec | None = None
    head_widths: tuple[tuple[int, ...], ...] = ()
    pooled_widths: tuple[tuple[int, ...], ...] = ()
    head_activation: str = "hswish"
    bn_eps: float = 1e-5

    def __post_init__(self) -> None:
        owner = "MobileNetSpec"
        if isinstance(self.bn_eps, bool) or not isinstance(self.bn_eps, (int, float)) or not 0 < self.bn_eps < 1:
            raise ConfigError(f"{owner}.bn_eps must be a number in (0, 1), got {self.bn_eps!r}")
        object.__setattr__(self, "bn_eps", float(self.bn_eps))
        if isinstance(self.stages, (str, bytes, Mapping)) or not isinstance(self.stages, Sequence) or not self.stages:
            raise ConfigError(f"{owner}.stages must be a non-empty sequence of StageSpec, got {self.stages!r}")
        object.__setattr__(self, "stages", tuple(StageSpec.from_dict(s) for s in self.stages))
        if isinstance(self.in_channels, bool) or not isinstance(self.in_channels, int) or self.in_channels < 1:
            raise ConfigError(f"{owner}.in_channels must be a positive int, got {self.in_channels!r}")
        object.__setattr__(self, "stem_widths", _int_tuple(owner, "stem_widths", self.stem_widths))
        _check_stride(owner, self.stem_stride)
        _int_tuple(owner, "stem_kernel_size", self.stem_kernel_size, odd=True)
        _check_activation(owner, "stem_activation", self.stem_activation)
        _check_activation(owner, "head_activation", self.head_activation)
        if self.first_block is not None:
            first = StageSpec.from_dict(self.first_block)
            if not first.fixed or first.depths != (1,):
                raise ConfigError(
                    f"{owner}.first_block must have one value per choice and depths (1,), got {first!r}"
                )
            object.__setattr__(self, "first_block", first)
        object.__setattr__(self, "head_widths", _width_tuples(owner, "head_widths", self.head_widths))
        object.__setattr__(self, "pooled_widths", _width_tuples(owner, "pooled_widths", self.pooled_widths))

    def input_widths(self, stage: int) -> tuple[int, ...]:
        """Possible input widths of stage ``stage`` (0 = the first block, 1.. = elastic stages)."""
        if stage <= 0:
            return self.stem_widths
        if stage == 1:
            return self.first_block.widths if self.first_block is not None else self.stem_widths
        return self.stages[stage - 2].widths

    def residual(self, stage: int, index: int) -> bool:
        """Whether block ``index`` of ``stage`` has an identity shortcut (for every subnet)."""
        spec = self.first_block if stage == 0 else self.stages[stage - 1]
        if index > 0:
            return True
        inputs = self.input_widths(stage)
        return spec.stride == 1 and len(inputs) == 1 and inputs == spec.widths

    def max_hidden_channels(self, stage: int) -> tuple[int, int]:
        """Maximal hidden width of (the first block, the other blocks) of ``stage``."""
        spec = self.first_block if stage == 0 else self.stages[stage - 1]
        first_in, other_in = self.input_widths(stage)[-1], spec.widths[-1]
        if not spec.has_expand:
            return first_in, other_in
        ratio = spec.expand_ratios[-1]
        return hidden_channels(first_in, ratio), hidden_channels(other_in, ratio)

    def plan(self, arch: MobileNetArch) -> tuple[BlockPlan, ...]:
        """Every active block of ``arch`` in order, with input/hidden/output widths resolved."""
        if len(arch.stages) != len(self.stages):
            raise ConfigError(f"arch has {len(arch.stages)} stages, the spec has {len(self.stages)}")
        blocks: list[BlockPlan] = []
        width = arch.stem_width
        specs: list[tuple[int, StageSpec, StageArch]] = []
        if self.first_block is not None:
            first = self.first_block
            specs.append((0, first, StageArch(first.widths[0], first.kernel_sizes, first.expand_ratios)))
        specs.extend((i + 1, spec, stage) for i, (spec, stage) in enumerate(zip(self.stages, arch.stages)))
        for stage_index, spec, stage in specs:
            if stage.width not in spec.widths or stage.depth not in spec.depths:
                raise ConfigError(
                    f"stage {stage_index}: width {stage.width} / depth {stage.depth} not in "
                    f"{spec.widths} / {spec.depths}"
                )
            for index, (kernel_size, ratio) in enumerate(zip(stage.kernel_sizes, stage.expand_ratios)):
                if kernel_size not in spec.kernel_sizes or ratio not in spec.expand_ratios:
                    raise ConfigError(
                        f"stage {stage_index} block {index}: kernel {kernel_size} / expand {ratio} not in "
                        f"{spec.kernel_sizes} / {spec.expand_ratios}"
                    )
                hidden = hidden_channels(width, ratio) if spec.has_expand else width
                blocks.append(
                    BlockPlan(
                        stage=stage_index,
                        index=index,
                        in_channels=width,
                        hidden_channels=hidden,
                        out_channels=stage.width,
                        kernel_size=kernel_size,
                        expand_ratio=ratio,
                        stride=spec.stride if index == 0 else 1,
                        activation=spec.activation,
                        se=spec.se,
                        has_expand=spec.has_expand,
                        residual=self.residual(stage_index, index),
                    )
                )
                width = stage.width
        return tuple(blocks)
