"""Multi-objective search: parsing objectives, and the scalarization for strategies that take one.

How each strategy handles several objectives (``raynas compare --objectives accuracy:max,flops:min``):

- ``tpe``: Optuna's multi-objective TPE through Ray Tune's ``OptunaSearch`` with lists of
  metrics and modes, wrapped like every library searcher in
  :class:`strategies.searcher.ConstrainedSearcher` (infeasible proposals are never evaluated).
- ``evolution``: NSGA-II non-dominated sorting and crowding distance
  (:class:`strategies.nsga2.NSGA2Strategy`) through :class:`strategies.searcher.StrategySearcher`.
- every other strategy: it maximises the weighted scalarization
  ``sum_i weight_i * sign_i * value_i / scale_i`` (``sign`` is -1 for ``min`` objectives;
  ``scale`` is the largest architecture's FLOPs or parameters for the ``flops`` and
  ``params`` objectives, so they weigh in as fractions of the largest net, and 1 otherwise),
  reported by :class:`ScalarizedEvaluator` as the ``scalarized`` metric.

Whatever the strategy, the result of a multi-objective search is the Pareto set of every
architecture it evaluated (:func:`raynas.pareto.pareto_rows`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from raynas.constraints import Constraints
from raynas.errors import ConfigError

__all__ = [
    "Objective",
    "parse_objectives",
    "resolve_scales",
    "ScalarizedEvaluator",
    "SCALARIZED",
    "METHODS",
    "method_of",
    "multi_objective_searcher",
]

SCALARIZED = "scalarized"
METHODS = {
    "tpe": "Optuna multi-objective TPE (OptunaSearch with metric/mode lists)",
    "evolution": "NSGA-II non-dominated sorting + crowding distance (strategies.nsga2)",
}
_SCALARIZATION = "weighted scalarization of the objectives"
_COST_METRICS = ("flops", "params")


#: What ``"default"`` means with several objectives: NSGA-II, whatever the single-objective default.
MULTI_OBJECTIVE_DEFAULT = "evolution"


def method_of(strategy: str) -> str:
    """How ``strategy`` handles several objectives (for help texts and reports)."""
    if strategy == "default":
        strategy = MULTI_OBJECTIVE_DEFAULT
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
    metric, mode = [o.name for o in objectives], [o.mode for o in objectives]
    if strategy == "default":
        strategy = MULTI_OBJECTIVE_DEFAULT
    if strategy == "evolution":
        from strategies.nsga2 import NSGA2Strategy
        from strategies.searcher import StrategySearcher

        nsga2 = NSGA2Strategy(space, seed=seed, constraints=constraints, **options)
        return StrategySearcher(nsga2, metric=metric, mode=mode), metric[0], mode[0]
    if strategy in METHODS:
        searcher = strategies.get(strategy, space=space, metric=metric, mode=mode, seed=seed, constraints=constraints,
                                  **options)
        return searcher, metric[0], mode[0]
    searcher = strategies.get(strategy, space=space, metric=SCALARIZED, mode="max", seed=seed,
                              constraints=constraints, **options)
    return searcher, SCALARIZED, "max"
