"""Local search over the one-change neighbourhood, with random restarts at local optima.

White et al. ("Local search is state of the art for neural architecture search
benchmarks", 2021) found this simple hill climber among the strongest methods on
NAS-Bench-201.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from raynas.checks import check_choice, check_int
from raynas.constraints import Constraints
from strategies._base import FINISHED, Strategy

__all__ = ["LocalSearchStrategy"]

_STEPS = ("first", "best")


class LocalSearchStrategy(Strategy):
    """Hill climbing over ``space.neighbours`` (every architecture one choice away).

    A climb starts from the best of ``initial_samples`` uniform random feasible
    architectures (``restart_samples`` for every later climb). ``ask`` then proposes the
    current architecture's feasible, not yet proposed neighbours in a random order, so
    several can be in flight at once:

    - ``step="first"``: any result of this climb that beats the current architecture
      becomes the current one at once (its neighbours are proposed next);
    - ``step="best"``: once the whole neighbourhood is in, the climb moves to its best
      member if that beats the current architecture.

    Neighbours evaluated earlier (in another climb) count with their known score and are
    not proposed again; results told before the first climb (warm starts) are candidates
    for its start. When no neighbour improves, the current architecture is a local
    optimum and the next climb restarts from fresh random samples. ``ask`` returns
    ``None`` while the rest of a neighbourhood (or of a restart's samples) is still in
    flight and nothing else is left to propose, and ``FINISHED`` once no unproposed
    feasible architecture is left in a small space.

    Args:
        space, seed, constraints: as for every strategy.
        step: ``"first"`` or ``"best"`` improvement.
        initial_samples: random architectures the first climb starts from the best of (>= 1).
        restart_samples: the same for every climb after a local optimum (>= 1).
        max_retries: draws per random sample before falling back (see ``Strategy._propose``).

    The defaults were chosen on the NAS-Bench-201 table (``benchmarks/nb201_sweep.py``, on
    seeds other than those ``benchmarks/nb201_strategies.py`` reports).
    """

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        constraints: Constraints | None = None,
        step: str = "first",
        initial_samples: int = 10,
        restart_samples: int = 1,
        max_retries: int = 1000,
    ):
        super().__init__(space, seed=seed, constraints=constraints, max_retries=max_retries)
        owner = type(self).__name__
        self.step = check_choice(owner, "step", step, _STEPS)
        self.initial_samples = check_int(owner, "initial_samples", initial_samples, low=1)
        self.restart_samples = check_int(owner, "restart_samples", restart_samples, low=1)
        self.told: dict[str, float | None] = {}  # fingerprint -> score (None: failed)
        self.in_flight: set[str] = set()
        self.current: dict[str, Any] | None = None
        self.current_score: float | None = None
        self.queue: list[dict[str, Any]] = []  # neighbours of current still to propose
        self.neighbourhood: set[str] = set()  # fingerprints of current's feasible neighbours
        self.climb: set[str] = set()  # fingerprints proposed since the last restart
        self.step_best: tuple[dict[str, Any], float] | None = None  # best-improvement candidate
        self.starts_left = self.initial_samples
        self.num_climbs = 1  # climbs begun, the first included

    # -- ask -------------------------------------------------------------------------------------
    def _ask(self) -> Any:
        for _ in range(self.max_retries):
            if self.current is None:
                if self.starts_left > 0:
                    arch = self._sample(dedupe=True)
                    if arch is None:
                        return FINISHED
                    self.starts_left -= 1
                    return self._launch(arch)
                if self.climb & self.in_flight:
                    return None  # wait for the starting samples
                # the first climb also starts from results told without being asked for (warm starts)
                start = self._best_of(self.climb if self.num_climbs > 1 else self.climb | set(self.told))
                if start is None:  # every starting sample failed: draw new ones
                    self._restart()
                    continue
                self._enter(*start)
                continue
            while self.queue:
                arch = self.queue.pop()
                fingerprint = self.fingerprint(arch)
                if fingerprint not in self.told and fingerprint not in self.in_flight:
                    return self._launch(arch)
            if self.neighbourhood & self.in_flight:
                return None  # the rest of the neighbourhood is still being evaluated
            if self.step_best is not None and self.step_best[1] > self.current_score:
                self._enter(*self.step_best)
                continue
            self._restart()  # a local optimum
        raise RuntimeError(f"{type(self).__name__}: no proposal after {self.max_retries} restarts in one ask")

    def _launch(self, arch: dict[str, Any]) -> dict[str, Any]:
        fingerprint = self.fingerprint(arch)
        self.in_flight.add(fingerprint)
        self.climb.add(fingerprint)
        return arch

    def _restart(self) -> None:
        self.current, self.current_score = None, None
        self.queue, self.neighbourhood, self.climb, self.step_best = [], set(), set(), None
        self.starts_left = self.restart_samples
        self.num_climbs += 1

    def _best_of(self, fingerprints: set[str]) -> tuple[dict[str, Any], float] | None:
        scored = [(self.told[f], f) for f in fingerprints if self.told.get(f) is not None]
        if not scored:
            return None
        score, fingerprint = max(scored)
        return self._arch_of(fingerprint), score

    def _arch_of(self, fingerprint: str) -> dict[str, Any]:
        return self.space.canonical(dict(zip(self._keys, json.loads(fingerprint))))

    def _enter(self, arch: dict[str, Any], score: float) -> None:
        """Make ``arch`` the current architecture and queue its unevaluated neighbours."""
        while True:
            self.current, self.current_score, self.step_best = dict(arch), score, None
            neighbours = [n for n in self.space.neighbours(arch) if self.is_feasible(n)]
            self.neighbourhood = {self.fingerprint(n) for n in neighbours}
            self.queue = [n for n in neighbours if self.fingerprint(n) not in self.told]
            self.rng.shuffle(self.queue)
            known = self._best_of(self.neighbourhood)  # neighbours evaluated before
            if known is None or known[1] <= score:
                return
            if self.step == "best":
                self.step_best = known
                return
            arch, score = known

    # -- tell ------------------------------------------------------------------------------------
    def _tell(self, arch: dict[str, Any], score: float | None) -> None:
        fingerprint = self.fingerprint(arch)
        self.told[fingerprint] = score
        self.in_flight.discard(fingerprint)
        if score is None or self.current is None or score <= self.current_score:
            return
        if self.step == "first" and fingerprint in self.climb:
            self._enter(arch, score)
        elif self.step == "best" and fingerprint in self.neighbourhood:
            if self.step_best is None or score > self.step_best[1]:
                self.step_best = (dict(arch), score)

    # -- state -----------------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        return {
            "told": dict(self.told),
            "in_flight": sorted(self.in_flight),
            "current": None if self.current is None else dict(self.current),
            "current_score": self.current_score,
            "queue": [dict(a) for a in self.queue],
            "neighbourhood": sorted(self.neighbourhood),
            "climb": sorted(self.climb),
            "step_best": None if self.step_best is None else [dict(self.step_best[0]), self.step_best[1]],
            "starts_left": self.starts_left,
            "num_climbs": self.num_climbs,
        }

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.told = {str(k): (None if v is None else float(v)) for k, v in state["told"].items()}
        self.in_flight = set(state["in_flight"])
        self.current = None if state["current"] is None else dict(state["current"])
        self.current_score = state["current_score"]
        self.queue = [dict(a) for a in state["queue"]]
        self.neighbourhood = set(state["neighbourhood"])
        self.climb = set(state["climb"])
        best = state["step_best"]
        self.step_best = None if best is None else (dict(best[0]), float(best[1]))
        self.starts_left = int(state["starts_left"])
        self.num_climbs = int(state["num_climbs"])
