"""MobileNet-family search spaces: elastic resolution, stage widths and depths, per-block kernel and expand ratio.

Keys, in order: ``"resolution"``; ``"stem.width"`` when the stem has several widths; then
per stage ``i`` (1-based) ``"s{i}.width"`` (only when the stage has several widths),
``"s{i}.depth"`` and, per block ``b`` in ``0..max_depth-1``, ``"s{i}.b{b}.kernel"`` and
``"s{i}.b{b}.expand"``; last ``"head{j}.width"`` (1-based over head then pooled convs)
for head convs with several widths. Blocks at or past a stage's depth are inactive.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

from raynas.checks import check_positive_int
from raynas.errors import ConfigError, InvalidArchitecture
from raynas.nn import ElasticMobileNet, MobileNetArch, MobileNetSpec, StageArch, StageSpec, se_channels
from search_spaces._base import Arch, SearchSpace

__all__ = ["MobileNetSpace", "StageSpec"]

_CACHE_SIZE = 1 << 16


def _positive_ints(name: str, value: Any) -> tuple[int, ...]:
    values = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"{name} must be a non-empty sequence of positive ints, got {value!r}")
    values = tuple(values)
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ConfigError(f"{name} must be a non-empty sequence of positive ints, got {value!r}")
    if list(values) != sorted(set(values)):
        raise ConfigError(f"{name} must be strictly increasing, got {value!r}")
    return values


def _conv_out(size: int, stride: int) -> int:
    """Spatial output of a conv with an odd kernel k, padding k // 2 and ``stride``."""
    return (size - 1) // stride + 1


class MobileNetSpace(SearchSpace):
    """A space of MobileNet subnets over an :class:`~raynas.nn.ElasticMobileNet` supernet.

    Args:
        stages: the elastic stages (:class:`~raynas.nn.StageSpec` or dicts of its fields).
        resolutions: input resolutions to choose from (increasing).
        in_channels, stem_widths, stem_stride, stem_kernel_size, stem_activation,
        first_block, head_widths, pooled_widths, head_activation, bn_eps: see
            :class:`~raynas.nn.MobileNetSpec`.
        num_classes: classifier outputs counted by :meth:`flops` and :meth:`params`, and
            the default of :meth:`build_supernet`.
        name: the registry name.

    ``flops(arch)`` is what ``torch.utils.flop_counter.FlopCounterMode`` counts for the
    extracted subnet on one input of :meth:`input_shape` (2 x multiply-accumulates of
    convolutions and the classifier); ``params(arch)`` is its parameter count.
    """

    def __init__(
        self,
        stages: Sequence[StageSpec | Mapping[str, Any]],
        *,
        resolutions: Sequence[int],
        in_channels: int = 3,
        stem_widths: int | Sequence[int] = (16,),
        stem_stride: int = 2,
        stem_kernel_size: int = 3,
        stem_activation: str = "hswish",
        first_block: StageSpec | Mapping[str, Any] | None = None,
        head_widths: Sequence[int | Sequence[int]] = (),
        pooled_widths: Sequence[int | Sequence[int]] = (),
        head_activation: str = "hswish",
        bn_eps: float = 1e-5,
        num_classes: int = 10,
        name: str = "mobilenet",
    ):
        spec = MobileNetSpec(
            stages=stages,
            in_channels=in_channels,
            stem_widths=stem_widths,
            stem_stride=stem_stride,
            stem_kernel_size=stem_kernel_size,
            stem_activation=stem_activation,
            first_block=first_block,
            head_widths=head_widths,
            pooled_widths=pooled_widths,
            head_activation=head_activation,
            bn_eps=bn_eps,
        )
        resolutions = _positive_ints("resolutions", resolutions)
        check_positive_int(None, "num_classes", num_classes)
        self.spec = spec
        self.resolutions = resolutions
        self.num_classes = num_classes

        choices: dict[str, tuple] = {"resolution": resolutions}
        groups: list[list[str]] = [["resolution"]]
        self._stem_key = None
        if len(spec.stem_widths) > 1:
            self._stem_key = "stem.width"
            choices["stem.width"] = spec.stem_widths
            groups[0].append("stem.width")
        self._stage_keys: list[tuple[str | None, str, tuple[str, ...], tuple[str, ...]]] = []
        for i, stage in enumerate(spec.stages, start=1):
            group = groups[0] if i == 1 else []
            width_key = None
            if len(stage.widths) > 1:
                width_key = f"s{i}.width"
                choices[width_key] = stage.widths
                group.append(width_key)
            choices[f"s{i}.depth"] = stage.depths
            group.append(f"s{i}.depth")
            kernel_keys, expand_keys = [], []
            for b in range(stage.max_depth):
                kernel_keys.append(f"s{i}.b{b}.kernel")
                expand_keys.append(f"s{i}.b{b}.expand")
                choices[kernel_keys[-1]] = stage.kernel_sizes
                choices[expand_keys[-1]] = stage.expand_ratios
                group += [kernel_keys[-1], expand_keys[-1]]
            self._stage_keys.append((width_key, f"s{i}.depth", tuple(kernel_keys), tuple(expand_keys)))
            if i > 1:
                groups.append(group)
        self._head_keys: list[str | None] = []
        for j, widths in enumerate(spec.head_widths + spec.pooled_widths, start=1):
            key = f"head{j}.width" if len(widths) > 1 else None
            if key is not None:
                choices[key] = widths
                groups[-1].append(key)
            self._head_keys.append(key)
        self._groups = groups

        kwargs = {
            "stages": [s.to_dict() for s in spec.stages],
            "resolutions": list(resolutions),
            "in_channels": spec.in_channels,
            "stem_widths": list(spec.stem_widths),
            "stem_stride": spec.stem_stride,
            "stem_kernel_size": spec.stem_kernel_size,
            "stem_activation": spec.stem_activation,
            "first_block": None if spec.first_block is None else spec.first_block.to_dict(),
            "head_widths": [list(w) for w in spec.head_widths],
            "pooled_widths": [list(w) for w in spec.pooled_widths],
            "head_activation": spec.head_activation,
            "bn_eps": spec.bn_eps,
            "num_classes": num_classes,
        }
        super().__init__(choices, name=name, kwargs=kwargs)
        self._key_order = tuple(self._choices)
        self._make_cache()

    # -- pickling: the cost cache is rebuilt, not shipped --------------------------------------
    def _make_cache(self) -> None:
        self._costs = functools.lru_cache(maxsize=_CACHE_SIZE)(self._compute_costs)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_costs", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._make_cache()

    # -- structure -----------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of distinct canonical architectures (closed form)."""
        total = len(self.resolutions) * len(self.spec.stem_widths)
        for widths in self.spec.head_widths + self.spec.pooled_widths:
            total *= len(widths)
        for stage in self.spec.stages:
            per_block = len(stage.kernel_sizes) * len(stage.expand_ratios)
            total *= len(stage.widths) * sum(per_block**depth for depth in stage.depths)
        return total

    def blocks(self) -> list[list[str]]:
        """One key group per stage; the first also holds resolution (and stem width), the last the head widths."""
        return [list(g) for g in self._groups]

    def canonical(self, arch: Mapping[str, Any]) -> Arch:
        """The validated architecture with every block past its stage's depth set to the first kernel size and expand ratio."""
        arch = self.validate(arch)
        for stage, (_, depth_key, kernel_keys, expand_keys) in zip(self.spec.stages, self._stage_keys):
            for b in range(arch[depth_key], stage.max_depth):
                arch[kernel_keys[b]] = stage.kernel_sizes[0]
                arch[expand_keys[b]] = stage.expand_ratios[0]
        return arch

    def decode(self, arch: Mapping[str, Any]) -> MobileNetArch:
        """The :class:`~raynas.nn.MobileNetArch` that ``arch`` selects (validated first)."""
        return self._decode(self.validate(arch))

    def _decode(self, arch: Mapping[str, Any]) -> MobileNetArch:
        spec = self.spec
        stages = []
        for stage, (width_key, depth_key, kernel_keys, expand_keys) in zip(spec.stages, self._stage_keys):
            depth = arch[depth_key]
            stages.append(
                StageArch(
                    width=stage.widths[0] if width_key is None else arch[width_key],
                    kernel_sizes=tuple(arch[k] for k in kernel_keys[:depth]),
                    expand_ratios=tuple(arch[k] for k in expand_keys[:depth]),
                )
            )
        heads = [
            widths[0] if key is None else arch[key]
            for widths, key in zip(spec.head_widths + spec.pooled_widths, self._head_keys)
        ]
        return MobileNetArch(
            resolution=arch["resolution"],
            stem_width=spec.stem_widths[0] if self._stem_key is None else arch[self._stem_key],
            stages=tuple(stages),
            head_widths=tuple(heads[: len(spec.head_widths)]),
            pooled_widths=tuple(heads[len(spec.head_widths) :]),
        )

    def input_shape(self, arch: Mapping[str, Any]) -> tuple[int, int, int]:
        """``(in_channels, resolution, resolution)``."""
        resolution = self.validate(arch)["resolution"]
        return (self.spec.in_channels, resolution, resolution)

    # -- costs ---------------------------------------------------------------------------------
    def flops(self, arch: Mapping[str, Any]) -> int:
        """FLOPs of the extracted subnet on one input, as ``FlopCounterMode`` counts them (cached)."""
        return self._cost(arch)[0]

    def params(self, arch: Mapping[str, Any]) -> int:
        """Parameters of the extracted subnet (cached)."""
        return self._cost(arch)[1]

    def _cost(self, arch: Mapping[str, Any]) -> tuple[int, int]:
        try:
            if len(arch) != len(self._key_order):
                raise KeyError
            key = tuple(arch[k] for k in self._key_order)
            if any(v.__class__ is bool for v in key):
                raise KeyError
            hash(key)
        except (KeyError, TypeError):
            self.validate(arch)  # raises InvalidArchitecture naming the problem
            raise InvalidArchitecture(f"architecture {arch!r} is not valid for space {self.name!r}") from None
        return self._costs(key)

    def _compute_costs(self, key: tuple) -> tuple[int, int]:
        config = self._decode(self.validate(dict(zip(self._key_order, key))))
        spec = self.spec
        size = _conv_out(config.resolution, spec.stem_stride)
        width = config.stem_width
        k2 = spec.stem_kernel_size**2
        flops = 2 * size * size * width * spec.in_channels * k2
        params = width * spec.in_channels * k2 + 2 * width
        for block in spec.plan(config):
            hidden = block.hidden_channels
            if block.has_expand:
                flops += 2 * size * size * hidden * block.in_channels
                params += hidden * block.in_channels + 2 * hidden
            size = _conv_out(size, block.stride)
            flops += 2 * size * size * hidden * block.kernel_size**2
            params += hidden * block.kernel_size**2 + 2 * hidden
            if block.se:
                mid = se_channels(hidden)
                flops += 4 * mid * hidden
                params += 2 * mid * hidden + mid + hidden
            flops += 2 * size * size * block.out_channels * hidden
            params += block.out_channels * hidden + 2 * block.out_channels
            width = block.out_channels
        for out in config.head_widths:
            flops += 2 * size * size * out * width
            params += out * width + 2 * out
            width = out
        for out in config.pooled_widths:
            flops += 2 * out * width
            params += out * width
            width = out
        flops += 2 * width * self.num_classes
        params += width * self.num_classes + self.num_classes
        return flops, params

    # -- the supernet --------------------------------------------------------------------------
    def _num_classes_changed(self) -> None:
        self._make_cache()

    def build_supernet(self, num_classes: int | None = None) -> ElasticMobileNet:
        """An :class:`~raynas.nn.ElasticMobileNet` over this space, the largest subnet active.

        ``num_classes`` defaults to the space's; a different value builds over
        ``self.with_num_classes(num_classes)`` so ``net.space.flops`` stays exact.
        """
        space = self if num_classes is None else self.with_num_classes(num_classes)
        return ElasticMobileNet(space, space.spec, space.num_classes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, stages={len(self.spec.stages)}, size={self.size})"

