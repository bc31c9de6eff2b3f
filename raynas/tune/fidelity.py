"""Multi-fidelity subnet evaluation: metrics after each chunk of the validation set, and Tune
schedulers that stop poor subnets early.

**The chunk protocol.** An evaluator opts in by having a method

``evaluate_chunks(arch) -> Iterator[dict]``
    the metrics after each chunk of its validation set, in order; each dict holds
    :data:`FRACTION` (``"fraction_evaluated"``, the share of the validation set seen so
    far, in ``(0, 1]``, growing) and the last one ``1.0``. Every architecture sees the same
    images in the same order, so a chunk-``k`` value of one architecture compares with the
    chunk-``k`` value of another.

and an attribute ``num_chunks`` (how many dicts it yields). Calling the evaluator,
``evaluator(arch)``, still evaluates on the whole set. :class:`raynas.SupernetEvaluator`
(``val_chunks=N``: BN re-calibrated once, then ``N`` growing subsets of a fixed, seeded
order) and :class:`raynas.evaluate.toy.ToyEvaluator` (``chunks=N``) implement it.

In a search each chunk becomes one Tune result (``training_iteration`` = chunks seen), so
a Tune trial scheduler (:func:`make_scheduler`: ASHA, asynchronous HyperBand, median
stopping; or any ``TrialScheduler`` whose ``time_attr`` is ``training_iteration``) can stop
a subnet after any chunk. Then:

- the strategy is told the last reported value, with the fraction evaluated
  (``Strategy.tell(arch, score, fraction=...)``);
- its ``history.csv`` row has ``status`` ``"stopped"`` and its ``fraction_evaluated``;
- it is never the search's best: only rows evaluated in full (``status`` ``"ok"``) are;
- ``best.json`` is re-checked by evaluating the best architecture again on the whole set
  (:func:`recheck`), and says so (``"recheck"``).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Iterator, Mapping

from raynas.checks import check_choice, check_int
from raynas.errors import ConfigError

__all__ = ["FRACTION", "EARLY_STOP", "chunks_of", "evaluate_in_chunks", "make_scheduler", "is_full", "recheck"]

logger = logging.getLogger(__name__)

#: The result key and history column: the share of the validation set a result is measured on.
FRACTION = "fraction_evaluated"

#: Names :func:`make_scheduler` takes (``raynas search --early-stop NAME``).
EARLY_STOP = ("none", "asha", "hyperband", "median")

_TOLERANCE = 1e-9


def chunks_of(evaluator: Any) -> int:
    """How many results one evaluation reports: the evaluator's ``num_chunks`` when it follows
    the chunk protocol, else 1."""
    if not callable(getattr(evaluator, "evaluate_chunks", None)):
        return 1
    chunks = getattr(evaluator, "num_chunks", None)
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
        raise ConfigError(f"{type(evaluator).__name__} has evaluate_chunks but its num_chunks is {chunks!r}; "
                          "it must be an int >= 1 (how many results evaluate_chunks yields)")
    return chunks


def evaluate_in_chunks(arch: Mapping[str, Any], evaluator: Any, metric: str) -> Iterator[dict[str, Any]]:
    """The evaluator's results after each chunk, checked, with the evaluation time so far.

    Raises ``ValueError`` on a missing or non-finite ``metric``, a missing or decreasing
    fraction, or a last result that is not the whole set.
    """
    started = time.perf_counter()
    previous = 0.0
    for metrics in evaluator.evaluate_chunks(dict(arch)):
        metrics = dict(metrics)
        value = metrics.get(metric)
        if value is None:
            raise ValueError(f"evaluator returned no {metric!r} metric; it returned {sorted(metrics)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"evaluator returned non-finite {metric}={value!r}")
        fraction = metrics.get(FRACTION)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not previous < fraction <= 1.0:
            raise ValueError(f"evaluate_chunks must report {FRACTION} growing in (0, 1], got {fraction!r} "
                             f"after {previous!r}")
        previous = float(fraction)
        metrics["eval_time_s"] = time.perf_counter() - started
        yield metrics
    if previous < 1.0:
        raise ValueError(f"evaluate_chunks ended at {FRACTION}={previous!r}; its last result must be 1.0")


def is_full(row: Mapping[str, Any]) -> bool:
    """Whether a result or history row was measured on the whole validation set (no fraction: yes)."""
    fraction = row.get(FRACTION)
    return fraction is None or (isinstance(fraction, (int, float)) and fraction >= 1.0 - _TOLERANCE)


def make_scheduler(name: str, *, metric: str, mode: str, chunks: int, reduction_factor: float = 3,
                   grace_chunks: int = 1) -> Any:
    """A Tune trial scheduler that stops subnets evaluated in ``chunks`` chunks; None for ``"none"``.

    - ``asha``: ``ASHAScheduler`` over chunks (rungs at ``grace_chunks * reduction_factor**k``
      chunks; a subnet goes on only while in the top ``1/reduction_factor`` of those that
      reached that rung).
    - ``hyperband``: asynchronous HyperBand, ASHA with 3 brackets of different grace periods
      (Tune's synchronous ``HyperBandScheduler`` pauses trials, which a chunked evaluation
      cannot resume).
    - ``median``: ``MedianStoppingRule``: stop a subnet whose best value so far is worse than
      the median of the other subnets' running means at the same chunk (after 3 of them).

    Raises:
        ConfigError: an unknown name (naming the valid ones), or bad numbers.
    """
    if name not in EARLY_STOP:
        raise ConfigError(f"unknown early-stop scheduler {name!r}; choose one of: {', '.join(EARLY_STOP)}")
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"early stopping follows one metric; got metric {metric!r}")
    check_choice(None, "mode", mode, ("min", "max"))
    check_int(None, "chunks", chunks, low=1)
    if isinstance(grace_chunks, bool) or not isinstance(grace_chunks, int) or not 1 <= grace_chunks <= chunks:
        raise ConfigError(f"grace_chunks must be an int in [1, chunks={chunks}], got {grace_chunks!r}")
    if isinstance(reduction_factor, bool) or not isinstance(reduction_factor, (int, float)) \
            or not reduction_factor > 1 or not math.isfinite(reduction_factor):
        raise ConfigError(f"reduction_factor must be a number > 1, got {reduction_factor!r}")
    if name == "none":
        return None
    from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule

    if name == "median":
        return MedianStoppingRule(time_attr="training_iteration", metric=metric, mode=mode, grace_period=grace_chunks,
                                  min_samples_required=3)
    return ASHAScheduler(time_attr="training_iteration", metric=metric, mode=mode, max_t=chunks,
                         grace_period=grace_chunks, reduction_factor=reduction_factor,
                         brackets=3 if name == "hyperband" else 1)


def check_scheduler_fits(scheduler: Any, evaluator: Any, *, metric: Any, mode: Any, archs_per_trial: int) -> None:
    """Refuse, before Ray starts, an early-stopping scheduler that cannot work with this search,
    and give one without a metric the search's (schedulers follow one metric)."""
    from ray.tune.schedulers import FIFOScheduler

    if scheduler is None or type(scheduler) is FIFOScheduler:
        return
    name = type(scheduler).__name__
    if archs_per_trial > 1:
        raise ConfigError(f"scheduler {name} stops trials after a validation chunk, but archs_per_trial="
                          f"{archs_per_trial} evaluates several architectures per trial with one report; "
                          "use archs_per_trial=1 with a scheduler")
    if chunks_of(evaluator) <= 1:
        logger.warning("scheduler %s: the evaluator (%s) reports once per architecture (no chunks: "
                       "SupernetEvaluator(val_chunks=N)), so no subnet can be stopped early", name,
                       type(evaluator).__name__)
    if getattr(scheduler, "metric", None) is None:
        if not isinstance(metric, str):
            raise ConfigError(f"scheduler {name} follows one metric; this search has several ({metric!r}): "
                              "give the scheduler its metric and mode")
        scheduler.set_search_properties(metric, mode)


def recheck(evaluator: Callable[[dict[str, Any]], Mapping[str, Any]], arch: Mapping[str, Any], metric: str, *,
            cpus: float = 1.0, gpus: float = 0.0) -> dict[str, Any]:
    """Evaluate ``arch`` on the whole validation set again, as a Ray task with a trial's resources."""
    import ray

    task = ray.remote(num_cpus=cpus, num_gpus=gpus)(_full_evaluation)
    return ray.get(task.remote(evaluator, dict(arch), metric))


def _full_evaluation(evaluator: Any, arch: dict[str, Any], metric: str) -> dict[str, Any]:
    started = time.perf_counter()
    metrics = dict(evaluator(arch))
    value = metrics.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"re-check: evaluator returned {metric}={value!r}")
    metrics[FRACTION] = 1.0
    metrics["eval_time_s"] = time.perf_counter() - started
    return metrics
