"""Steady-state population search: the base of ``evolution`` and ``nsga2``.

Until ``population_size`` results are in, ``ask`` returns uniform random feasible
architectures (so concurrent trials stay busy while the first results arrive). After that
every ``ask`` returns a child: a parent from :meth:`PopulationStrategy._select_parent`
(with ``crossover_prob``, a second parent and their uniform crossover), mutated by
``space.mutate(parent, rng, mutation_prob)``. Each result joins the population and
:meth:`PopulationStrategy._survive` removes members until ``population_size`` are left;
failed trials do not join.

A subclass implements the two hooks, parent selection and survival, and sets
``mutations_per_child`` (the default ``mutation_prob`` is that many changes over the
number of choices).
"""

from __future__ import annotations

from typing import Any, Mapping

from raynas.checks import check_bool, check_float, check_int
from raynas.constraints import Constraints
from strategies._base import FINISHED, Strategy

__all__ = ["PopulationStrategy"]

_CHILD_DRAWS = 100  # children drawn per proposal before exploring with a random architecture


class PopulationStrategy(Strategy):
    """Steady-state evolution over a population of ``(arch, score)`` members, oldest first.

    Args:
        space, seed, constraints: as for every strategy.
        population_size: members kept alive (>= 2).
        mutation_prob: per-choice probability of a change, in ``[0, 1]``; at least one
            choice always changes. ``None``: ``mutations_per_child / number of choices``.
        crossover_prob: probability that a child comes from two parents, in ``[0, 1]``.
        dedupe: redraw children (and initial samples) already proposed; when 100 children
            in a row were all proposed before, a fresh random architecture is proposed instead.
        max_retries: draws per proposal before falling back (see ``Strategy._propose``).
    """

    #: expected changed choices per child when ``mutation_prob`` is ``None``
    mutations_per_child: float = 1.0

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        constraints: Constraints | None = None,
        population_size: int,
        mutation_prob: float | None,
        crossover_prob: float,
        dedupe: bool = True,
        max_retries: int = 1000,
    ):
        super().__init__(space, seed=seed, constraints=constraints, max_retries=max_retries)
        owner = type(self).__name__
        self.population_size = check_int(owner, "population_size", population_size, low=2)
        if mutation_prob is None:
            self.mutation_prob = self.mutations_per_child / len(space.choices)
        else:
            self.mutation_prob = check_float(owner, "mutation_prob", mutation_prob, low=0.0, high=1.0)
        self.crossover_prob = check_float(owner, "crossover_prob", crossover_prob, low=0.0, high=1.0)
        self.dedupe = check_bool(owner, "dedupe", dedupe)
        self.population: list[tuple[dict[str, Any], Any]] = []

    # -- the hooks ---------------------------------------------------------------------------
    def _select_parent(self) -> dict[str, Any]:
        """A member's architecture, chosen with ``self.rng``."""
        raise NotImplementedError

    def _survive(self) -> None:
        """Called after a member joined: remove members until at most ``population_size`` are left."""
        raise NotImplementedError

    # -- the steady-state loop ---------------------------------------------------------------
    def _ask(self) -> Any:
        if len(self.population) < self.population_size:
            arch = self._sample(dedupe=self.dedupe)
        else:
            arch = self._propose(self._child, dedupe=self.dedupe, draws=_CHILD_DRAWS)
            if arch is None or (self.dedupe and self.was_proposed(arch)):
                # the parents' neighbourhoods are used up: explore with a fresh random architecture
                arch = self._sample(dedupe=self.dedupe)
        return FINISHED if arch is None else arch

    def _child(self) -> Mapping[str, Any]:
        parent = self._select_parent()
        if self.crossover_prob > 0 and self.rng.random() < self.crossover_prob:
            parent = self.space.crossover(parent, self._select_parent(), self.rng)
        return self.space.mutate(parent, self.rng, self.mutation_prob)

    def _tell(self, arch: dict[str, Any], score: Any) -> None:
        if score is None:
            return
        self.population.append((arch, score))
        self._survive()

    def _extra_state(self) -> dict[str, Any]:
        return {"population": [[dict(a), list(s) if isinstance(s, tuple) else s] for a, s in self.population]}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.population = [
            (dict(a), tuple(float(v) for v in s) if isinstance(s, (list, tuple)) else float(s))
            for a, s in state["population"]
        ]
