"""Multi-objective evolution: steady-state NSGA-II (Deb et al. 2002) over vector scores.

The multi-objective variant of ``evolution``. ``raynas.compare(..., objectives=...)`` and
``raynas compare --objectives`` use it for ``evolution``; it is pure ask/tell like every
strategy (no Ray, no torch). Reach it directly as ``strategies.nsga2.NSGA2Strategy``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping, Sequence

from raynas.checks import check_bool, check_float, check_int
from raynas.constraints import Constraints
from raynas.report.pareto import crowding_distance, non_dominated_sort
from strategies._base import FINISHED, Strategy

__all__ = ["NSGA2Strategy"]

_CHILD_DRAWS = 100  # children drawn per proposal before exploring with a random architecture


class NSGA2Strategy(Strategy):
    """Steady-state NSGA-II.

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
        super().__init__(space, seed=seed, constraints=constraints, max_retries=max_retries)
        owner = type(self).__name__
        self.population_size = check_int(owner, "population_size", population_size, low=2)
        if mutation_prob is None:
            self.mutation_prob = 1.0 / len(space.choices)
        else:
            self.mutation_prob = check_float(owner, "mutation_prob", mutation_prob, low=0.0, high=1.0)
        self.crossover_prob = check_float(owner, "crossover_prob", crossover_prob, low=0.0, high=1.0)
        self.dedupe = check_bool(owner, "dedupe", dedupe)
        self.num_objectives: int | None = None
        self.population: list[tuple[dict[str, Any], tuple[float, ...]]] = []
        self._ranks: list[tuple[int, float]] = []  # (front, -crowding) per member; smaller is better

    # -- scores ----------------------------------------------------------------------------------
    def _vector(self, score: Any) -> tuple[float, ...] | None:
        """``score`` as a tuple of finite floats, ``None`` for a failed trial."""
        if score is None:
            return None
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

    def tell(self, arch: Mapping[str, Any], score: Any) -> None:
        """Report the maximised score vector (or single number, or ``None`` if failed) of ``arch``."""
        arch = self.space.canonical(arch)
        vector = self._vector(score)
        self.num_told += 1
        if vector is None:
            self.num_failed += 1
        elif self.best_score is None or vector[0] > self.best_score:
            self.best_arch, self.best_score = dict(arch), vector[0]  # best on the first objective
        self._tell(arch, vector)

    # -- the hooks -------------------------------------------------------------------------------
    def _ask(self) -> Any:
        if len(self.population) < self.population_size:
            arch = self._sample(dedupe=self.dedupe)
        else:
            arch = self._propose(self._child, dedupe=self.dedupe, draws=_CHILD_DRAWS)
            if arch is None or (self.dedupe and self.was_proposed(arch)):
                arch = self._sample(dedupe=self.dedupe)
        return FINISHED if arch is None else arch

    def _tournament(self) -> dict[str, Any]:
        a, b = self.rng.randrange(len(self.population)), self.rng.randrange(len(self.population))
        return self.population[min(a, b, key=lambda i: (self._ranks[i], i))][0]

    def _child(self) -> Mapping[str, Any]:
        parent = self._tournament()
        if self.crossover_prob > 0 and self.rng.random() < self.crossover_prob:
            parent = self.space.crossover(parent, self._tournament(), self.rng)
        return self.space.mutate(parent, self.rng, self.mutation_prob)

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

    def _tell(self, arch: dict[str, Any], score: tuple[float, ...] | None) -> None:
        if score is None:
            return
        self.population.append((arch, score))
        self._rank()
        while len(self.population) > self.population_size:
            worst = max(range(len(self.population)), key=lambda i: (self._ranks[i], -i))
            del self.population[worst]
            self._rank()

    def _extra_state(self) -> dict[str, Any]:
        return {
            "population": [[dict(a), list(s)] for a, s in self.population],
            "num_objectives": self.num_objectives,
        }

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.population = [(dict(a), tuple(float(v) for v in s)) for a, s in state["population"]]
        self.num_objectives = state["num_objectives"]
        self._rank()
