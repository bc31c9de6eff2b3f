"""Regularized (aging) evolution, Real et al. 2019, steady-state for concurrent trials."""

from __future__ import annotations

from typing import Any

from raynas.checks import check_int
from raynas.constraints import Constraints
from strategies.population import PopulationStrategy

__all__ = ["EvolutionStrategy"]


class EvolutionStrategy(PopulationStrategy):
    """Regularized evolution (a :class:`~strategies.population.PopulationStrategy`).

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
            changes. ``None`` means ``0.6 / number of choices``: a child differs from its
            parent in one or two choices whatever the size of the space (0.1 on NAS-Bench-201).
        crossover_prob: probability that a child comes from two parents, in ``[0, 1]``.
        dedupe: redraw children (and initial samples) already proposed; when 100 children
            in a row were all proposed before, a fresh random architecture is proposed instead.
        max_retries: draws per proposal before falling back (see ``Strategy._propose``).

    The defaults suit budgets of 50 to a few hundred trials with several in flight; they
    were chosen by the mean rank over NAS-Bench-201's three data sets at 50, 100 and 300
    trials, 4 in flight (``benchmarks/nb201_sweep.py``, seeds 100-139, which
    ``benchmarks/nb201_strategies.py`` does not report): a population of 20 whose best
    member is the parent adapts faster than 30 at small budgets and still explores by
    aging; small tournaments explore more and pay off only with more trials.
    """

    mutations_per_child = 0.6

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        constraints: Constraints | None = None,
        population_size: int = 20,
        sample_size: int | None = None,
        mutation_prob: float | None = None,
        crossover_prob: float = 0.0,
        dedupe: bool = True,
        max_retries: int = 1000,
    ):
        super().__init__(
            space, seed=seed, constraints=constraints, population_size=population_size, mutation_prob=mutation_prob,
            crossover_prob=crossover_prob, dedupe=dedupe, max_retries=max_retries,
        )
        if sample_size is None:
            self.sample_size = self.population_size
        else:
            self.sample_size = check_int(type(self).__name__, "sample_size", sample_size, low=1,
                                         high=self.population_size)

    def _select_parent(self) -> dict[str, Any]:
        """Tournament: the best of ``sample_size`` members drawn uniformly (ties: the youngest)."""
        members = self.rng.sample(range(len(self.population)), self.sample_size)
        best = max(members, key=lambda i: (self.population[i][1], i))
        return self.population[best][0]

    def _survive(self) -> None:
        """Aging: the oldest members die."""
        del self.population[: max(0, len(self.population) - self.population_size)]
