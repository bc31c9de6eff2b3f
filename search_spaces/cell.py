"""Cell search spaces: a DAG cell whose edges each choose one candidate operation.

Declare the edges and their candidates, and the network around the cell (NAS-Bench-201's
skeleton: stem, ``num_stages`` stages of ``cells_per_stage`` cells with ``C, 2C, 4C, ...``
channels, residual reductions between stages, BN-ReLU, pool, classifier)::

    from search_spaces import CellSpace

    # the same candidates on every edge of a complete 3-node DAG
    space = CellSpace(("none", "skip_connect", "nor_conv_3x3"), num_nodes=3, channels=8,
                      cells_per_stage=1)
    # or chosen edges, each with its own candidates
    space = CellSpace({"1<-0": ("nor_conv_1x1", "nor_conv_3x3"), "2<-1": ("skip_connect", "avg_pool_3x3")},
                      num_nodes=3)

Operations are names from :data:`raynas.nn.CELL_OPS`; :func:`raynas.nn.register_cell_op`
adds your own. An architecture has one key per edge, ``"edge.{to}<-{from}"``, sorted by
``to`` then ``from``; its value is the edge's operation. Every cell of the network has
the same architecture. Cells are not merged by isomorphism: every assignment of
operations is its own architecture.

``flops(arch)`` is what ``torch.utils.flop_counter.FlopCounterMode`` counts for the
extracted subnet on one input of :meth:`CellSpace.input_shape` (2 per multiply-accumulate
of convolutions and the classifier; BatchNorm, activations, pooling and additions count
nothing); ``params(arch)`` is the extracted subnet's parameter count. Both are exact.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from raynas.checks import check_int, check_positive_int
from raynas.errors import ConfigError
from raynas.nn.cell import CellSpec, CellSupernet, cell_op_cost, edge_name, parse_edge
from search_spaces._base import Arch, SearchSpace

__all__ = ["CellSpace"]


def _edges_and_ops(ops: Any, num_nodes: int) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[str, ...], ...]]:
    if isinstance(ops, Mapping):
        if not ops:
            raise ConfigError("ops must name at least one edge, got an empty mapping")
        pairs = {}
        for name, candidates in ops.items():
            to, src = parse_edge(name)
            pairs[(to, src)] = candidates
        edges = tuple(sorted(pairs))
        return edges, tuple(pairs[e] for e in edges)
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence) or not ops:
        raise ConfigError(
            "ops must be a non-empty sequence of op names (every edge) or a mapping 'to<-from' -> op names, "
            f"got {ops!r}"
        )
    edges = tuple((to, src) for to in range(1, num_nodes) for src in range(to))
    return edges, tuple(tuple(ops) for _ in edges)


class CellSpace(SearchSpace):
    """A space of cells over a :class:`~raynas.nn.CellSupernet`.

    Args:
        ops: candidate operation names, either one sequence for every edge of the complete
            DAG on ``num_nodes`` nodes, or a mapping ``"to<-from" -> names`` declaring which
            edges exist and the candidates of each.
        num_nodes: nodes of the cell, input and output included.
        channels: ``C``, the channels of the first stage.
        cells_per_stage: ``N``, cells per stage.
        num_stages: stages (``C * 2**s`` channels in stage ``s``).
        in_channels: channels of the input images.
        resolution: input side (inputs of another size are resized to it); divisible by
            ``2 ** (num_stages - 1)``.
        num_classes: classifier outputs counted by :meth:`flops` and :meth:`params`, and the
            default of :meth:`build_supernet`.
        name: the registry name.
    """

    def __init__(
        self,
        ops: Sequence[str] | Mapping[str, Sequence[str]],
        *,
        num_nodes: int = 4,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_stages: int = 3,
        in_channels: int = 3,
        resolution: int = 32,
        num_classes: int = 10,
        name: str = "cell",
    ):
        num_nodes = check_int(None, "num_nodes", num_nodes, low=2)
        edges, candidates = _edges_and_ops(ops, num_nodes)
        spec = CellSpec(
            edges=edges,
            ops=candidates,
            num_nodes=num_nodes,
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_stages=num_stages,
            in_channels=in_channels,
            resolution=resolution,
        )
        self.num_classes = check_positive_int(None, "num_classes", num_classes)
        self.spec = spec
        self._edge_keys = tuple(f"edge.{edge_name(to, src)}" for to, src in spec.edges)
        choices = dict(zip(self._edge_keys, spec.ops))
        kwargs = {
            "ops": {edge_name(to, src): list(c) for (to, src), c in zip(spec.edges, spec.ops)}
            if isinstance(ops, Mapping)
            else list(spec.ops[0]),
            "num_nodes": num_nodes,
            "channels": channels,
            "cells_per_stage": cells_per_stage,
            "num_stages": num_stages,
            "in_channels": in_channels,
            "resolution": resolution,
            "num_classes": num_classes,
        }
        super().__init__(choices, name=name, kwargs=kwargs)
        self._compute_costs()

    # -- costs ---------------------------------------------------------------------------------
    def _compute_costs(self) -> None:
        """The fixed part's cost and, per edge and op, the summed cost over every cell."""
        spec = self.spec
        side = spec.resolution
        channels = spec.stage_channels(0)
        flops = 2 * spec.in_channels * channels * 9 * side * side  # stem conv 3x3
        params = spec.in_channels * channels * 9 + 2 * channels  # + BN
        for stage in range(1, spec.num_stages):
            c_in, c_out, side = channels, spec.stage_channels(stage), spec.stage_side(stage)
            # ReLUConvBN 3x3 stride 2, ReLUConvBN 3x3, shortcut conv 1x1 (no BN).
            flops += 2 * side * side * (9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out)
            params += 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out + c_in * c_out
            channels = c_out
        params += 2 * channels  # last BN
        flops += 2 * channels * self.num_classes
        params += channels * self.num_classes + self.num_classes
        self._fixed = (flops, params)
        self._edge_costs: list[dict[str, tuple[int, int]]] = []
        for candidates in spec.ops:
            table = {}
            for op in candidates:
                total_flops = total_params = 0
                for stage in range(spec.num_stages):
                    f, p = cell_op_cost(op, spec.stage_channels(stage), spec.stage_side(stage))
                    total_flops += spec.cells_per_stage * f
                    total_params += spec.cells_per_stage * p
                table[op] = (total_flops, total_params)
            self._edge_costs.append(table)

    def _cost(self, arch: Mapping[str, Any]) -> tuple[int, int]:
        ops = self.decode(arch)
        flops, params = self._fixed
        for table, op in zip(self._edge_costs, ops):
            flops += table[op][0]
            params += table[op][1]
        return flops, params

    def flops(self, arch: Mapping[str, Any]) -> int:
        """FLOPs of the extracted subnet on one input, as ``FlopCounterMode`` counts them."""
        return self._cost(arch)[0]

    def params(self, arch: Mapping[str, Any]) -> int:
        """Parameters of the extracted subnet."""
        return self._cost(arch)[1]

    def input_shape(self, arch: Mapping[str, Any]) -> tuple[int, int, int]:
        """``(in_channels, resolution, resolution)``."""
        self.validate(arch)
        return (self.spec.in_channels, self.spec.resolution, self.spec.resolution)

    # -- structure -----------------------------------------------------------------------------
    def decode(self, arch: Mapping[str, Any]) -> tuple[str, ...]:
        """The operation of every edge, in :attr:`spec`'s edge order (validated first)."""
        arch = self.validate(arch)
        return tuple(arch[key] for key in self._edge_keys)

    def _by_cost(self, pick_max: bool) -> Arch:
        arch = {}
        for key, table, candidates in zip(self._edge_keys, self._edge_costs, self.spec.ops):
            ranked = sorted(candidates, key=lambda op: table[op], reverse=pick_max)  # stable: first wins ties
            arch[key] = ranked[0]
        return arch

    def smallest(self) -> Arch:
        """The cheapest op of every edge (by FLOPs, then params; the first listed on ties)."""
        return self._by_cost(False)

    def largest(self) -> Arch:
        """The most expensive op of every edge (by FLOPs, then params; the first listed on ties)."""
        return self._by_cost(True)

    def _num_classes_changed(self) -> None:
        self._compute_costs()

    def build_supernet(self, num_classes: int | None = None) -> CellSupernet:
        """A :class:`~raynas.nn.CellSupernet` over this space, the largest subnet active.

        ``num_classes`` defaults to the space's; a different value builds over
        ``self.with_num_classes(num_classes)`` so ``net.space.flops`` stays exact.
        """
        space = self if num_classes is None else self.with_num_classes(num_classes)
        return CellSupernet(space, space.spec, space.num_classes)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, edges={len(self.spec.edges)}, "
            f"nodes={self.spec.num_nodes}, size={self.size})"
        )
