"""The NAS-Bench-201 cell space (Dong & Yang 2020): 6 edges, 5 operations each, 15,625 cells.

An architecture has one key per edge of the cell, in the order the benchmark's string
lists them (node1<-node0, node2<-node0, node2<-node1, node3<-node0, node3<-node1,
node3<-node2)::

    {"edge.1<-0": "nor_conv_3x3", "edge.2<-0": "nor_conv_3x3", "edge.2<-1": "none", ...}

:meth:`NB201Space.to_string` / :meth:`NB201Space.from_string` convert to and from the
benchmark's notation ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, which is how tabular
results (``raynas.TableEvaluator``) are looked up.

Costs (:meth:`flops`, :meth:`params`) are computed analytically for the benchmark's
CIFAR-10 network (stem of 16 channels, three stages of N=5 cells with C=16, 32, 64 at
32x32, 16x16 and 8x8, ResNet reduction blocks between stages, 10 classes):

- ``params`` counts every weight: convolutions (no bias), BatchNorm affine pairs,
  the classifier's weight and bias (the benchmark's published range, 0.073 M to
  1.53 M, is reproduced exactly).
- ``flops`` follows ``torch.utils.flop_counter.FlopCounterMode``: 2 FLOPs per
  multiply-accumulate of convolutions and the linear classifier, for one 3x32x32
  image; BatchNorm, activations, pooling and additions are not counted. This is
  twice the multiply-accumulate figure the benchmark itself publishes.

Cells are not merged by isomorphism: every one of the 15,625 strings is its own
architecture, as in the benchmark's table. A weight-sharing nb201 supernet is not
implemented yet, so :meth:`build_supernet` raises ``NotImplementedError``.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from raynas.errors import InvalidArchitecture
from search_spaces._base import Arch, SearchSpace

__all__ = ["NB201Space", "OPS", "EDGES"]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The candidate operations of every edge, in the benchmark's order."""

EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
"""(to_node, from_node) of each edge, in the order the benchmark's string lists them."""

_KEYS: tuple[str, ...] = tuple(f"edge.{to}<-{src}" for to, src in EDGES)

# The CIFAR-10 network of the benchmark.
_STEM_CHANNELS = 16
_CELLS_PER_STAGE = 5
_STAGES = ((16, 32), (32, 16), (64, 8))  # (channels, feature-map side) per stage
_NUM_CLASSES = 10
_IMAGE = (3, 32, 32)

_NODE_RE = re.compile(r"^\|(.*)\|$")


def _conv_cost(c_in: int, c_out: int, kernel: int, side_out: int) -> tuple[int, int]:
    """(multiply-accumulates, weights) of a bias-free convolution."""
    weights = c_in * c_out * kernel * kernel
    return weights * side_out * side_out, weights


def _edge_cost(op: str, channels: int, side: int) -> tuple[int, int]:
    """(multiply-accumulates, params) of one edge op inside a cell."""
    if op in ("nor_conv_1x1", "nor_conv_3x3"):  # ReLU -> conv -> BN(affine)
        kernel = 1 if op == "nor_conv_1x1" else 3
        macs, weights = _conv_cost(channels, channels, kernel, side)
        return macs, weights + 2 * channels
    return 0, 0  # none, skip_connect, avg_pool_3x3 (no weights, no counted FLOPs)


def _fixed_cost() -> tuple[int, int]:
    """(multiply-accumulates, params) of everything outside the cells."""
    macs, params = 0, 0
    m, w = _conv_cost(_IMAGE[0], _STEM_CHANNELS, 3, _IMAGE[1])  # stem conv + BN
    macs, params = macs + m, params + w + 2 * _STEM_CHANNELS
    for (c_in, _), (c_out, side_out) in zip(_STAGES, _STAGES[1:]):
        # ResNet basic block, stride 2: ReLU-conv3x3(s2)-BN, ReLU-conv3x3-BN, avgpool + conv1x1 shortcut.
        for cin, k in ((c_in, 3), (c_out, 3)):
            m, w = _conv_cost(cin, c_out, k, side_out)
            macs, params = macs + m, params + w + 2 * c_out
        m, w = _conv_cost(c_in, c_out, 1, side_out)
        macs, params = macs + m, params + w
    last = _STAGES[-1][0]
    params += 2 * last  # final BN
    macs += last * _NUM_CLASSES  # classifier
    params += last * _NUM_CLASSES + _NUM_CLASSES
    return macs, params


class NB201Space(SearchSpace):
    """The NAS-Bench-201 topology space: ``search_spaces.get("nb201")``.

    Example::

        space = NB201Space()
        arch = space.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
                                 "+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")
        space.to_string(arch)
    """

    def __init__(self) -> None:
        super().__init__({key: OPS for key in _KEYS}, name="nb201", kwargs={})

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

    def largest(self) -> Arch:
        """The most expensive cell: ``nor_conv_3x3`` on every edge (the last op, ``avg_pool_3x3``, has no weights)."""
        return {key: "nor_conv_3x3" for key in _KEYS}

    # -- costs ---------------------------------------------------------------------------------
    def _cost(self, arch: Mapping[str, Any]) -> tuple[int, int]:
        arch = self.validate(arch)
        macs, params = _fixed_cost()
        for channels, side in _STAGES:
            for op in arch.values():
                m, p = _edge_cost(op, channels, side)
                macs += _CELLS_PER_STAGE * m
                params += _CELLS_PER_STAGE * p
        return macs, params

    def flops(self, arch: Mapping[str, Any]) -> float:
        """FLOPs of the CIFAR-10 network for one image, FlopCounterMode convention (2 per MAC)."""
        return float(2 * self._cost(arch)[0])

    def params(self, arch: Mapping[str, Any]) -> float:
        """Parameters of the CIFAR-10 network (weights, BatchNorm affine, classifier)."""
        return float(self._cost(arch)[1])

    def input_shape(self, arch: Mapping[str, Any]) -> tuple[int, int, int]:
        self.validate(arch)
        return _IMAGE

    def build_supernet(self, num_classes: int = 10):
        raise NotImplementedError(
            "space 'nb201' has no weight-sharing supernet yet; search it with a table evaluator "
            "(raynas.TableEvaluator) or a black-box evaluator"
        )
