"""The NAS-Bench-201 cell space (Dong & Yang 2020): 6 edges, 5 operations each, 15,625 cells.

An architecture has one key per edge of the cell, in the order the benchmark's string
lists them (node1<-node0, node2<-node0, node2<-node1, node3<-node0, node3<-node1,
node3<-node2)::

    {"edge.1<-0": "nor_conv_3x3", "edge.2<-0": "nor_conv_3x3", "edge.2<-1": "none", ...}

:meth:`NB201Space.to_string` / :meth:`NB201Space.from_string` convert to and from the
benchmark's notation ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, which is how tabular
results (``raynas.TableEvaluator``) are looked up.

The space is a :class:`~search_spaces.CellSpace` and its supernet a
:class:`~raynas.nn.CellSupernet`: the benchmark's network (stem conv 3x3 to ``C``
channels, three stages of ``N`` cells with ``C``, ``2C``, ``4C`` channels at 32x32,
16x16 and 8x8, residual reduction blocks between stages, BN-ReLU, pool, classifier).
By default ``C=16``, ``N=5`` and 10 classes: the CIFAR-10 network whose accuracies the
benchmark's table holds. ``channels`` and ``cells_per_stage`` make it smaller for CPU
experiments (``NB201Space(channels=8, cells_per_stage=1)`` has about 17 times fewer FLOPs);
``resolution=16, num_classes=120`` is the benchmark's ImageNet16-120 network.

Costs are exact for the extracted subnet of the supernet the space builds:

- ``params`` counts every weight: convolutions (no bias), BatchNorm affine pairs,
  the classifier's weight and bias. At the defaults this is the benchmark's published
  range, 0.073 M to 1.53 M.
- ``flops`` is what ``torch.utils.flop_counter.FlopCounterMode`` counts on one
  ``3 x resolution x resolution`` input: 2 FLOPs per multiply-accumulate of
  convolutions and the linear classifier; BatchNorm, activations, pooling and
  additions are not counted. This is twice the multiply-accumulate figure the
  benchmark itself publishes.

Cells are not merged by isomorphism: every one of the 15,625 strings is its own
architecture, as in the benchmark's table.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from raynas.errors import InvalidArchitecture
from search_spaces._base import Arch
from search_spaces.cell import CellSpace

__all__ = ["NB201Space", "OPS", "EDGES"]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The candidate operations of every edge, in the benchmark's order."""

EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""(to_node, from_node) of each edge, in the order the benchmark's string lists them."""


_NODE_RE = re.compile(r"^\|(.*)\|$")


class NB201Space(CellSpace):
    """The NAS-Bench-201 topology space: ``search_spaces.get("nb201")``.

    Args:
        channels: ``C``, channels of the first stage (the benchmark: 16).
        cells_per_stage: ``N``, cells per stage (the benchmark: 5).
        resolution: input side (CIFAR: 32, ImageNet16-120: 16); divisible by 4.
        num_classes: classifier outputs (CIFAR-10: 10, CIFAR-100: 100, ImageNet16-120: 120).

    Example::

        space = NB201Space()
        arch = space.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
                                 "+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
        space.to_string(arch)
    """

    def __init__(self, channels: int = 16, cells_per_stage: int = 5, resolution: int = 32, num_classes: int = 10):
        super().__init__(
            OPS,
            num_nodes=4,
            channels=channels,
            cells_per_stage=cells_per_stage,
            num_stages=3,
            in_channels=3,
            resolution=resolution,
            num_classes=num_classes,
            name="nb201",
        )
        self.kwargs = {
            "channels": channels,
            "cells_per_stage": cells_per_stage,
            "resolution": resolution,
            "num_classes": num_classes,
        }

    # -- the benchmark's string notation ------------------------------------------------------
    def to_string(self, arch: Mapping[str, Any]) -> str:
        """``arch`` in the benchmark's notation, e.g. ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        arch = self.validate(arch)
        nodes = []
        for to in (1, 2, 3):
            ops = [f"{arch[f'edge.{to}<-{src}']}~{src}" for src in range(to)]
            nodes.append("|" + "|".join(ops) + "|")
        return "+".join(nodes)

    def from_string(self, text: str) -> Arch:
        """Parse the benchmark's notation; a malformed string raises :class:`InvalidArchitecture`."""
        if not isinstance(text, str):
            raise InvalidArchitecture(f"nb201 architecture string must be a str, got {type(text).__name__}")
        expected = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
        nodes = text.strip().split("+")
        if len(nodes) != 3:
            raise InvalidArchitecture(
                f"nb201 string {text!r} has {len(nodes)} node groups separated by '+', expected 3 like {expected!r}"
            )
        arch: Arch = {}
        for to, node in enumerate(nodes, start=1):
            match = _NODE_RE.match(node)
            if not match:
                raise InvalidArchitecture(
                    f"nb201 string {text!r}: node group {node!r} must start and end with '|', like {expected!r}"
                )
            edges = match.group(1).split("|")
            if len(edges) != to:
                raise InvalidArchitecture(
                    f"nb201 string {text!r}: node {to} lists {len(edges)} edges, expected {to} like {expected!r}"
                )
            for src, edge in enumerate(edges):
                op, sep, source = edge.rpartition("~")
                if not sep or source != str(src):
                    raise InvalidArchitecture(
                        f"nb201 string {text!r}: edge {edge!r} of node {to} must be 'op~{src}'"
                    )
                if op not in OPS:
                    raise InvalidArchitecture(
                        f"nb201 string {text!r}: unknown operation {op!r} on edge {to}<-{src}; allowed values: {list(OPS)}"
                    )
                arch[f"edge.{to}<-{src}"] = op
        return self.validate(arch)
