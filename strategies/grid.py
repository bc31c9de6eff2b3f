"""BigNAS coarse-to-fine grid search (Yu et al. 2020)."""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any, Mapping, Sequence

from raynas.checks import check_int
from raynas.constraints import Constraints
from strategies._base import FINISHED, Strategy

__all__ = ["GridStrategy", "coarse_axes"]

logger = logging.getLogger(__name__)

_STAGE_KEY = re.compile(r"^s(\d+)\.(depth|width)$")
_BLOCK_KEY = re.compile(r"^s(\d+)\.b(\d+)\.(kernel|expand)$")
_RESOLUTIONS = 5  # at most this many resolutions in the coarse grid, evenly spaced


def _spread(values: Sequence[Any], count: int) -> list[Any]:
    """``count`` values evenly spaced over ``values`` (ends included), without repeats."""
    if len(values) <= count:
        return list(values)
    picks = [values[round(i * (len(values) - 1) / (count - 1))] for i in range(count)]
    return list(dict.fromkeys(picks))


def coarse_axes(choices: Mapping[str, Sequence[Any]]) -> list[list[dict[str, Any]]]:
    """The axes of the coarse grid; each axis is a list of partial assignments.

    - ``resolution``: up to 5 evenly spaced values (ends included).
    - Stage keys (``s{i}.depth``, ``s{i}.width``, ``s{i}.b{j}.kernel``,
      ``s{i}.b{j}.expand``): one axis per stage whose assignments set the depth, the width,
      every block's kernel and every block's expand ratio each to its smallest or largest
      value, the same across the stage's blocks (2^k patterns for k attributes present).
    - Any other numeric key: its first, middle and last value (numbers are ordered, so
      these span the range); a key whose values are strings (unordered, e.g. the
      operations of a cell): every value.

    The grid is the product of the axes.
    """
    stages: dict[int, dict[str, list[str]]] = {}
    axes: list[list[dict[str, Any]]] = []
    for key, values in choices.items():
        stage = _STAGE_KEY.match(key)
        block = _BLOCK_KEY.match(key)
        if stage:
            stages.setdefault(int(stage.group(1)), {}).setdefault(stage.group(2), []).append(key)
        elif block:
            stages.setdefault(int(block.group(1)), {}).setdefault(block.group(3), []).append(key)
        elif key == "resolution":
            axes.append([{key: v} for v in _spread(values, _RESOLUTIONS)])
        elif all(isinstance(v, str) for v in values):
            axes.append([{key: v} for v in values])  # unordered (e.g. operations): every value
        else:
            axes.append([{key: v} for v in _spread(values, 3)])
    for index in sorted(stages):
        attributes = stages[index]
        names = sorted(attributes)
        patterns = []
        for levels in range(2 ** len(names)):
            assignment = {}
            for bit, name in enumerate(names):
                use_last = (levels >> bit) & 1
                for key in attributes[name]:
                    assignment[key] = choices[key][-1] if use_last else choices[key][0]
            patterns.append(assignment)
        unique = list({tuple(sorted(p.items())): p for p in patterns}.values())
        axes.append(unique)
    return axes


class GridStrategy(Strategy):
    """Coarse-to-fine grid search, as BigNAS selects its children.

    1. **Coarse**: the grid of :func:`coarse_axes` (resolution x stage-wise min/max
       patterns; first/middle/last values of other numeric keys, every value of string keys), in
       lexicographic order, keeping feasible architectures only. When the grid has more
       than ``coarse_max`` points, the all-smallest and all-largest points are kept and the
       rest is a uniform sample (drawn with the strategy's seeded generator) of grid
       indices, evaluated in increasing index order.
    2. **Fine**: once every coarse result is in, every feasible single-choice change
       (``space.neighbours``) of the best architecture so far that was not evaluated yet.
       With ``fine_rounds > 1`` this repeats around the new best while it improves.
    3. ``FINISHED``.

    ``ask`` returns ``None`` while a phase waits for its last results.

    Args:
        space, seed, constraints: as for every strategy.
        coarse_max: most points of the coarse grid, >= 2.
        fine_rounds: rounds of the fine grid, >= 0 (BigNAS uses 1).
    """

    exhaustive = True

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        constraints: Constraints | None = None,
        coarse_max: int = 64,
        fine_rounds: int = 1,
        max_retries: int = 1000,
    ):
        super().__init__(space, seed=seed, constraints=constraints, max_retries=max_retries)
        owner = type(self).__name__
        self.coarse_max = check_int(owner, "coarse_max", coarse_max, low=2)
        self.fine_rounds = check_int(owner, "fine_rounds", fine_rounds, low=0)
        self.phase = "start"  # start -> coarse -> fine -> done
        self.round = 0
        self.queue: list[dict[str, Any]] = []
        self.pending: set[str] = set()
        self.results: dict[str, float] = {}
        self.center: str | None = None

    # -- the grids -----------------------------------------------------------------------------
    def coarse_grid(self) -> list[dict[str, Any]]:
        """The feasible coarse-grid architectures, in evaluation order (uses the generator)."""
        axes = coarse_axes(self.space.choices)
        sizes = [len(axis) for axis in axes]
        total = math.prod(sizes)
        if total <= self.coarse_max:
            indices = list(range(total))
        else:
            chosen = {0, total - 1}
            for _ in range(100 * self.coarse_max):
                if len(chosen) >= self.coarse_max:
                    break
                chosen.add(self.rng.randrange(total))
            indices = sorted(chosen)
        grid, seen = [], set()
        for index in indices:
            arch: dict[str, Any] = {}
            for axis, size in zip(reversed(axes), reversed(sizes)):  # last axis varies fastest
                index, digit = divmod(index, size)
                arch.update(axis[digit])
            arch = self.space.canonical({key: arch[key] for key in self.space.choices})
            key = self.fingerprint(arch)
            if key not in seen and self.is_feasible(arch):
                seen.add(key)
                grid.append(arch)
        if not grid:
            logger.info("GridStrategy: no coarse-grid point meets the constraints; starting from the smallest")
            grid = [self.space.canonical(self.space.smallest())]
        return grid

    def _fine_grid(self, center: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = []
        for arch in self.space.neighbours(center):
            key = self.fingerprint(arch)
            if key not in self.results and not self.was_proposed(arch) and self.is_feasible(arch):
                out.append(arch)
        return out

    # -- ask/tell ------------------------------------------------------------------------------
    def _ask(self) -> Any:
        if self.phase == "start":
            self.queue = self.coarse_grid()
            self.phase = "coarse"
        while True:
            while self.queue:
                arch = self.queue.pop(0)
                if not self.was_proposed(arch):
                    self.pending.add(self.fingerprint(arch))
                    return arch
            if self.phase == "done":
                return FINISHED
            if self.pending:
                return None  # wait for this phase's results
            self._next_phase()

    def _next_phase(self) -> None:
        if not self.results:
            logger.warning("GridStrategy: every trial failed; nothing to refine")
            self.phase = "done"
            return
        best = max(self.results, key=lambda k: (self.results[k], k))
        if self.round >= self.fine_rounds or best == self.center:
            self.phase = "done"
            return
        self.round += 1
        self.center = best
        self.queue = self._fine_grid(self._arch_of(best))
        self.phase = "fine"
        logger.debug("GridStrategy: fine round %d around %s (%d neighbours)", self.round, best, len(self.queue))

    def _arch_of(self, key: str) -> dict[str, Any]:
        return self.space.canonical(dict(zip(self.space.choices, json.loads(key))))

    def _tell(self, arch: dict[str, Any], score: float | None) -> None:
        key = self.fingerprint(arch)
        self.pending.discard(key)
        if score is not None:
            self.results[key] = max(score, self.results.get(key, score))

    # -- state ---------------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "round": self.round,
            "queue": [dict(a) for a in self.queue],
            "pending": sorted(self.pending),
            "results": dict(self.results),
            "center": self.center,
        }

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.phase = state["phase"]
        self.round = int(state["round"])
        self.queue = [dict(a) for a in state["queue"]]
        self.pending = set(state["pending"])
        self.results = dict(state["results"])
        self.center = state["center"]
