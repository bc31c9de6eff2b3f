"""The one adapter between raynas strategies and Ray Tune, for one objective or several.

Both searchers take ``metric``/``mode`` as Ray Tune does: one name and ``"min"``/``"max"``,
or equal-length sequences of them (several objectives, as ``OptunaSearch`` takes them).

- :class:`StrategySearcher` turns any ask/tell :class:`strategies.Strategy` into a
  ``ray.tune.search.Searcher`` and owns the whole Tune contract: the metric/mode sign,
  the trial-id -> architecture mapping, ``None`` vs ``Searcher.FINISHED``, failed and
  NaN/inf/missing-metric results (told to the strategy as ``None``), ``save``/``restore``
  into a freshly built instance, ``set_search_properties`` and ``set_max_concurrency``.
  A trial a scheduler stopped after part of the validation set is told with its last
  value and ``fraction=`` its ``fraction_evaluated`` (see :mod:`raynas.tune.fidelity`).
  With several objectives the strategy is told the tuple of maximised scores (only a
  strategy with ``multi_objective = True`` takes one, e.g. ``strategies.nsga2``).
- :class:`ConstrainedSearcher` wraps a library searcher (Ray Tune's ``OptunaSearch``,
  ``NevergradSearch``) so that it only ever hands out architectures that satisfy the
  constraints: an infeasible proposal is not evaluated; the library is told it failed,
  under a private trial id, and asked again (a capped number of times).

Neither needs a Ray cluster: Tune calls ``suggest``/``on_trial_complete`` from the driver.
The checkpoint helpers (:func:`write_state`, :func:`read_state`, :func:`check_state`,
:func:`save_searcher_bytes`, :func:`restore_searcher_bytes`) serve every wrapper.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import pickle
import tempfile
from typing import Any, Callable, Mapping, Sequence

from ray.tune.search import Searcher

from raynas.checks import check_choice, check_positive_int
from raynas.constraints import Constraints
from raynas.errors import ConfigError, InfeasibleConstraints, InvalidArchitecture, InvalidCheckpoint
from strategies._base import FINISHED, Strategy

__all__ = [
    "StrategySearcher",
    "ConstrainedSearcher",
    "score_of",
    "fraction_of",
    "objectives_of",
    "write_state",
    "read_state",
    "check_state",
    "save_searcher_bytes",
    "restore_searcher_bytes",
]

logger = logging.getLogger(__name__)

_STRATEGY_FORMAT = "raynas.StrategySearcher/2"
_CONSTRAINED_FORMAT = "raynas.ConstrainedSearcher/2"
_MAX_REPEATS = 10  # repeats in a row a ConstrainedSearcher answers before it hands one out as a trial

def _names(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


def _check_metric_mode(owner: str, metric: Any, mode: Any) -> None:
    """``metric``: a name or a non-empty sequence of distinct names; ``mode``: the matching "min"/"max"."""
    if metric is not None:
        if isinstance(metric, (bytes, Mapping)) or not isinstance(metric, (str, Sequence)) or not metric or not all(
            isinstance(m, str) and m for m in _names(metric)
        ):
            raise ConfigError(f"{owner}: metric must be a non-empty string, a sequence of them, or None, got {metric!r}")
        if len(set(_names(metric))) != len(_names(metric)):
            raise ConfigError(f"{owner}: metric names an objective more than once: {metric!r}")
    if mode is not None and (not isinstance(mode, (str, Sequence)) or not all(m in ("min", "max") for m in _names(mode))
                             or not mode):
        raise ConfigError(f"{owner}: mode must be 'min' or 'max' (a sequence of them for several metrics, or None "
                          f"until Tune sets it), got {mode!r}")
    if metric is not None and mode is not None and (isinstance(metric, str) != isinstance(mode, str)
                                                    or len(_names(metric)) != len(_names(mode))):
        raise ConfigError(f"{owner}: mode {mode!r} must give one 'min' or 'max' per metric of {metric!r}")


def _one_or_many(value: Any) -> Any:
    """A length-one sequence of metrics or modes as its single item (the single-objective case)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        return value  # checked by _check_metric_mode
    return value[0] if len(value) == 1 else list(value)


def _multi(metric: Any) -> bool:
    return metric is not None and not isinstance(metric, str)


def objectives_of(metric: str | Sequence[str], mode: str | Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``(name, mode)`` per objective: one for a single metric, one per name for sequences."""
    _check_metric_mode("objectives_of", metric, mode)
    return tuple(zip(_names(metric), _names(mode)))


def _signed(value: Any, mode: str) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        return None
    return -float(value) if mode == "min" else float(value)


def score_of(result: Mapping[str, Any] | None, metric: str | Sequence[str], mode: str | Sequence[str]) -> Any:
    """The score to maximise from a Tune result: ``result[metric]``, negated for ``mode="min"``.

    With sequences of metrics and modes, the tuple of those scores. ``None`` when the result
    is missing, lacks a metric, or holds a value that is not a finite real number (NaN, inf,
    a string, a bool).
    """
    if not result:
        return None
    scores = []
    for name, sign in objectives_of(metric, mode):
        score = _signed(result.get(name), sign)
        if score is None:
            return None
        scores.append(score)
    return scores[0] if isinstance(metric, str) else tuple(scores)


def fraction_of(result: Mapping[str, Any] | None) -> float:
    """The share of the validation set a Tune result was measured on (``fraction_evaluated``;
    1.0 when absent or not a number in (0, 1]): below 1 for a trial a scheduler stopped early."""
    value = (result or {}).get("fraction_evaluated")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < float(value) <= 1.0:
        return 1.0
    return float(value)


def _as_result(scores: Any, metric: str | Sequence[str], mode: str | Sequence[str]) -> dict[str, float]:
    """The Tune result whose :func:`score_of` is ``scores``."""
    values = (scores,) if isinstance(metric, str) else scores
    return {name: (-s if sign == "min" else s) for (name, sign), s in zip(objectives_of(metric, mode), values)}


def write_state(path: str, obj: Any) -> None:
    """Pickle ``obj`` to ``path`` atomically (a temporary file, then a rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".raynas-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(obj, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_searcher_bytes(searcher: Searcher) -> bytes:
    """A wrapped searcher's own checkpoint (``searcher.save``), as bytes to embed in a wrapper's state."""
    fd, tmp = tempfile.mkstemp(prefix=".raynas-inner-", suffix=".pkl")
    os.close(fd)
    try:
        searcher.save(tmp)
        with open(tmp, "rb") as f:
            return f.read()
    finally:
        os.unlink(tmp)


def restore_searcher_bytes(searcher: Searcher, data: bytes) -> None:
    """Restore ``searcher`` from what :func:`save_searcher_bytes` returned."""
    fd, tmp = tempfile.mkstemp(prefix=".raynas-inner-", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        searcher.restore(tmp)
    finally:
        os.unlink(tmp)


def read_state(path: str, expected_format: str, owner: str) -> dict[str, Any]:
    """The state dict pickled at ``path``; :class:`InvalidCheckpoint` unless it is ``expected_format``."""
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except FileNotFoundError as exc:
        raise InvalidCheckpoint(f"{owner}.restore: no searcher checkpoint at {path!r}") from exc
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise InvalidCheckpoint(f"{owner}.restore: {path!r} is not a readable searcher checkpoint: {exc}") from exc
    return check_state(state, expected_format, owner, path)


def check_state(state: Any, expected_format: str, owner: str, where: str) -> dict[str, Any]:
    """``state`` if it is a dict of ``expected_format``, else :class:`InvalidCheckpoint` naming both."""
    if not isinstance(state, dict) or state.get("format") != expected_format:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InvalidCheckpoint(f"{owner}: {where} holds {found!r}, expected a {expected_format!r} checkpoint")
    return state


class StrategySearcher(Searcher):
    """A Ray Tune searcher driving an ask/tell :class:`strategies.Strategy`.

    Args:
        strategy: the strategy; it always maximises, so ``mode="min"`` negates the metric.
        metric: the result key to optimise, or a sequence of keys (several objectives: the
            strategy is told the tuple of their scores and must have ``multi_objective``);
            ``None`` until Tune sets it.
        mode: ``"min"`` or ``"max"`` (one per metric); ``None`` until Tune sets it.

    ``suggest`` raises ``ValueError`` until both are known. Concurrency is left to
    ``ConcurrencyLimiter`` (``set_max_concurrency`` records the value and returns
    ``False``); the strategies hand out work whenever asked.

    Example::

        from ray.tune.search import ConcurrencyLimiter
        searcher = StrategySearcher(EvolutionStrategy(space, seed=0), metric="accuracy", mode="max")
        tune.TuneConfig(search_alg=ConcurrencyLimiter(searcher, max_concurrent=4), num_samples=100)
    """

    def __init__(self, strategy: Strategy, metric: str | None = None, mode: str | None = None):
        if not isinstance(strategy, Strategy):
            raise TypeError(f"StrategySearcher: strategy must be a strategies.Strategy, got {type(strategy).__name__}")
        metric, mode = _one_or_many(metric), _one_or_many(mode)
        super().__init__(metric=None, mode=None)  # validated below, without Ray's asserts
        self._strategy = strategy
        self._check(metric, mode)
        self._metric = metric
        self._mode = mode
        self._live: dict[str, dict[str, Any]] = {}
        self.max_concurrent: int | None = None

    def _check(self, metric: Any, mode: Any) -> None:
        _check_metric_mode("StrategySearcher", metric, mode)
        if _multi(metric) and not getattr(self._strategy, "multi_objective", False):
            raise ConfigError(
                f"StrategySearcher: {type(self._strategy).__name__} takes one objective, got metric {metric!r}; "
                "give it one metric (or a scalarization of them) or use a multi-objective strategy"
            )

    @property
    def strategy(self) -> Strategy:
        return self._strategy

    @property
    def space(self) -> Any:
        return self._strategy.space

    @property
    def configured(self) -> bool:
        """Whether metric and mode are both known."""
        return self._metric is not None and self._mode is not None

    # -- Tune's protocol -------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Take metric/mode from Tune; ``False`` once they were configured (the space is the strategy's)."""
        if self.configured:
            return False
        metric, mode = _one_or_many(metric), _one_or_many(mode)
        self._check(metric, mode)
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self.max_concurrent = max_concurrent
        return False  # ConcurrencyLimiter enforces the limit

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if not self.configured:
            raise ValueError(
                f"StrategySearcher.suggest: metric and mode must be set first (metric={self._metric!r}, "
                f"mode={self._mode!r}); pass them to strategies.get(...) or tune.TuneConfig(metric=..., mode=...)"
            )
        if trial_id in self._live:
            return dict(self._live[trial_id])
        arch = self._strategy.ask()
        if arch is FINISHED:
            return Searcher.FINISHED
        if arch is None:
            return None
        self._live[trial_id] = dict(arch)
        return dict(arch)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        pass  # intermediate (per-chunk) results: only the last one counts, told with its fraction

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        arch = self._live.pop(trial_id, None)
        if arch is None:
            logger.debug("StrategySearcher: completion of unknown or already completed trial %r ignored", trial_id)
            return
        score = None if error else score_of(result, self._metric, self._mode)
        if score is None and not error:
            logger.debug("trial %r reported no finite %r (%r); told as failed", trial_id, self._metric, result)
        self._strategy.tell(arch, score, fraction=fraction_of(result))

    def add_evaluated_point(
        self,
        parameters: dict,
        value: float,
        error: bool = False,
        pruned: bool = False,
        intermediate_values: list | None = None,
    ) -> None:
        """Tell the strategy about an architecture evaluated outside this searcher.

        ``value``: the metric's value, or the sequence of the metrics' values.
        """
        if not self.configured:
            raise ValueError("StrategySearcher.add_evaluated_point: metric and mode must be set first")
        names = _names(self._metric)
        values = list(value) if _multi(self._metric) else [value]
        if len(values) != len(names):
            raise ConfigError(f"StrategySearcher.add_evaluated_point: value {value!r} must give one number per "
                              f"metric of {self._metric!r}")
        score = None if (error or pruned) else score_of(dict(zip(names, values)), self._metric, self._mode)
        self._strategy.tell(parameters, score)

    # -- checkpoints -------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {
            "format": _STRATEGY_FORMAT,
            "strategy": self._strategy.state_dict(),
            "metric": self._metric,
            "mode": self._mode,
            "live": {k: dict(v) for k, v in self._live.items()},
            "max_concurrent": self.max_concurrent,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        state = check_state(state, _STRATEGY_FORMAT, "StrategySearcher", "the state")
        for name in ("metric", "mode"):
            mine, theirs = getattr(self, f"_{name}"), state[name]
            if mine is not None and theirs is not None and mine != theirs:
                logger.warning("StrategySearcher.restore: %s %r replaced by the checkpoint's %r", name, mine, theirs)
        self._strategy.load_state_dict(state["strategy"])
        self._metric = state["metric"] if state["metric"] is not None else self._metric
        self._mode = state["mode"] if state["mode"] is not None else self._mode
        self._live = {k: dict(v) for k, v in state["live"].items()}
        self.max_concurrent = state["max_concurrent"]

    def save(self, checkpoint_path: str) -> None:
        """Pickle the whole state (strategy, RNG, live trials, metric/mode) to ``checkpoint_path``."""
        write_state(checkpoint_path, self.get_state())

    def restore(self, checkpoint_path: str) -> None:
        """Load what :meth:`save` wrote into this instance (built with the same strategy and space).

        Raises:
            InvalidCheckpoint: unreadable file, another searcher's checkpoint, or another strategy's.
        """
        self.set_state(read_state(checkpoint_path, _STRATEGY_FORMAT, "StrategySearcher"))

    def __repr__(self) -> str:
        return f"StrategySearcher({type(self._strategy).__name__}, metric={self._metric!r}, mode={self._mode!r})"


class ConstrainedSearcher(Searcher):
    """Wraps a library searcher over ``space.to_tune()`` so it proposes only feasible architectures.

    Args:
        make_searcher: ``make_searcher(metric, mode) -> Searcher`` builds the library's
            searcher, already holding the converted space; called once metric and mode
            are known (at construction or from ``set_search_properties``).
        space: the search space; every suggestion goes through ``space.canonical``.
        constraints: proposals breaking them are not handed out: the library is told about
            the proposal under a private trial id and asked again, at most ``max_retries``
            times in a row, then :class:`~raynas.errors.InfeasibleConstraints` is raised.
        infeasible: how the library is told about an infeasible proposal. ``"fail"``: as a
            failed trial (``on_trial_complete(private_id, None, error=True)``). ``"penalty"``
            (default): as a completed trial scoring just below the worst real result so far
            (as failed until a first real result exists). Model-based libraries ignore failed
            trials, so with ``"fail"`` TPE keeps proposing the same infeasible optimum of its
            model; the penalty teaches it where the infeasible region is.
        metric, mode: as for any searcher (sequences of them for several objectives, when the
            library takes them: ``multi_objective``); ``None`` until Tune sets them. With
            several objectives the penalty is applied to each.
        multi_objective: whether ``make_searcher`` accepts sequences of metrics and modes.
        name: used in messages.
        repeats: what becomes of a proposal equal to an architecture already handed out.
            ``"reuse"`` (default): it costs no trial; the library is told the known result
            under a private trial id (or, while that architecture is still in flight, when its
            result arrives) and asked again, so a search of N trials evaluates N different
            architectures (Optuna's TPE repeats about one proposal in eight on NAS-Bench-201).
            After 10 repeats in a row the next proposal is a trial whatever it is (each answered
            repeat is one more observation for the library, and a converged library would
            otherwise pile them up). A failed architecture is not
            reused: it is evaluated again. ``"evaluate"``: every proposal is a trial.

    Results with an error or a NaN/inf/missing metric are passed to the library as
    failed trials (``result=None, error=True``).
    """

    def __init__(
        self,
        make_searcher: Callable[[str, str], Searcher],
        *,
        space: Any,
        constraints: Constraints | None = None,
        metric: str | None = None,
        mode: str | None = None,
        max_retries: int = 100,
        infeasible: str = "penalty",
        multi_objective: bool = False,
        name: str = "library",
        repeats: str = "reuse",
    ):
        if not callable(make_searcher):
            raise TypeError(f"ConstrainedSearcher: make_searcher must be callable, got {make_searcher!r}")
        max_retries = check_positive_int(name, "max_retries", max_retries)
        if constraints is not None and not isinstance(constraints, Constraints):
            raise ConfigError(f"{name}: constraints must be a raynas.Constraints or None, got {constraints!r}")
        self.infeasible = check_choice(name, "infeasible", infeasible, ("penalty", "fail"))
        self.repeats = check_choice(name, "repeats", repeats, ("reuse", "evaluate"))
        self.multi_objective = multi_objective
        self.name = name
        metric, mode = _one_or_many(metric), _one_or_many(mode)
        self._check(metric, mode)
        super().__init__(metric=None, mode=None)
        self._metric, self._mode = metric, mode
        self.space = space
        self.constraints = constraints or Constraints()
        self.constraints.check_feasible(space)
        self.max_retries = max_retries
        self._make_searcher = make_searcher
        self.searcher: Searcher | None = None
        self._live: dict[str, tuple[str, dict[str, Any]]] = {}
        self._counter = 0
        self.num_rejected = 0
        self.num_reused = 0  # proposals answered from a known result instead of a trial
        self._known: dict[str, dict[str, float]] = {}  # architecture -> the result the library was told
        self._waiting: dict[str, list[str]] = {}  # architecture in flight -> private ids that proposed it again
        self._worst: list[float] | None = None  # per objective, over real results, as maximised scores
        self._best: list[float] | None = None
        self.max_concurrent: int | None = None
        if self.configured:
            self._setup()

    @property
    def configured(self) -> bool:
        return self._metric is not None and self._mode is not None

    def _check(self, metric: Any, mode: Any) -> None:
        _check_metric_mode(self.name, metric, mode)
        if _multi(metric) and not self.multi_objective:
            raise ConfigError(f"{self.name} takes one objective, got metric {metric!r}")

    def _setup(self) -> None:
        self.searcher = self._make_searcher(self._metric, self._mode)

    # -- Tune's protocol -------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        if self.searcher is not None:
            return False
        metric, mode = _one_or_many(metric), _one_or_many(mode)
        self._check(metric, mode)
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        if self.configured:
            self._setup()
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        self.max_concurrent = max_concurrent
        return False

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.searcher is None:
            raise ValueError(
                f"{self.name}.suggest: metric and mode must be set first (metric={self._metric!r}, "
                f"mode={self._mode!r}); pass them to strategies.get(...) or tune.TuneConfig(metric=..., mode=...)"
            )
        if trial_id in self._live:
            return dict(self._live[trial_id][1])
        rejected = repeated = 0
        while rejected < self.max_retries:
            inner_id = f"_raynas_{self._counter}"
            self._counter += 1
            config = self.searcher.suggest(inner_id)
            if config is None or config == Searcher.FINISHED:
                return config
            try:
                arch = self.space.canonical(config)
            except InvalidArchitecture as exc:
                logger.warning("%s proposed an invalid architecture (%s); told as failed", self.name, exc)
                arch = None
            if arch is None or not self.constraints.satisfied(self.space, arch):
                rejected += 1
                self.num_rejected += 1
                self._reject(inner_id)
                continue
            if self.repeats == "reuse":
                if repeated < _MAX_REPEATS and self._answer_repeat(inner_id, arch):
                    repeated += 1
                    continue
                if repeated >= _MAX_REPEATS:
                    logger.info("%s proposed %d architectures in a row that it had proposed before; the next "
                                "proposal is a trial whatever it is", self.name, repeated)
            self._live[trial_id] = (inner_id, arch)
            return dict(arch)
        raise InfeasibleConstraints(
            f"{self.name}: the library proposed {self.max_retries} architectures in a row that break "
            f"{self.constraints.to_dict()}; loosen the constraints or raise max_retries"
        )

    def _answer_repeat(self, inner_id: str, arch: Mapping[str, Any]) -> bool:
        """Tell the library ``inner_id``'s result now (known) or later (in flight); False if ``arch`` is new."""
        key = self.space.key(arch)
        if key in self._known:
            self.searcher.on_trial_complete(inner_id, result=dict(self._known[key]), error=False)
        elif any(self.space.key(live) == key for _, live in self._live.values()):
            self._waiting.setdefault(key, []).append(inner_id)
        else:
            return False
        self.num_reused += 1
        return True

    def _reject(self, inner_id: str) -> None:
        if self.infeasible == "fail" or self._worst is None or self._best is None:
            self.searcher.on_trial_complete(inner_id, result=None, error=True)
            return
        penalty = [w - max(b - w, 1e-9 * max(1.0, abs(w))) for w, b in zip(self._worst, self._best)]
        scores = tuple(penalty) if _multi(self._metric) else penalty[0]
        self.searcher.on_trial_complete(inner_id, result=_as_result(scores, self._metric, self._mode), error=False)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        pass  # one evaluation per trial: only the final result counts

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        entry = self._live.pop(trial_id, None)
        if entry is None or self.searcher is None:
            logger.debug("%s: completion of unknown or already completed trial %r ignored", self.name, trial_id)
            return
        inner_id, arch = entry
        key = self.space.key(arch)
        waiting = self._waiting.pop(key, [])
        score = None if error else score_of(result, self._metric, self._mode)
        if score is None:
            for inner in [inner_id, *waiting]:
                self.searcher.on_trial_complete(inner, result=None, error=True)
            return
        scores = list(score) if _multi(self._metric) else [score]
        self._worst = scores if self._worst is None else [min(a, b) for a, b in zip(self._worst, scores)]
        self._best = scores if self._best is None else [max(a, b) for a, b in zip(self._best, scores)]
        told = _as_result(score, self._metric, self._mode)
        if self.repeats == "reuse":
            self._known[key] = told
        for inner in [inner_id, *waiting]:
            self.searcher.on_trial_complete(inner, result=dict(told), error=False)

    # -- checkpoints -------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        inner = None if self.searcher is None else save_searcher_bytes(self.searcher)
        return {
            "format": _CONSTRAINED_FORMAT,
            "name": self.name,
            "metric": self._metric,
            "mode": self._mode,
            "live": {k: (i, dict(a)) for k, (i, a) in self._live.items()},
            "counter": self._counter,
            "num_rejected": self.num_rejected,
            "num_reused": self.num_reused,
            "known": dict(self._known),
            "waiting": {k: list(v) for k, v in self._waiting.items()},
            "worst": self._worst,
            "best": self._best,
            "max_concurrent": self.max_concurrent,
            "inner": inner,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        state = check_state(state, _CONSTRAINED_FORMAT, self.name, "the state")
        if state["name"] != self.name:
            raise InvalidCheckpoint(f"checkpoint is from the {state['name']!r} searcher, cannot restore it into {self.name!r}")
        self._metric = state["metric"] if state["metric"] is not None else self._metric
        self._mode = state["mode"] if state["mode"] is not None else self._mode
        self._live = {k: (i, dict(a)) for k, (i, a) in state["live"].items()}
        self._counter = state["counter"]
        self.num_rejected = state["num_rejected"]
        self.num_reused = state.get("num_reused", 0)  # absent from checkpoints of earlier versions
        self._known = dict(state.get("known", {}))
        self._waiting = {k: list(v) for k, v in state.get("waiting", {}).items()}
        self._worst, self._best = state["worst"], state["best"]
        self.max_concurrent = state["max_concurrent"]
        if state["inner"] is None:
            self.searcher = None
            return
        if self.searcher is None:
            self._setup()
        restore_searcher_bytes(self.searcher, state["inner"])

    def save(self, checkpoint_path: str) -> None:
        """Pickle this wrapper's state and the library searcher's own checkpoint."""
        write_state(checkpoint_path, self.get_state())

    def restore(self, checkpoint_path: str) -> None:
        """Load what :meth:`save` wrote, into an instance built with the same arguments."""
        self.set_state(read_state(checkpoint_path, _CONSTRAINED_FORMAT, self.name))

    def __repr__(self) -> str:
        return f"ConstrainedSearcher({self.name!r}, metric={self._metric!r}, mode={self._mode!r})"
