"""DNA's traversal (Li et al. 2020): whole architectures in ascending order of summed block loss.

The block-loss table (:class:`raynas.block_table.BlockTable`, written by ``raynas train
--method dna``) scores candidates of every block of the space. An architecture is one
candidate per block; its DNA loss is the sum of its candidates' losses. The traversal is
DNA's depth-first search with the top-k bound:

- each block's candidates are sorted by loss;
- a branch is cut when its loss so far plus the best possible loss of the remaining
  blocks cannot beat the k-th best architecture found (later candidates of that block are
  worse still, so the rest of the block is skipped);
- a branch is cut when its cost so far plus the cheapest possible cost of the remaining
  blocks exceeds a budget (per-candidate costs are what each candidate adds to the
  space's smallest architecture; see below);
- a complete architecture is kept only if ``constraints.satisfied(space, arch)`` holds
  (the exact costs of the whole architecture).

Per-candidate cost bounds are exact for costs that add up over blocks and a lower bound for
costs that grow faster than additively (resolution in a MobileNet space multiplies every
later block's FLOPs); both make the pruning safe, so the result is exactly the ``top_k``
feasible architectures with the smallest summed loss (ties broken by candidate rank, in
block order). The strategy proposes them best first and then returns ``FINISHED``; the
scores it is told do not change the order.
"""

from __future__ import annotations

import heapq
import logging
import os
import time
from typing import Any, Mapping

from raynas.block_table import BlockTable, candidate_costs
from raynas.checks import check_int
from raynas.constraints import Constraints
from raynas.errors import ConfigError
from strategies._base import FINISHED, Strategy

__all__ = ["DNAStrategy", "as_block_table"]

logger = logging.getLogger(__name__)

_REL_TOL = 1e-9


def as_block_table(block_losses: Any) -> BlockTable:
    """A :class:`BlockTable` from a table, its ``to_dict()`` form, or a path to its JSON file (or folder)."""
    if isinstance(block_losses, BlockTable):
        return block_losses
    if isinstance(block_losses, Mapping):
        return BlockTable.from_dict(block_losses)
    if isinstance(block_losses, (str, os.PathLike)):
        return BlockTable.load(block_losses)
    raise ConfigError(
        "DNAStrategy: block_losses must be a raynas.block_table.BlockTable, its to_dict() form, or the path of a "
        f"block_table.json (written by `raynas train --method dna`), got {type(block_losses).__name__}"
    )


class DNAStrategy(Strategy):
    """Propose the ``top_k`` feasible architectures of lowest summed block loss, best first.

    Args:
        space, seed, constraints: as for every strategy (the order does not depend on ``seed``).
        block_losses: the block-loss table (a ``BlockTable``, its dict, or a path); required.
        top_k: how many architectures to propose before ``FINISHED``.
    """

    exhaustive = True

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        constraints: Constraints | None = None,
        block_losses: Any = None,
        top_k: int = 100,
        max_retries: int = 1000,
    ):
        super().__init__(space, seed=seed, constraints=constraints, max_retries=max_retries)
        if block_losses is None:
            raise ConfigError(
                "strategy 'dna' needs block_losses=: the block table of `raynas train --method dna` (a path to its "
                "block_table.json or folder, or a raynas.block_table.BlockTable); got None"
            )
        self.top_k = check_int("DNAStrategy", "top_k", top_k, low=1)
        table = as_block_table(block_losses)
        if table.space != space.name:
            raise ConfigError(f"DNAStrategy: the block table is for space {table.space!r}, the search space is "
                              f"{space.name!r}")
        table.check(space)
        self.table = table
        self.position = 0
        self._ranked: list[tuple[float, dict[str, Any]]] | None = None
        self.traversal_s: float | None = None

    # -- the traversal ---------------------------------------------------------------------------
    def ranked(self) -> list[tuple[float, dict[str, Any]]]:
        """The ``top_k`` feasible architectures as ``(summed loss, arch)``, ascending (computed once)."""
        if self._ranked is None:
            started = time.perf_counter()
            self._ranked = self._traverse()
            self.traversal_s = time.perf_counter() - started
            logger.info("DNA traversal of %d candidates in %d blocks: %d architectures in %.3fs",
                        self.table.num_candidates, len(self.table.blocks), len(self._ranked), self.traversal_s)
        return list(self._ranked)

    def _bounds(self) -> tuple[list[str], list[float], list[float]]:
        """The constrained quantities, their bounds, and the smallest architecture's values."""
        bounds = {"flops": self.constraints.max_flops, "params": self.constraints.max_params,
                  "latency_ms": self.constraints.max_latency_ms}
        base = self.constraints.measures(self.space, self.space.smallest())
        names = [name for name in ("flops", "params", "latency_ms") if bounds[name] is not None]
        return names, [float(bounds[n]) for n in names], [float(base[n]) for n in names]

    def _traverse(self) -> list[tuple[float, dict[str, Any]]]:
        space, k = self.space, self.top_k
        names, bounds, base = self._bounds()
        tolerance = [_REL_TOL * max(1.0, abs(b)) for b in bounds]
        measure = {"flops": space.flops, "params": space.params,
                   "latency_ms": lambda arch: space.latency(arch, self.constraints.latency_table)}
        losses, costs, parts = [], [], []
        for index, block in enumerate(self.table.blocks):
            order = sorted(range(len(block)), key=lambda i: (float(block[i]["loss"]), i))
            cands = [block[i]["arch"] for i in order]
            per_name = [candidate_costs(space, index, cands, measure[name]) for name in names]
            losses.append([float(block[i]["loss"]) for i in order])
            costs.append([tuple(values[j] for values in per_name) for j in range(len(order))])
            parts.append(cands)
        num_blocks = len(losses)
        loss_rest = [0.0] * (num_blocks + 1)  # best possible loss of blocks b.. end
        cost_rest = [[0.0] * len(names) for _ in range(num_blocks + 1)]
        for b in range(num_blocks - 1, -1, -1):
            loss_rest[b] = loss_rest[b + 1] + losses[b][0]
            cost_rest[b] = [cost_rest[b + 1][q] + min(c[q] for c in costs[b]) for q in range(len(names))]
        check_exact = self.constraints.active
        heap: list[tuple[float, tuple[int, ...], dict[str, Any]]] = []  # the k best: (-loss, -ranks, arch)
        seen: set[str] = set()
        chosen: list[int] = []

        def visit(b: int, loss_so_far: float, cost_so_far: list[float]) -> None:
            block_losses, block_costs, rest = losses[b], costs[b], loss_rest[b + 1]
            last = b == num_blocks - 1
            for rank, loss in enumerate(block_losses):
                if len(heap) == k and loss_so_far + loss + rest > -heap[0][0] + _REL_TOL * max(1.0, abs(heap[0][0])):
                    break  # sorted: every later candidate of this block is worse
                cost = [cost_so_far[q] + block_costs[rank][q] for q in range(len(names))]
                if any(base[q] + cost[q] + cost_rest[b + 1][q] > bounds[q] + tolerance[q] for q in range(len(names))):
                    continue
                chosen.append(rank)
                if last:
                    total = loss_so_far + loss
                    arch: dict[str, Any] = {}
                    for block, r in enumerate(chosen):
                        arch.update(parts[block][r])
                    arch = space.canonical(arch)
                    key = self.fingerprint(arch)
                    if key not in seen and (not check_exact or self.constraints.satisfied(space, arch)):
                        item = (-total, tuple(-r for r in chosen), arch)
                        if len(heap) < k:
                            seen.add(key)
                            heapq.heappush(heap, item)
                        elif item[:2] > heap[0][:2]:
                            seen.add(key)
                            heapq.heapreplace(heap, item)
                else:
                    visit(b + 1, loss_so_far + loss, cost)
                chosen.pop()

        visit(0, 0.0, [0.0] * len(names))
        ranked = sorted(heap, key=lambda item: (-item[0], tuple(-r for r in item[1])))
        return [(-item[0], dict(item[2])) for item in ranked]

    # -- ask/tell --------------------------------------------------------------------------------
    def _ask(self) -> Any:
        ranked = self.ranked()
        while self.position < len(ranked):
            arch = ranked[self.position][1]
            self.position += 1
            if not self.was_proposed(arch):
                return dict(arch)
        return FINISHED

    def _tell(self, arch: dict[str, Any], score: float | None) -> None:
        pass  # the order is the table's; results are recorded by the base class only

    def _extra_state(self) -> dict[str, Any]:
        return {"position": self.position}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.position = int(state["position"])
