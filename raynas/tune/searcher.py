"""The one adapter between raynas strategies and Ray Tune.

- :class:`StrategySearcher` turns any ask/tell :class:`strategies.Strategy` into a
  ``ray.tune.search.Searcher`` and owns the whole Tune contract: the metric/mode sign,
  the trial-id -> architecture mapping, ``None`` vs ``Searcher.FINISHED``, failed and
  NaN/inf/missing-metric results (told to the strategy as ``None``), ``save``/``restore``
  into a freshly built instance, ``set_search_properties`` and ``set_max_concurrency``.
- :class:`ConstrainedSearcher` wraps a library searcher (Ray Tune's ``OptunaSearch``,
  ``NevergradSearch``) so that it only ever hands out architectures that satisfy the
  constraints: an infeasible proposal is not evaluated; the library is told it failed,
  under a private trial id, and asked again (a capped number of times).

Neither needs a Ray cluster: Tune calls ``suggest``/``on_trial_complete`` from the driver.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import pickle
import tempfile
from typing import Any, Callable, Mapping

from ray.tune.search import Searcher

from raynas.constraints import Constraints
from raynas.errors import ConfigError, InfeasibleConstraints, InvalidArchitecture, InvalidCheckpoint
from strategies import FINISHED, Strategy

__all__ = ["StrategySearcher", "ConstrainedSearcher", "score_of"]

logger = logging.getLogger(__name__)

_STRATEGY_FORMAT = "raynas.StrategySearcher/1"
_CONSTRAINED_FORMAT = "raynas.ConstrainedSearcher/1"


def _check_metric_mode(owner: str, metric: Any, mode: Any) -> None:
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise ConfigError(f"{owner}: metric must be a non-empty string or None, got {metric!r}")
    if mode is not None and mode not in ("min", "max"):
        raise ConfigError(f"{owner}: mode must be 'min' or 'max' (or None until Tune sets it), got {mode!r}")


def score_of(result: Mapping[str, Any] | None, metric: str, mode: str) -> float | None:
    """The score to maximise from a Tune result: ``result[metric]``, negated for ``mode="min"``.

    ``None`` when the result is missing, lacks the metric, or holds a value that is not a
    finite real number (NaN, inf, a string, a bool).
    """
    if not result or metric not in result:
        return None
    value = result[metric]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return -value if mode == "min" else value


def _write_pickle(path: str, obj: Any) -> None:
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


def _read_pickle(path: str, expected_format: str, owner: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
    except FileNotFoundError as exc:
        raise InvalidCheckpoint(f"{owner}.restore: no searcher checkpoint at {path!r}") from exc
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise InvalidCheckpoint(f"{owner}.restore: {path!r} is not a readable searcher checkpoint: {exc}") from exc
    return _check_format(state, expected_format, owner, path)


def _check_format(state: Any, expected_format: str, owner: str, where: str) -> dict[str, Any]:
    if not isinstance(state, dict) or state.get("format") != expected_format:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InvalidCheckpoint(f"{owner}: {where} holds {found!r}, expected a {expected_format!r} checkpoint")
    return state


class StrategySearcher(Searcher):
    """A Ray Tune searcher driving an ask/tell :class:`strategies.Strategy`.

    Args:
        strategy: the strategy; it always maximises, so ``mode="min"`` negates the metric.
        metric: the result key to optimise; ``None`` until Tune sets it.
        mode: ``"min"`` or ``"max"``; ``None`` until Tune sets it.

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
        _check_metric_mode("StrategySearcher", metric, mode)
        super().__init__(metric=None, mode=None)  # validated above, without Ray's asserts
        self._metric = metric
        self._mode = mode
        self._strategy = strategy
        self._live: dict[str, dict[str, Any]] = {}
        self.max_concurrent: int | None = None

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
        _check_metric_mode("StrategySearcher", metric, mode)
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
        pass  # one evaluation per trial: only the final result counts

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        arch = self._live.pop(trial_id, None)
        if arch is None:
            logger.debug("StrategySearcher: completion of unknown or already completed trial %r ignored", trial_id)
            return
        score = None if error else score_of(result, self._metric, self._mode)
        if score is None and not error:
            logger.debug("trial %r reported no finite %r (%r); told as failed", trial_id, self._metric, result)
        self._strategy.tell(arch, score)

    def add_evaluated_point(
        self,
        parameters: dict,
        value: float,
        error: bool = False,
        pruned: bool = False,
        intermediate_values: list | None = None,
    ) -> None:
        """Tell the strategy about an architecture evaluated outside this searcher."""
        if not self.configured:
            raise ValueError("StrategySearcher.add_evaluated_point: metric and mode must be set first")
        score = None if (error or pruned) else score_of({self._metric: value}, self._metric, self._mode)
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
        state = _check_format(state, _STRATEGY_FORMAT, "StrategySearcher", "the state")
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
        _write_pickle(checkpoint_path, self.get_state())

    def restore(self, checkpoint_path: str) -> None:
        """Load what :meth:`save` wrote into this instance (built with the same strategy and space).

        Raises:
            InvalidCheckpoint: unreadable file, another searcher's checkpoint, or another strategy's.
        """
        self.set_state(_read_pickle(checkpoint_path, _STRATEGY_FORMAT, "StrategySearcher"))

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
        metric, mode: as for any searcher; ``None`` until Tune sets them.
        name: used in messages.

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
        name: str = "library",
    ):
        if not callable(make_searcher):
            raise TypeError(f"ConstrainedSearcher: make_searcher must be callable, got {make_searcher!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 1:
            raise ConfigError(f"{name}: max_retries must be an int >= 1, got {max_retries!r}")
        if constraints is not None and not isinstance(constraints, Constraints):
            raise ConfigError(f"{name}: constraints must be a raynas.Constraints or None, got {constraints!r}")
        if infeasible not in ("penalty", "fail"):
            raise ConfigError(f"{name}: infeasible must be 'penalty' or 'fail', got {infeasible!r}")
        _check_metric_mode(name, metric, mode)
        super().__init__(metric=None, mode=None)
        self._metric, self._mode = metric, mode
        self.infeasible = infeasible
        self.space = space
        self.constraints = constraints or Constraints()
        self.constraints.check_feasible(space)
        self.max_retries = max_retries
        self.name = name
        self._make_searcher = make_searcher
        self.searcher: Searcher | None = None
        self._live: dict[str, tuple[str, dict[str, Any]]] = {}
        self._counter = 0
        self.num_rejected = 0
        self._worst: float | None = None  # real results, as maximised scores
        self._best: float | None = None
        self.max_concurrent: int | None = None
        if self.configured:
            self._setup()

    @property
    def configured(self) -> bool:
        return self._metric is not None and self._mode is not None

    def _setup(self) -> None:
        self.searcher = self._make_searcher(self._metric, self._mode)

    # -- Tune's protocol -------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        if self.searcher is not None:
            return False
        _check_metric_mode(self.name, metric, mode)
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
        for _ in range(self.max_retries):
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
            if arch is not None and self.constraints.satisfied(self.space, arch):
                self._live[trial_id] = (inner_id, arch)
                return dict(arch)
            self.num_rejected += 1
            self._reject(inner_id)
        raise InfeasibleConstraints(
            f"{self.name}: the library proposed {self.max_retries} architectures in a row that break "
            f"{self.constraints.to_dict()}; loosen the constraints or raise max_retries"
        )

    def _to_metric(self, score: float) -> float:
        return -score if self._mode == "min" else score

    def _reject(self, inner_id: str) -> None:
        if self.infeasible == "fail" or self._worst is None:
            self.searcher.on_trial_complete(inner_id, result=None, error=True)
            return
        penalty = self._worst - max(self._best - self._worst, 1e-9 * max(1.0, abs(self._worst)))
        self.searcher.on_trial_complete(inner_id, result={self._metric: self._to_metric(penalty)}, error=False)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        pass  # one evaluation per trial: only the final result counts

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        entry = self._live.pop(trial_id, None)
        if entry is None or self.searcher is None:
            logger.debug("%s: completion of unknown or already completed trial %r ignored", self.name, trial_id)
            return
        inner_id, _ = entry
        score = None if error else score_of(result, self._metric, self._mode)
        if score is None:
            self.searcher.on_trial_complete(inner_id, result=None, error=True)
        else:
            self._worst = score if self._worst is None else min(self._worst, score)
            self._best = score if self._best is None else max(self._best, score)
            self.searcher.on_trial_complete(inner_id, result={self._metric: self._to_metric(score)}, error=False)

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
            "worst": self._worst,
            "best": self._best,
            "max_concurrent": self.max_concurrent,
            "inner": inner,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        state = _check_format(state, _CONSTRAINED_FORMAT, self.name, "the state")
        if state["name"] != self.name:
            raise InvalidCheckpoint(f"checkpoint is from the {state['name']!r} searcher, cannot restore it into {self.name!r}")
        self._metric = state["metric"] if state["metric"] is not None else self._metric
        self._mode = state["mode"] if state["mode"] is not None else self._mode
        self._live = {k: (i, dict(a)) for k, (i, a) in state["live"].items()}
        self._counter = state["counter"]
        self.num_rejected = state["num_rejected"]
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
        _write_pickle(checkpoint_path, self.get_state())

    def restore(self, checkpoint_path: str) -> None:
        """Load what :meth:`save` wrote, into an instance built with the same arguments."""
        self.set_state(_read_pickle(checkpoint_path, _CONSTRAINED_FORMAT, self.name))

    def __repr__(self) -> str:
        return f"ConstrainedSearcher({self.name!r}, metric={self._metric!r}, mode={self._mode!r})"
