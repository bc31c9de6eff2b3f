"""Multi-objective search: objectives, the scalarization, and the searchers that see every objective.

How each strategy handles several objectives (``raynas compare --objectives accuracy:max,flops:min``):

- ``tpe``: Optuna's multi-objective TPE through Ray Tune's ``OptunaSearch`` with lists of
  metrics and modes; infeasible proposals are never evaluated (see :class:`ParetoLibrarySearcher`).
- ``evolution``: NSGA-II non-dominated sorting and crowding distance
  (:class:`strategies.nsga2.NSGA2Strategy`) through :class:`ParetoStrategySearcher`.
- every other strategy: it maximises the weighted scalarization
  ``sum_i weight_i * sign_i * value_i / scale_i`` (``sign`` is -1 for ``min`` objectives;
  ``scale`` is the largest architecture's FLOPs or parameters for the ``flops`` and
  ``params`` objectives, so they weigh in as fractions of the largest net, and 1 otherwise),
  reported by :class:`ScalarizedEvaluator` as the ``scalarized`` metric.

Whatever the strategy, the result of a multi-objective search is the Pareto set of every
architecture it evaluated (:func:`raynas.report.pareto.pareto_rows`).
"""

from __future__ import annotations

import logging
import math
import numbers
import pickle
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ray.tune.search import Searcher

from raynas.constraints import Constraints
from raynas.errors import ConfigError, InfeasibleConstraints, InvalidArchitecture, InvalidCheckpoint
from raynas.tune.searcher import _write_pickle, restore_searcher_bytes, save_searcher_bytes

__all__ = [
    "Objective",
    "parse_objectives",
    "resolve_scales",
    "ScalarizedEvaluator",
    "SCALARIZED",
    "METHODS",
    "method_of",
    "multi_objective_searcher",
    "ParetoStrategySearcher",
    "ParetoLibrarySearcher",
]

logger = logging.getLogger(__name__)

SCALARIZED = "scalarized"
METHODS = {
    "tpe": "Optuna multi-objective TPE (OptunaSearch with metric/mode lists)",
    "evolution": "NSGA-II non-dominated sorting + crowding distance (strategies.nsga2)",
}
_SCALARIZATION = "weighted scalarization of the objectives"
_COST_METRICS = ("flops", "params")
_FORMAT = "raynas.ParetoSearcher/1"


def method_of(strategy: str) -> str:
    """How ``strategy`` handles several objectives (for help texts and reports)."""
    return METHODS.get(strategy, _SCALARIZATION)


@dataclass(frozen=True)
class Objective:
    """One objective: a metric the evaluator returns, to ``max``imise or ``min``imise.

    ``weight`` (> 0) and ``scale`` (> 0; ``None``: automatic, see :func:`resolve_scales`)
    matter only for strategies that maximise the weighted scalarization.
    """

    name: str
    mode: str = "max"
    weight: float = 1.0
    scale: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or any(c in self.name for c in ",:"):
            raise ConfigError(f"Objective.name must be a metric name without ',' or ':', got {self.name!r}")
        if self.mode not in ("max", "min"):
            raise ConfigError(f"Objective.mode of {self.name!r} must be 'max' or 'min', got {self.mode!r}")
        for field, value in (("weight", self.weight), ("scale", self.scale)):
            if field == "scale" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"Objective.{field} of {self.name!r} must be a positive finite number, got {value!r}")

    @property
    def sign(self) -> float:
        return 1.0 if self.mode == "max" else -1.0

    def __str__(self) -> str:
        return f"{self.name}:{self.mode}" + (f":{self.weight:g}" if self.weight != 1.0 else "")


def parse_objectives(objectives: str | Sequence[Any]) -> tuple[Objective, ...]:
    """``"accuracy:max,flops:min"`` (optionally ``name:mode:weight``) or a sequence of
    :class:`Objective`, ``(name, mode)`` or ``(name, mode, weight)`` -> objectives.

    Raises:
        ConfigError: empty, malformed, an unknown mode, a bad weight or a repeated name.
    """
    if isinstance(objectives, str):
        items: list[Any] = [part.strip() for part in objectives.split(",")]
    elif isinstance(objectives, Sequence):
        items = list(objectives)
    else:
        raise ConfigError(f"objectives must be text like 'accuracy:max,flops:min' or a sequence, got {objectives!r}")
    if not items or items == [""]:
        raise ConfigError("objectives must name at least one metric, e.g. 'accuracy:max,flops:min'")
    out: list[Objective] = []
    for item in items:
        if isinstance(item, Objective):
            out.append(item)
            continue
        parts = item.split(":") if isinstance(item, str) else list(item)
        if not 2 <= len(parts) <= 3 or not all(str(p).strip() for p in parts):
            raise ConfigError(f"objective {item!r} must be name:max|min or name:max|min:weight, e.g. 'flops:min:0.5'")
        name, mode = str(parts[0]).strip(), str(parts[1]).strip()
        weight: Any = 1.0
        if len(parts) == 3:
            try:
                weight = float(parts[2])
            except (TypeError, ValueError):
                raise ConfigError(f"objective {item!r}: weight must be a positive number, got {parts[2]!r}") from None
        out.append(Objective(name, mode, weight))
    names = [o.name for o in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"objectives name {repeated} more than once: {', '.join(map(str, out))}")
    if SCALARIZED in names:
        raise ConfigError(f"{SCALARIZED!r} is the name of the scalarized metric, not an objective")
    return tuple(out)


def resolve_scales(objectives: Sequence[Objective], space: Any) -> tuple[Objective, ...]:
    """Fill in automatic scales: the largest architecture's FLOPs/params for ``flops``/``params``, else 1."""
    out = []
    for obj in objectives:
        scale = obj.scale
        if scale is None:
            scale = 1.0
            if obj.name in _COST_METRICS:
                try:
                    scale = float(getattr(space, obj.name)(space.largest())) or 1.0
                except (NotImplementedError, AttributeError):
                    scale = 1.0
        out.append(Objective(obj.name, obj.mode, obj.weight, scale))
    return tuple(out)


class ScalarizedEvaluator:
    """Wraps an evaluator: its metrics plus ``scalarized = sum weight * sign * value / scale``.

    A missing or non-finite objective raises (the trial fails with that reason).
    """

    def __init__(self, evaluator: Callable[[dict[str, Any]], Mapping[str, Any]], objectives: Sequence[Objective]):
        if not callable(evaluator):
            raise TypeError(f"evaluator must be callable arch -> dict of metrics, got {type(evaluator).__name__}")
        self.evaluator = evaluator
        self.objectives = tuple(objectives)

    def __call__(self, arch: dict[str, Any]) -> dict[str, Any]:
        metrics = dict(self.evaluator(arch))
        total = 0.0
        for obj in self.objectives:
            value = metrics.get(obj.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"evaluator returned {obj.name}={value!r} for objective {obj}; "
                                 f"it returned {sorted(metrics)}")
            total += obj.weight * obj.sign * float(value) / (obj.scale or 1.0)
        metrics[SCALARIZED] = total
        return metrics

    def __getattr__(self, name: str) -> Any:  # optimum, lookup, ... of the wrapped evaluator
        if name.startswith("__") or name == "evaluator":
            raise AttributeError(name)
        return getattr(self.evaluator, name)


def _scores(result: Mapping[str, Any] | None, objectives: Sequence[Objective]) -> tuple[float, ...] | None:
    """The maximised score vector of a result; ``None`` if any objective is missing or not finite."""
    if not result:
        return None
    out = []
    for obj in objectives:
        value = result.get(obj.name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return None
        out.append(obj.sign * float(value))
    return tuple(out)


def _check(state: Any, owner: str, where: str) -> dict[str, Any]:
    if not isinstance(state, dict) or state.get("format") != _FORMAT or state.get("owner") != owner:
        raise InvalidCheckpoint(f"{owner}: {where} is not a {owner} checkpoint")
    return state


def _load(path: str, owner: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise InvalidCheckpoint(f"{owner}.restore: {path!r} is not a readable searcher checkpoint: {exc}") from exc
    return _check(state, owner, repr(path))


class ParetoStrategySearcher(Searcher):
    """A Tune searcher driving an ask/tell strategy that takes score *vectors* (``NSGA2Strategy``).

    Each completed trial is told as the tuple of its objectives, each signed to be maximised;
    a failed trial, or one missing an objective or holding NaN/inf, is told as ``None``.
    The objectives are fixed at construction, so :meth:`set_search_properties` returns False.
    """

    def __init__(self, strategy: Any, objectives: Sequence[Objective]):
        super().__init__(metric=None, mode=None)
        self._metric = [o.name for o in objectives]  # what Tune shows as this searcher's metric
        self._mode = [o.mode for o in objectives]
        self.strategy = strategy
        self.objectives = tuple(objectives)
        self._live: dict[str, dict[str, Any]] = {}
        self.max_concurrent: int | None = None

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return False

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self.max_concurrent = max_concurrent
        return False  # ConcurrencyLimiter enforces it

    def suggest(self, trial_id: str):
        from strategies import FINISHED

        if trial_id in self._live:
            return dict(self._live[trial_id])
        arch = self.strategy.ask()
        if arch is FINISHED:
            return self.FINISHED
        if arch is None:
            return None
        self._live[trial_id] = dict(arch)
        return dict(arch)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        pass

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        arch = self._live.pop(trial_id, None)
        if arch is None:
            logger.debug("completion of unknown or already completed trial %r ignored", trial_id)
            return
        self.strategy.tell(arch, None if error else _scores(result, self.objectives))

    def get_state(self) -> dict[str, Any]:
        return {"format": _FORMAT, "owner": type(self).__name__, "live": {k: dict(v) for k, v in self._live.items()},
                "strategy": self.strategy.state_dict(), "max_concurrent": self.max_concurrent}

    def set_state(self, state: dict[str, Any]) -> None:
        state = _check(state, type(self).__name__, "the state")
        self.strategy.load_state_dict(state["strategy"])
        self._live = {k: dict(v) for k, v in state["live"].items()}
        self.max_concurrent = state["max_concurrent"]

    def save(self, checkpoint_path: str) -> None:
        _write_pickle(checkpoint_path, self.get_state())

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(_load(checkpoint_path, type(self).__name__))


class ParetoLibrarySearcher(Searcher):
    """Wraps a multi-objective library searcher (``OptunaSearch`` with metric/mode lists) so it
    only hands out feasible architectures.

    An infeasible proposal is not evaluated: the library is told about it under a private
    trial id, as a completed trial whose every objective is a little worse than the worst
    real value seen so far (as failed before any real result), and asked again, at most
    ``max_retries`` times in a row; then :class:`~raynas.errors.InfeasibleConstraints`.
    """

    def __init__(
        self,
        inner: Any,
        *,
        space: Any,
        objectives: Sequence[Objective],
        constraints: Constraints | None = None,
        max_retries: int = 100,
        name: str = "library",
    ):
        super().__init__(metric=None, mode=None)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 1:
            raise ConfigError(f"{name}: max_retries must be an int >= 1, got {max_retries!r}")
        self._metric = [o.name for o in objectives]
        self._mode = [o.mode for o in objectives]
        self.searcher = inner
        self.space = space
        self.objectives = tuple(objectives)
        self.constraints = constraints or Constraints()
        self.constraints.check_feasible(space)
        self.max_retries = max_retries
        self.name = name
        self.num_rejected = 0
        self._live: dict[str, tuple[str, dict[str, Any]]] = {}
        self._counter = 0
        self._worst: list[float] | None = None  # maximised scores
        self._best: list[float] | None = None
        self.max_concurrent: int | None = None

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return False

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self.max_concurrent = max_concurrent
        return False

    def suggest(self, trial_id: str):
        if trial_id in self._live:
            return dict(self._live[trial_id][1])
        for _ in range(self.max_retries):
            inner_id = f"_raynas_{self._counter}"
            self._counter += 1
            config = self.searcher.suggest(inner_id)
            if config is None or config == self.FINISHED:
                return config
            try:
                arch = self.space.canonical(config)
            except InvalidArchitecture as exc:
                logger.warning("%s proposed an invalid architecture (%s); told as failed", self.name, exc)
                arch = None
            if arch is not None and self.constraints.satisfied(self.space, arch):
                self._live[trial_id] = (inner_id, arch)
                return dict(arch)
            self.num_rejected += 1
            self._reject(inner_id)
        raise InfeasibleConstraints(
            f"{self.name}: the library proposed {self.max_retries} architectures in a row that break "
            f"{self.constraints.to_dict()}; loosen the constraints or raise max_retries"
        )

    def _result(self, scores: Sequence[float]) -> dict[str, float]:
        return {o.name: o.sign * s for o, s in zip(self.objectives, scores)}

    def _reject(self, inner_id: str) -> None:
        if self._worst is None or self._best is None:
            self.searcher.on_trial_complete(inner_id, result=None, error=True)
            return
        penalty = [w - max(b - w, 1e-9 * max(1.0, abs(w))) for w, b in zip(self._worst, self._best)]
        self.searcher.on_trial_complete(inner_id, result=self._result(penalty), error=False)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        pass

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        entry = self._live.pop(trial_id, None)
        if entry is None:
            logger.debug("%s: completion of unknown or already completed trial %r ignored", self.name, trial_id)
            return
        inner_id, _ = entry
        scores = None if error else _scores(result, self.objectives)
        if scores is None:
            self.searcher.on_trial_complete(inner_id, result=None, error=True)
            return
        self._worst = list(scores) if self._worst is None else [min(a, b) for a, b in zip(self._worst, scores)]
        self._best = list(scores) if self._best is None else [max(a, b) for a, b in zip(self._best, scores)]
        self.searcher.on_trial_complete(inner_id, result=self._result(scores), error=False)

    def get_state(self) -> dict[str, Any]:
        inner = save_searcher_bytes(self.searcher)
        return {
            "format": _FORMAT, "owner": type(self).__name__, "inner": inner,
            "live": {k: (i, dict(a)) for k, (i, a) in self._live.items()}, "counter": self._counter,
            "num_rejected": self.num_rejected, "worst": self._worst, "best": self._best,
            "max_concurrent": self.max_concurrent,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        state = _check(state, type(self).__name__, "the state")
        restore_searcher_bytes(self.searcher, state["inner"])
        self._live = {k: (i, dict(a)) for k, (i, a) in state["live"].items()}
        self._counter, self.num_rejected = state["counter"], state["num_rejected"]
        self._worst, self._best = state["worst"], state["best"]
        self.max_concurrent = state["max_concurrent"]

    def save(self, checkpoint_path: str) -> None:
        _write_pickle(checkpoint_path, self.get_state())

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(_load(checkpoint_path, type(self).__name__))


_TPE_OPTIONS = ("n_startup_trials", "n_ei_candidates", "multivariate", "constant_liar", "max_retries")


def _tpe(space: Any, objectives: Sequence[Objective], seed: int, constraints: Constraints | None,
         options: Mapping[str, Any]) -> ParetoLibrarySearcher:
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    from raynas.checks import check_bool, check_int

    unknown = sorted(set(options) - set(_TPE_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} for multi-objective tpe; valid options: {list(_TPE_OPTIONS)}")
    owner = "tpe"
    sampler_kwargs: dict[str, Any] = {
        "seed": check_int(owner, "seed", seed, low=0, high=2**32 - 1),
        "n_startup_trials": check_int(owner, "n_startup_trials", options.get("n_startup_trials", 10), low=0),
        "n_ei_candidates": check_int(owner, "n_ei_candidates", options.get("n_ei_candidates", 24), low=1),
        "constant_liar": check_bool(owner, "constant_liar", options.get("constant_liar", True)),
    }
    if options.get("multivariate") is not None:
        sampler_kwargs["multivariate"] = check_bool(owner, "multivariate", options["multivariate"])
    inner = OptunaSearch(
        space=OptunaSearch.convert_search_space(space.to_tune()),
        metric=[o.name for o in objectives],
        mode=[o.mode for o in objectives],
        sampler=optuna.samplers.TPESampler(**sampler_kwargs),
    )
    return ParetoLibrarySearcher(inner, space=space, objectives=objectives, constraints=constraints,
                                 max_retries=options.get("max_retries", 100), name="tpe")


def multi_objective_searcher(
    strategy: str,
    *,
    space: Any,
    objectives: Sequence[Objective],
    seed: int = 0,
    constraints: Constraints | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[Any, str, str]:
    """``(searcher, metric, mode)`` for a multi-objective search with ``strategy``.

    ``metric``/``mode`` are what ``raynas.search`` tracks as "best": the first objective for
    ``tpe`` and ``evolution``, ``("scalarized", "max")`` for the others, whose evaluator
    must be a :class:`ScalarizedEvaluator`.
    """
    import strategies

    options = dict(options or {})
    objectives = tuple(objectives)
    if strategy == "tpe":
        return _tpe(space, objectives, seed, constraints, options), objectives[0].name, objectives[0].mode
    if strategy == "evolution":
        from strategies.nsga2 import NSGA2Strategy

        nsga2 = NSGA2Strategy(space, seed=seed, constraints=constraints, **options)
        return ParetoStrategySearcher(nsga2, objectives), objectives[0].name, objectives[0].mode
    searcher = strategies.get(strategy, space=space, metric=SCALARIZED, mode="max", seed=seed,
                              constraints=constraints, **options)
    return searcher, SCALARIZED, "max"
