"""Cell supernets (NAS-Bench-201 style): a DAG cell whose edges each choose one operation.

A cell has ``num_nodes`` nodes. Node 0 is the cell's input; node ``i >= 1`` is the sum,
over its incoming edges ``j -> i`` (``j < i``), of the edge's operation applied to node
``j``; the last node is the cell's output. Every operation maps ``C`` channels to ``C``
channels at the same spatial size. An edge whose operation is ``"none"`` contributes
nothing (a node with no contribution is zero).

The network around the cells is NAS-Bench-201's: a stem (3x3 conv, BN) to ``C``
channels, then ``num_stages`` stages of ``N`` cells with ``C, 2C, 4C, ...`` channels and
a residual reduction block (:class:`ResNetReduction`) before every stage but the first,
then BN, ReLU, global mean pool and a linear classifier. Every cell of the network has
the same architecture (one operation per edge), as in the benchmark.

The supernet (:class:`CellSupernet`) holds one module per candidate operation per edge
of every cell; :meth:`~raynas.nn.Supernet.set_active` picks one per edge, and
:meth:`CellSupernet.extract` copies the picked modules into a static :class:`CellNetwork`
that computes exactly what the supernet computes.

Operations are looked up by name in a registry (:data:`CELL_OPS`): NAS-Bench-201's five
are built in, and :func:`register_cell_op` adds a user's own, so a space's arguments stay
plain names that a checkpoint can record.

No ``from __future__ import annotations`` here: TorchScript reads the static modules'
class annotations.
"""

import copy
import re
from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from raynas.checks import check_float, check_int
from raynas.errors import ConfigError
from raynas.nn.supernet import Supernet

__all__ = [
    "CELL_OPS",
    "CellOp",
    "CellSpec",
    "ReLUConvBN",
    "ResNetReduction",
    "MixedCell",
    "Cell",
    "CellNetwork",
    "CellSupernet",
    "register_cell_op",
    "cell_op_cost",
    "edge_name",
    "parse_edge",
]


# -- operations -----------------------------------------------------------------------------------
class ReLUConvBN(nn.Sequential):
    """``ReLU -> Conv2d (no bias, 'same' padding) -> BatchNorm2d``, NAS-Bench-201's ``nor_conv``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
        )


def _conv_cost(in_channels: int, out_channels: int, kernel_size: int, side: int) -> tuple[int, int]:
    """(FLOPs as FlopCounterMode counts them, weights) of a bias-free conv with ``side x side`` output."""
    weights = in_channels * out_channels * kernel_size * kernel_size
    return 2 * weights * side * side, weights


def _nor_conv(kernel_size: int) -> tuple[Callable[[int], nn.Module], Callable[[int, int], tuple[int, int]]]:
    def build(channels: int) -> nn.Module:
        return ReLUConvBN(channels, channels, kernel_size)

    def cost(channels: int, side: int) -> tuple[int, int]:
        flops, weights = _conv_cost(channels, channels, kernel_size, side)
        return flops, weights + 2 * channels  # + BatchNorm scale and shift

    return build, cost


def _free(channels: int, side: int) -> tuple[int, int]:
    return 0, 0


@dataclass(frozen=True)
class CellOp:
    """A candidate operation of a cell edge.

    Args:
        name: the registry name (what architectures hold).
        build: ``build(channels) -> nn.Module`` mapping ``channels`` to ``channels`` at the same
            spatial size; ``None`` for the operation that contributes nothing (``"none"``).
        cost: ``cost(channels, side) -> (flops, params)`` for one ``side x side`` input, FLOPs
            as ``torch.utils.flop_counter.FlopCounterMode`` counts them; ``None`` means
            measure the built module once per ``(channels, side)`` (:func:`cell_op_cost`).
    """

    name: str
    build: Callable[[int], nn.Module] | None
    cost: Callable[[int, int], tuple[int, int]] | None = None


_conv1_build, _conv1_cost = _nor_conv(1)
_conv3_build, _conv3_cost = _nor_conv(3)

CELL_OPS: dict[str, CellOp] = {
    "none": CellOp("none", None, _free),
    "skip_connect": CellOp("skip_connect", lambda channels: nn.Identity(), _free),
    "nor_conv_1x1": CellOp("nor_conv_1x1", _conv1_build, _conv1_cost),
    "nor_conv_3x3": CellOp("nor_conv_3x3", _conv3_build, _conv3_cost),
    "avg_pool_3x3": CellOp(
        "avg_pool_3x3", lambda channels: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), _free
    ),
}
"""Registered cell operations by name; NAS-Bench-201's five are built in."""

_BUILTIN_OPS = frozenset(CELL_OPS)
_OP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def register_cell_op(
    name: str,
    build: Callable[[int], nn.Module],
    cost: Callable[[int, int], tuple[int, int]] | None = None,
    *,
    overwrite: bool = False,
) -> CellOp:
    """Make ``name`` usable as a candidate operation of cell spaces.

    Args:
        name: an identifier-like name (letters, digits, underscores).
        build: ``build(channels) -> nn.Module``; the module must keep the channel count and the
            spatial size, and be deterministic in eval mode.
        cost: optional ``cost(channels, side) -> (flops, params)``; without it the cost is
            measured on the built module (exact, a few milliseconds once per size).
        overwrite: replace an earlier user registration of ``name`` (built-ins stay).
    """
    if not isinstance(name, str) or not _OP_NAME.match(name):
        raise ConfigError(f"cell op name must be an identifier (letters, digits, '_'), got {name!r}")
    if not callable(build):
        raise TypeError(f"build for cell op {name!r} must be callable (channels -> nn.Module), got {build!r}")
    if cost is not None and not callable(cost):
        raise TypeError(f"cost for cell op {name!r} must be callable or None, got {cost!r}")
    if name in _BUILTIN_OPS:
        raise ConfigError(f"cell op {name!r} is built in and cannot be replaced; built-ins: {sorted(_BUILTIN_OPS)}")
    if name in CELL_OPS and not overwrite:
        raise ConfigError(f"cell op {name!r} is already registered; pass overwrite=True to replace it")
    op = CellOp(name, build, cost)
    CELL_OPS[name] = op
    return op


def _get_op(name: str) -> CellOp:
    if name not in CELL_OPS:
        raise ConfigError(f"unknown cell op {name!r}; registered: {sorted(CELL_OPS)} (add one with register_cell_op)")
    return CELL_OPS[name]


_MEASURED: dict[tuple[CellOp, int, int], tuple[int, int]] = {}


def cell_op_cost(name: str, channels: int, side: int) -> tuple[int, int]:
    """(FLOPs, params) of operation ``name`` on one ``channels x side x side`` input.

    Uses the op's ``cost`` function, else measures the built module with
    ``FlopCounterMode`` (cached per op, channels and side).
    """
    op = _get_op(name)
    if op.cost is not None:
        flops, params = op.cost(channels, side)
        return int(flops), int(params)
    key = (op, channels, side)  # the op itself, so a re-registered name is measured anew
    if key not in _MEASURED:
        from torch.utils.flop_counter import FlopCounterMode

        module = op.build(channels).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = module(torch.zeros(1, channels, side, side))
        if tuple(out.shape) != (1, channels, side, side):
            raise ConfigError(
                f"cell op {name!r} must keep its input's shape (1, {channels}, {side}, {side}), "
                f"it returned {tuple(out.shape)}"
            )
        _MEASURED[key] = (int(counter.get_total_flops()), sum(p.numel() for p in module.parameters()))
    return _MEASURED[key]


# -- the structure --------------------------------------------------------------------------------
def edge_name(to: int, src: int) -> str:
    """``"{to}<-{src}"``: how an edge is named in architectures and specs."""
    return f"{to}<-{src}"


_EDGE = re.compile(r"^(\d+)<-(\d+)$")


def parse_edge(name: str) -> tuple[int, int]:
    """``"2<-0" -> (2, 0)``; anything else raises :class:`~raynas.errors.ConfigError`."""
    match = _EDGE.match(name) if isinstance(name, str) else None
    if not match:
        raise ConfigError(f"an edge is named 'to<-from' with node numbers, like '2<-0', got {name!r}")
    return int(match.group(1)), int(match.group(2))


def _positive_int(owner: str, name: str, value: Any, minimum: int = 1) -> None:
    check_int(owner, name, value, low=minimum)


@dataclass(frozen=True)
class CellSpec:
    """The structure of a cell supernet.

    Args:
        edges: ``(to, from)`` node pairs with ``0 <= from < to < num_nodes``, in the order
            architectures list them (sorted by ``to``, then ``from``).
        ops: the candidate operation names of each edge (same length as ``edges``).
        num_nodes: nodes of the cell, input and output included (NAS-Bench-201: 4).
        channels: ``C``, the channels of the first stage (NAS-Bench-201: 16).
        cells_per_stage: ``N`` (NAS-Bench-201: 5).
        num_stages: stages; stage ``s`` has ``C * 2**s`` channels (NAS-Bench-201: 3).
        in_channels: channels of the input images.
        resolution: input side; inputs of another size are resized to it. It must be divisible
            by ``2 ** (num_stages - 1)``.
    """

    edges: tuple[tuple[int, int], ...]
    ops: tuple[tuple[str, ...], ...]
    num_nodes: int = 4
    channels: int = 16
    cells_per_stage: int = 5
    num_stages: int = 3
    in_channels: int = 3
    resolution: int = 32

    def __post_init__(self) -> None:
        owner = "CellSpec"
        _positive_int(owner, "num_nodes", self.num_nodes, 2)
        for name in ("channels", "cells_per_stage", "num_stages", "in_channels", "resolution"):
            _positive_int(owner, name, getattr(self, name))
        if self.resolution % 2 ** (self.num_stages - 1):
            raise ConfigError(
                f"{owner}.resolution must be divisible by 2**(num_stages-1) = {2 ** (self.num_stages - 1)}, "
                f"got {self.resolution!r}"
            )
        if isinstance(self.edges, (str, bytes)) or not isinstance(self.edges, Sequence) or not self.edges:
            raise ConfigError(f"{owner}.edges must be a non-empty sequence of (to, from) pairs, got {self.edges!r}")
        edges = []
        for edge in self.edges:
            if (
                isinstance(edge, (str, bytes))
                or not isinstance(edge, Sequence)
                or len(edge) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) for v in edge)
                or not 0 <= edge[1] < edge[0] < self.num_nodes
            ):
                raise ConfigError(
                    f"{owner}.edges: {edge!r} is not a (to, from) pair with 0 <= from < to < num_nodes={self.num_nodes}"
                )
            edges.append((edge[0], edge[1]))
        if edges != sorted(set(edges)):
            raise ConfigError(f"{owner}.edges must be distinct and sorted by (to, from), got {self.edges!r}")
        object.__setattr__(self, "edges", tuple(edges))
        if isinstance(self.ops, (str, bytes)) or not isinstance(self.ops, Sequence) or len(self.ops) != len(edges):
            raise ConfigError(f"{owner}.ops must hold one tuple of candidate names per edge ({len(edges)}), got {self.ops!r}")
        ops = []
        for (to, src), candidates in zip(edges, self.ops):
            if isinstance(candidates, (str, bytes)) or not isinstance(candidates, Sequence) or not candidates:
                raise ConfigError(
                    f"{owner}.ops for edge {edge_name(to, src)!r} must be a non-empty sequence of op names, "
                    f"got {candidates!r}"
                )
            candidates = tuple(candidates)
            if len(set(candidates)) != len(candidates):
                raise ConfigError(f"{owner}.ops for edge {edge_name(to, src)!r} repeats a name: {candidates!r}")
            for name in candidates:
                _get_op(name)
            ops.append(candidates)
        object.__setattr__(self, "ops", tuple(ops))

    def stage_channels(self, stage: int) -> int:
        """Channels of stage ``stage`` (0-based): ``channels * 2**stage``."""
        return self.channels * 2**stage

    def stage_side(self, stage: int) -> int:
        """Feature-map side in stage ``stage`` for an input of :attr:`resolution`."""
        return self.resolution // 2**stage


# -- static modules (what extracted subnets are made of; TorchScript-able) -------------------------
class ResNetReduction(nn.Module):
    """NAS-Bench-201's reduction block: ``ReLUConvBN(3x3, stride 2) -> ReLUConvBN(3x3)`` plus a
    shortcut ``AvgPool2d(2) -> Conv2d(1x1, no bias)``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv_a = ReLUConvBN(in_channels, out_channels, 3, 2)
        self.conv_b = ReLUConvBN(out_channels, out_channels, 3, 1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0), nn.Conv2d(in_channels, out_channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class Cell(nn.Module):
    """A static cell: ``ops[k]`` maps node ``sources[k]`` into node ``targets[k]`` (edges with
    ``"none"`` are left out); every node starts at zero and sums what its edges bring."""

    num_nodes: torch.jit.Final[int]
    targets: List[int]
    sources: List[int]

    def __init__(self, num_nodes: int, targets: Sequence[int], sources: Sequence[int], ops: Sequence[nn.Module]):
        super().__init__()
        if not len(targets) == len(sources) == len(ops):
            raise ValueError(f"targets, sources and ops differ in length: {len(targets)}, {len(sources)}, {len(ops)}")
        self.num_nodes = int(num_nodes)
        self.targets = [int(t) for t in targets]
        self.sources = [int(s) for s in sources]
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: List[torch.Tensor] = [x]
        for _ in range(1, self.num_nodes):
            nodes.append(torch.zeros_like(x))
        for index, op in enumerate(self.ops):
            target = self.targets[index]
            nodes[target] = nodes[target] + op(nodes[self.sources[index]])
        return nodes[self.num_nodes - 1]


class CellNetwork(nn.Module):
    """A static cell network: resize to ``resolution``, stem, cells and reductions, BN-ReLU,
    mean pool, classifier."""

    resolution: torch.jit.Final[int]

    def __init__(self, resolution: int, stem: nn.Module, layers: Sequence[nn.Module], lastact: nn.Module,
                 classifier: nn.Module):
        super().__init__()
        self.resolution = int(resolution)
        self.stem = stem
        self.layers = nn.Sequential(*layers)
        self.lastact = lastact
        self.classifier = classifier

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features before the classifier, shape ``(N, C)``."""
        if x.shape[-2] != self.resolution or x.shape[-1] != self.resolution:
            x = F.interpolate(
                x, size=[self.resolution, self.resolution], mode="bilinear", align_corners=False, antialias=False
            )
        x = self.lastact(self.layers(self.stem(x)))
        return torch.flatten(x.mean([2, 3]), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


# -- the supernet ---------------------------------------------------------------------------------
class MixedCell(nn.Module):
    """A cell holding every candidate operation of every edge; one per edge is active.

    ``edges[k]`` is an ``nn.ModuleDict`` from op name to module (``"none"`` has no module).
    The active op names are set by :meth:`CellSupernet._activate` only.
    """

    def __init__(self, spec: CellSpec, channels: int):
        super().__init__()
        self.num_nodes = spec.num_nodes
        self.edge_pairs = spec.edges
        self.edges = nn.ModuleList()
        for candidates in spec.ops:
            modules = nn.ModuleDict()
            for name in candidates:
                op = _get_op(name)
                if op.build is not None:
                    modules[name] = op.build(channels)
            self.edges.append(modules)
        self.active_ops: tuple[str, ...] = tuple(candidates[-1] for candidates in spec.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x] + [torch.zeros_like(x) for _ in range(1, self.num_nodes)]
        for (to, src), modules, name in zip(self.edge_pairs, self.edges, self.active_ops):
            if name in modules:
                nodes[to] = nodes[to] + modules[name](nodes[src])
        return nodes[-1]

    def export(self, ops: Sequence[str]) -> Cell:
        """A static :class:`Cell` with deep copies of the modules ``ops`` picks (one name per edge)."""
        targets, sources, modules = [], [], []
        for (to, src), candidates, name in zip(self.edge_pairs, self.edges, ops):
            if name in candidates:
                targets.append(to)
                sources.append(src)
                modules.append(_copy(candidates[name]))
        return Cell(self.num_nodes, targets, sources, modules)


def _copy(module: nn.Module) -> nn.Module:
    """A deep copy with its own storage (same train/eval mode)."""
    return copy.deepcopy(module)


class CellSupernet(Supernet):
    """A weight-sharing supernet over the cells of a cell space (NAS-Bench-201 style).

    Args:
        space: the search space; it must offer ``canonical(arch)``, ``largest()`` and
            ``decode(arch) -> tuple of op names, one per edge of spec.edges``.
        spec: the structure.
        num_classes: classifier outputs.
    """

    def __init__(self, space: Any, spec: CellSpec, num_classes: int = 10):
        super().__init__(space, num_classes)
        if not isinstance(spec, CellSpec):
            raise ConfigError(f"spec must be a CellSpec, got {type(spec).__name__}")
        self.spec = spec
        channels = spec.stage_channels(0)
        self.stem = nn.Sequential(
            nn.Conv2d(spec.in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        self.layers = nn.ModuleList()
        for stage in range(spec.num_stages):
            if stage > 0:
                self.layers.append(ResNetReduction(channels, spec.stage_channels(stage)))
                channels = spec.stage_channels(stage)
            for _ in range(spec.cells_per_stage):
                self.layers.append(MixedCell(spec, channels))
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU())
        self.classifier = nn.Linear(channels, num_classes)
        self.set_active(space.largest())

    def _activate(self, arch: dict[str, Any]) -> None:
        ops = tuple(self.space.decode(arch))
        for layer in self.layers:
            if isinstance(layer, MixedCell):
                layer.active_ops = ops

    def forward(self, x: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
        """Logits of the active subnet; ``dropout`` applies before the classifier in train mode only."""
        check_float(None, "dropout", dropout, low=0.0, high=1.0, high_open=True)
        size = self.spec.resolution
        if x.shape[-2] != size or x.shape[-1] != size:
            x = F.interpolate(x, size=[size, size], mode="bilinear", align_corners=False, antialias=False)
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        x = torch.flatten(self.lastact(x).mean([2, 3]), 1)
        if self.training and dropout > 0:
            x = F.dropout(x, dropout, training=True)
        return self.classifier(x)

    def extract(self, arch: Mapping[str, Any] | None = None) -> CellNetwork:
        """A standalone :class:`CellNetwork` (eval mode) with weights copied for ``arch``.

        ``arch`` defaults to the active architecture; the active one is not changed.
        """
        arch = self.active_arch if arch is None else self.space.canonical(arch)
        ops = tuple(self.space.decode(arch))
        layers = [layer.export(ops) if isinstance(layer, MixedCell) else _copy(layer) for layer in self.layers]
        return CellNetwork(
            self.spec.resolution, _copy(self.stem), layers, _copy(self.lastact), _copy(self.classifier)
        ).eval()

    def sort_channels(self) -> None:
        """Cell supernets have no elastic channels to sort."""
        raise NotImplementedError("cell supernets have no elastic widths, so there are no channels to sort")

    @torch.no_grad()
    def zero_init_residual(self) -> None:
        """Zero the last BatchNorm scale of every reduction block, so it starts as its shortcut."""
        for layer in self.layers:
            if isinstance(layer, ResNetReduction):
                layer.conv_b[2].weight.zero_()
