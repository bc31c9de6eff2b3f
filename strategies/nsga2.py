"""Multi-objective evolution: steady-state NSGA-II (Deb et al. 2002) over vector scores.

The multi-objective variant of ``evolution``. ``raynas.compare(..., objectives=...)`` and
``raynas compare --objectives`` use it for ``evolution``; it is pure ask/tell like every
strategy (no Ray, no torch). Reach it directly as ``strategies.nsga2.NSGA2Strategy``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping, Sequence

from raynas.constraints import Constraints
from raynas.pareto import crowding_distance, non_dominated_sort
from strategies.population import PopulationStrategy

__all__ = ["NSGA2Strategy"]


class NSGA2Strategy(PopulationStrategy):
    """Steady-state NSGA-II (a :class:`~strategies.population.PopulationStrategy`).

    ``tell(arch, score)`` takes a *vector* of scores, every one maximised (negate the ones to
    minimise; the multi-objective Tune adapter does), or a single number (one objective,
    which makes this plain elitist evolution), or ``None`` for a failed trial.

    Until ``population_size`` results are in, ``ask`` returns uniform random feasible
    architectures. After that each ``ask`` returns a child: two binary tournaments on
    (non-domination rank, then crowding distance) pick parents; with ``crossover_prob`` the
    child is their uniform crossover, else the first parent; then
    ``space.mutate(child, rng, mutation_prob)``. Each result joins the population, and when
    it holds more than ``population_size`` members the worst one leaves: the member of the
    last non-dominated front with the smallest crowding distance (ties: the oldest).

    Args:
        space, seed, constraints: as for every strategy.
        population_size: members kept (>= 2).
        mutation_prob: per-choice probability of a change (``None``: ``1 / number of choices``).
        crossover_prob: probability of a two-parent child, in ``[0, 1]``.
        dedupe: redraw children already proposed; after 100 such draws, a fresh random
            architecture is proposed instead.
        max_retries: draws per proposal before falling back (see ``Strategy._propose``).
    """

    multi_objective = True
    mutations_per_child = 1.0

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        constraints: Constraints | None = None,
        population_size: int = 20,
        mutation_prob: float | None = None,
        crossover_prob: float = 0.5,
        dedupe: bool = True,
        max_retries: int = 1000,
    ):
        super().__init__(
            space, seed=seed, constraints=constraints, population_size=population_size, mutation_prob=mutation_prob,
            crossover_prob=crossover_prob, dedupe=dedupe, max_retries=max_retries,
        )
        self.num_objectives: int | None = None
        self._ranks: list[tuple[int, float]] = []  # (front, -crowding) per member; smaller is better

    # -- the hooks -------------------------------------------------------------------------------
    def _check_score(self, score: Any) -> tuple[float, ...] | None:
        """``score`` as a tuple of finite floats, ``None`` for a failed trial."""
        if isinstance(score, numbers.Real) and not isinstance(score, bool):
            values: Sequence[Any] = (score,)
        elif isinstance(score, Sequence) and not isinstance(score, (str, bytes)) and len(score) > 0:
            values = score
        else:
            raise TypeError(
                f"{type(self).__name__}.tell: score must be a number, a non-empty sequence of numbers or None, "
                f"got {score!r}"
            )
        out = []
        for value in values:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{type(self).__name__}.tell: every score must be a number, got {value!r} in {score!r}")
            if not math.isfinite(value):
                return None  # told as a failed trial
            out.append(float(value))
        if self.num_objectives is None:
            self.num_objectives = len(out)
        elif len(out) != self.num_objectives:
            raise ValueError(
                f"{type(self).__name__}.tell: score has {len(out)} objectives, earlier scores had "
                f"{self.num_objectives}: {score!r}"
            )
        return tuple(out)

    def _select_parent(self) -> dict[str, Any]:
        """Binary tournament on (non-domination rank, then crowding distance)."""
        a, b = self.rng.randrange(len(self.population)), self.rng.randrange(len(self.population))
        return self.population[min(a, b, key=lambda i: (self._ranks[i], i))][0]

    def _rank(self) -> None:
        scores = [s for _, s in self.population]
        ranks: list[tuple[int, float]] = [(0, 0.0)] * len(scores)
        if scores:
            modes = ["max"] * len(scores[0])
            for level, front in enumerate(non_dominated_sort(scores, modes)):
                crowding = crowding_distance([scores[i] for i in front], modes)
                for i, distance in zip(front, crowding):
                    ranks[i] = (level, -distance)
        self._ranks = ranks

    def _survive(self) -> None:
        """The last front's most crowded member leaves (ties: the oldest)."""
        self._rank()
        while len(self.population) > self.population_size:
            worst = max(range(len(self.population)), key=lambda i: (self._ranks[i], -i))
            del self.population[worst]
            self._rank()

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "num_objectives": self.num_objectives}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        super()._load_extra_state(state)
        self.num_objectives = state["num_objectives"]
        self._rank()
