"""Local search over the one-change neighbourhood, with restarts at local optima.

White et al. ("Local search is state of the art for neural architecture search
benchmarks", 2021) found this simple hill climber among the strongest methods on
NAS-Bench-201. By default a small ridge-regression model fitted on every result so far
orders each neighbourhood and picks where a climb restarts (``order`` and ``restart``
``"predicted"``); ``order="random", restart="random", patience=None`` is the plain hill
climber of that paper.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np

from raynas.checks import check_choice, check_float, check_int
from raynas.constraints import Constraints
from strategies._base import FINISHED, Strategy

__all__ = ["LocalSearchStrategy"]

_STEPS = ("first", "best")
_ORDERS = ("predicted", "random")
_TARGETS = ("ranks", "values")


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
    optimum and the next climb restarts. ``ask`` returns ``FINISHED`` once no unproposed
    feasible architecture is left in a small space.

    The model (``order`` or ``restart`` ``"predicted"``) is a ridge regression, with an
    intercept, on ``space.encode`` of every successful result told so far (warm starts
    included; it needs nothing else), refitted whenever a result arrives. Its targets are
    the normal scores of the results' ranks (``targets="ranks"``), so the few very poor
    architectures a space holds (a cell with no path to its output) cannot drag the fit,
    or the standardised scores themselves (``targets="values"``):

    - ``order="predicted"``: the neighbour proposed next is the one the model ranks best
      (``"random"``: a random order);
    - ``patience``: after that many neighbours of the current architecture were proposed
      without one beating it, it counts as a local optimum even if some neighbours are
      left (``None``: only once the whole neighbourhood is in);
    - ``restart="predicted"``: a climb after a local optimum starts from the model's best
      of ``restart_candidates`` uniform random feasible architectures that differ from
      every local optimum found so far in at least ``restart_distance`` choices; while
      that start is in flight, uniform random samples keep the other trials busy and join
      the climb (``"random"``: the best of ``restart_samples`` uniform random samples).

    With ``order="random"`` and ``restart="random"``, ``ask`` returns ``None`` while the
    rest of a neighbourhood (or of a climb's starting samples) is still in flight and
    nothing else is left to propose; the model-guided climb starts as soon as one of its
    starting samples is in, and moves when a better one arrives.

    Args:
        space, seed, constraints: as for every strategy.
        step: ``"first"`` or ``"best"`` improvement.
        initial_samples: random architectures the first climb starts from the best of (>= 1).
        restart_samples: the same for every climb after a local optimum with
            ``restart="random"`` (>= 1).
        order: ``"predicted"`` or ``"random"``: the order neighbours are proposed in.
        patience: neighbours proposed without an improvement before the climb ends (>= 1;
            ``None``: the whole neighbourhood).
        restart: ``"predicted"`` or ``"random"``: how a new climb picks its start.
        restart_candidates: random architectures the model ranks for a restart (>= 1).
        restart_distance: choices a restart must differ in from every local optimum (>= 1).
        ridge: the model's L2 penalty (> 0).
        targets: ``"ranks"`` or ``"values"``: what the model fits (see above).
        max_retries: draws per random sample before falling back (see ``Strategy._propose``).

    The defaults were chosen on the NAS-Bench-201 table (``benchmarks/nb201_sweep.py``, on
    seeds other than those ``benchmarks/nb201_strategies.py`` reports) by the mean rank over
    its three data sets at 50, 100 and 300 trials with 4 in flight.
    """

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        constraints: Constraints | None = None,
        step: str = "first",
        initial_samples: int = 30,
        restart_samples: int = 1,
        order: str = "predicted",
        patience: int | None = 15,
        restart: str = "predicted",
        restart_candidates: int = 500,
        restart_distance: int = 3,
        ridge: float = 1.0,
        targets: str = "ranks",
        max_retries: int = 1000,
    ):
        super().__init__(space, seed=seed, constraints=constraints, max_retries=max_retries)
        owner = type(self).__name__
        self.step = check_choice(owner, "step", step, _STEPS)
        self.initial_samples = check_int(owner, "initial_samples", initial_samples, low=1)
        self.restart_samples = check_int(owner, "restart_samples", restart_samples, low=1)
        self.order = check_choice(owner, "order", order, _ORDERS)
        self.patience = None if patience is None else check_int(owner, "patience", patience, low=1)
        self.restart = check_choice(owner, "restart", restart, _ORDERS)
        self.restart_candidates = check_int(owner, "restart_candidates", restart_candidates, low=1)
        self.restart_distance = check_int(owner, "restart_distance", restart_distance, low=1)
        self.ridge = check_float(owner, "ridge", ridge, low=0.0, low_open=True)
        self.targets = check_choice(owner, "targets", targets, _TARGETS)
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
        self.tried = 0  # neighbours of current proposed since it became current
        self.optima: list[str] = []  # fingerprints of the local optima found
        self.restart_start: dict[str, Any] | None = None  # the model's pick for the next climb's start
        self._weights: np.ndarray | None = None  # the model, refitted when stale
        self._fit_size = -1
        self._codes: dict[str, np.ndarray] = {}
        self._optima_positions: list[list[int]] = []  # self.optima as choice indices
        self._choice_index: list[dict[str, int]] | None = None

    @property
    def guided(self) -> bool:
        return self.order == "predicted" or self.restart == "predicted"

    # -- ask -------------------------------------------------------------------------------------
    def _ask(self) -> Any:
        for _ in range(self.max_retries):
            if self.current is None:
                if self.starts_left > 0:
                    arch = self.restart_start if self.restart_start is not None else self._sample(dedupe=True)
                    self.restart_start = None
                    if arch is None:
                        return FINISHED
                    self.starts_left -= 1
                    return self._launch(arch)
                # the first climb also starts from results told without being asked for (warm starts)
                start = self._best_of(self.climb if self.num_climbs > 1 else self.climb | set(self.told))
                if self.climb & self.in_flight and (start is None or not self.guided):
                    if not self.guided:
                        return None  # wait for the starting samples
                    arch = self._sample(dedupe=True)  # keep the trials busy; it joins the climb
                    return FINISHED if arch is None else self._launch(arch)
                if start is None:  # every starting sample failed: draw new ones
                    self._restart()
                    continue
                self._enter(*start)
                continue
            if self.patience is None or self.tried < self.patience:
                arch = self._next_neighbour()
                if arch is not None:
                    self.tried += 1
                    return self._launch(arch)
            # the plain climber, and any climb that must see its whole neighbourhood, waits for the rest
            if self.neighbourhood & self.in_flight and (self.patience is None or not self.guided):
                return None
            if self.step_best is not None and self.step_best[1] > self.current_score:
                self._enter(*self.step_best)
                continue
            self._restart()  # a local optimum
        raise RuntimeError(f"{type(self).__name__}: no proposal after {self.max_retries} restarts in one ask")

    def _next_neighbour(self) -> dict[str, Any] | None:
        """The next neighbour of the current architecture to propose (None: none left)."""
        self.queue = [a for a in self.queue if (f := self.fingerprint(a)) not in self.told and f not in self.in_flight]
        if not self.queue:
            return None
        if self.order == "random":
            return self.queue.pop()
        scores = self._predict(self.queue)
        if scores is None:
            return self.queue.pop()
        return self.queue.pop(int(np.argmax(scores)))

    def _launch(self, arch: dict[str, Any]) -> dict[str, Any]:
        fingerprint = self.fingerprint(arch)
        self.in_flight.add(fingerprint)
        self.climb.add(fingerprint)
        return arch

    def _restart(self) -> None:
        if self.current is not None:
            self.optima.append(self.fingerprint(self.current))
            self._optima_positions.append(self._positions(self.current))
        self.current, self.current_score = None, None
        self.queue, self.neighbourhood, self.climb, self.step_best = [], set(), set(), None
        self.starts_left = self.restart_samples
        self.num_climbs += 1
        if self.restart == "predicted":
            self.starts_left = 1
            self.restart_start = self._predicted_start()

    def _predicted_start(self) -> dict[str, Any] | None:
        """The model's best of ``restart_candidates`` fresh feasible samples far from every local optimum."""
        pool, seen = [], set()
        for _ in range(self.restart_candidates):
            arch = self.space.sample(self.rng)
            fingerprint = self.fingerprint(arch)
            if fingerprint in seen or self.was_proposed(arch) or not self.is_feasible(arch):
                continue
            seen.add(fingerprint)
            pool.append(arch)
        if pool and self._optima_positions:
            optima = np.array(self._optima_positions)
            candidates = np.array([self._positions(arch) for arch in pool])
            distance = (candidates[:, None, :] != optima[None, :, :]).sum(axis=2).min(axis=1)
            pool = [arch for arch, d in zip(pool, distance) if d >= self.restart_distance]
        if not pool:
            return None  # a random sample then
        scores = self._predict(pool, cache=False)
        return pool[0] if scores is None else pool[int(np.argmax(scores))]

    def _positions(self, arch: Mapping[str, Any]) -> list[int]:
        """The index of each of ``arch``'s values among its key's choices (for counting differences)."""
        if self._choice_index is None:  # values by their JSON text: tuples and lists compare equal
            self._choice_index = [{json.dumps(v): i for i, v in enumerate(self.space.choices[k])} for k in self._keys]
        return [index[json.dumps(arch[k])] for index, k in zip(self._choice_index, self._keys)]

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
            self.tried = 0
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

    # -- the model -------------------------------------------------------------------------------
    def _encode(self, fingerprint: str, arch: Mapping[str, Any] | None = None) -> np.ndarray:
        code = self._codes.get(fingerprint)
        if code is None:
            arch = self._arch_of(fingerprint) if arch is None else arch
            code = self._codes[fingerprint] = np.asarray(self.space.encode(arch), dtype=np.float64)
        return code

    def _predict(self, archs: list[dict[str, Any]], *, cache: bool = True) -> np.ndarray | None:
        """Ridge-regression predictions for ``archs``, up to a constant (None: fewer than two
        results to fit on)."""
        scored = [(f, s) for f, s in self.told.items() if s is not None]
        if len(scored) < 2:
            return None
        if self._weights is None or self._fit_size != len(scored):
            from sklearn.linear_model import Ridge

            features = np.stack([self._encode(f) for f, _ in scored])
            targets = np.array([s for _, s in scored], dtype=np.float64)
            if self.targets == "ranks":
                from scipy.stats import norm, rankdata

                targets = norm.ppf(rankdata(targets) / (len(targets) + 1))
            spread = targets.std()
            targets = (targets - targets.mean()) / (spread if spread > 0 else 1.0)
            self._weights = Ridge(alpha=self.ridge).fit(features, targets).coef_
            self._fit_size = len(scored)
        if cache:
            codes = np.stack([self._encode(self.fingerprint(a), a) for a in archs])
        else:  # one-off candidates: not worth keeping
            codes = np.stack([np.asarray(self.space.encode(a), dtype=np.float64) for a in archs])
        return codes @ self._weights

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
            "tried": self.tried,
            "optima": list(self.optima),
            "restart_start": None if self.restart_start is None else dict(self.restart_start),
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
        self.tried = int(state.get("tried", 0))
        self.optima = [str(f) for f in state.get("optima", [])]
        self._optima_positions = [self._positions(self._arch_of(f)) for f in self.optima]
        start = state.get("restart_start")
        self.restart_start = None if start is None else dict(start)
        self._weights, self._fit_size = None, -1
