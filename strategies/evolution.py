"""Regularized (aging) evolution, Real et al. 2019, steady-state for concurrent trials."""

from __future__ import annotations

from collections import deque
from typing import Any, Mapping

from raynas.checks import check_bool, check_float, check_int
from raynas.constraints import Constraints
from strategies._base import FINISHED, Strategy

__all__ = ["EvolutionStrategy"]

_CHILD_DRAWS = 100  # children drawn per proposal before exploring with a random architecture


class EvolutionStrategy(Strategy):
    """Regularized evolution.

    Until ``population_size`` results are in, ``ask`` returns uniform random feasible
    architectures (so concurrent trials stay busy while the first results arrive). After
    that every ``ask`` returns a child: ``sample_size`` members are drawn uniformly from
    the population, the best is the parent (with ``crossover_prob``, a second tournament
    gives another parent and the child is their uniform crossover), and the child is
    ``space.mutate(parent, rng, mutation_prob)``. Each result joins the population and the
    oldest member is removed (aging); failed trials do not join.

    Args:
        space, seed, constraints: as for every strategy.
        population_size: members kept alive (>= 2).
        sample_size: tournament size, in ``[1, population_size]``; ``None`` means the whole
            population, so the parent is the best living member and aging alone regularises.
        mutation_prob: per-choice probability of a change; at least one choice always
            changes. ``None`` means ``1 / (2 * number of choices)``: a child differs from its
            parent in one or two choices whatever the size of the space.
        crossover_prob: probability that a child comes from two parents, in ``[0, 1]``.
        dedupe: redraw children (and initial samples) already proposed; when 100 children
            in a row were all proposed before, a fresh random architecture is proposed instead.
        max_retries: draws per proposal before falling back (see ``Strategy._propose``).

    The defaults suit budgets of a few hundred trials; they were chosen on the NAS-Bench-201
    table (``benchmarks/nb201_strategies.py``, on seeds other than those it reports):
    small tournaments and larger mutations explore more and pay off only with more trials.
    """

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        constraints: Constraints | None = None,
        population_size: int = 30,
        sample_size: int | None = None,
        mutation_prob: float | None = None,
        crossover_prob: float = 0.0,
        dedupe: bool = True,
        max_retries: int = 1000,
    ):
        super().__init__(space, seed=seed, constraints=constraints, max_retries=max_retries)
        owner = type(self).__name__
        self.population_size = check_int(owner, "population_size", population_size, low=2)
        if sample_size is None:
            self.sample_size = self.population_size
        else:
            self.sample_size = check_int(owner, "sample_size", sample_size, low=1, high=self.population_size)
        if mutation_prob is None:
            self.mutation_prob = 1.0 / (2 * len(space.choices))
        else:
            self.mutation_prob = check_float(owner, "mutation_prob", mutation_prob, low=0.0, high=1.0)
        self.crossover_prob = check_float(owner, "crossover_prob", crossover_prob, low=0.0, high=1.0)
        self.dedupe = check_bool(owner, "dedupe", dedupe)
        self.population: deque[tuple[dict[str, Any], float]] = deque()

    def _ask(self) -> Any:
        if len(self.population) < self.population_size:
            arch = self._sample(dedupe=self.dedupe)
        else:
            arch = self._propose(self._child, dedupe=self.dedupe, draws=_CHILD_DRAWS)
            if arch is None or (self.dedupe and self.was_proposed(arch)):
                # the parents' neighbourhoods are used up: explore with a fresh random architecture
                arch = self._sample(dedupe=self.dedupe)
        return FINISHED if arch is None else arch

    def _tournament(self) -> dict[str, Any]:
        members = self.rng.sample(range(len(self.population)), self.sample_size)
        best = max(members, key=lambda i: (self.population[i][1], i))
        return self.population[best][0]

    def _child(self) -> Mapping[str, Any]:
        parent = self._tournament()
        if self.crossover_prob > 0 and self.rng.random() < self.crossover_prob:
            parent = self.space.crossover(parent, self._tournament(), self.rng)
        return self.space.mutate(parent, self.rng, self.mutation_prob)

    def _tell(self, arch: dict[str, Any], score: float | None) -> None:
        if score is None:
            return
        self.population.append((arch, score))
        while len(self.population) > self.population_size:
            self.population.popleft()

    def _extra_state(self) -> dict[str, Any]:
        return {"population": [[dict(a), s] for a, s in self.population]}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.population = deque((dict(a), float(s)) for a, s in state["population"])
