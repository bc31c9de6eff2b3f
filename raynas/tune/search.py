"""``raynas.search``: one strategy over one evaluator, as a Ray Tune experiment."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from raynas._outdir import check_out_dir, prepare_out_dir, storage_location
from raynas._ray import check_runtime_env, init_ray, set_ray_env
from raynas.checks import check_int
from raynas.constraints import Constraints
from raynas.errors import ConfigError, RaynasError, SearchFailed
from raynas.tune.fidelity import FRACTION, chunks_of, evaluate_in_chunks, is_full

__all__ = ["search", "SearchResult", "evaluate_trial", "trainable"]

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.csv"
BEST_FILE = "best.json"


@dataclass
class SearchResult:
    """What a search found: the best architecture, its metrics, and every trial in completion order."""

    best_arch: dict[str, Any] | None
    best_metrics: dict[str, Any]
    history: list[dict[str, Any]]
    path: Path
    metric: str
    mode: str
    result_grid: Any = field(default=None, repr=False)

    @property
    def num_failed(self) -> int:
        return sum(1 for row in self.history if row.get("status") == "failed")

    @property
    def num_stopped(self) -> int:
        """Trials a scheduler stopped after part of the validation set (``status == "stopped"``)."""
        return sum(1 for row in self.history if row.get("status") == "stopped")


def _evaluate_one(arch: dict[str, Any], evaluator: Callable[[dict[str, Any]], Mapping[str, Any]],
                  metric: str) -> dict[str, Any]:
    """Evaluate one architecture; a missing or non-finite metric raises ``ValueError``."""
    started = time.perf_counter()
    metrics = dict(evaluator(dict(arch)))
    value = metrics.get(metric)
    if value is None:
        raise ValueError(f"evaluator returned no {metric!r} metric; it returned {sorted(metrics)}")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"evaluator returned non-finite {metric}={value!r}")
    metrics["eval_time_s"] = time.perf_counter() - started
    if callable(getattr(evaluator, "evaluate_chunks", None)):
        metrics.setdefault(FRACTION, 1.0)  # a chunked evaluator called whole: the whole set
    return metrics


def evaluate_trial(config: dict[str, Any], evaluator: Callable[[dict[str, Any]], Mapping[str, Any]], metric: str) -> None:
    """The Tune trainable: evaluate one architecture (or a batch of them) and report.

    One architecture: a non-finite or missing metric raises, so Tune records the trial
    as failed with that reason and the searcher is told ``error=True``. An evaluator with
    ``evaluate_chunks`` (:mod:`raynas.tune.fidelity`) reports once per validation chunk
    (``training_iteration`` = chunks seen, ``fraction_evaluated`` = share of the set), so a
    trial scheduler can stop it early; any other reports once.

    A batch (``config == {BATCH_KEY: [arch, ...]}``, see :mod:`raynas.tune.batch`): each
    architecture is evaluated in turn; one that fails is reported as ``{"error": reason}``
    and the others go on. The trial fails only if every architecture failed.
    """
    import ray
    from ray import tune

    from raynas.tune.batch import BATCH_KEY

    where = {"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}
    if BATCH_KEY not in config:
        if chunks_of(evaluator) > 1:
            for metrics in evaluate_in_chunks(config, evaluator, metric):
                tune.report({**metrics, **where})
            return
        tune.report({**_evaluate_one(config, evaluator, metric), **where})
        return
    entries: list[dict[str, Any]] = []
    for arch in config[BATCH_KEY]:
        try:
            entries.append(_evaluate_one(arch, evaluator, metric))
        except Exception as exc:  # noqa: BLE001 - recorded as this architecture's failure
            logger.warning("architecture %s failed: %s: %s", arch, type(exc).__name__, exc)
            entries.append({"error": f"{type(exc).__name__}: {exc}"})
    ok = [e[metric] for e in entries if "error" not in e]
    if not ok:
        raise RuntimeError(f"all {len(entries)} architectures of this trial failed; the first: {entries[0]['error']}")
    tune.report({metric: max(ok), BATCH_KEY: entries, **where})


def trainable(evaluator: Callable[[dict[str, Any]], Mapping[str, Any]], metric: str = "accuracy", *,
              cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0) -> Any:
    """The Tune trainable of a raynas search: :func:`evaluate_trial` bound to ``evaluator`` and
    ``metric``, with the per-trial resources. ``raynas.search`` runs exactly this, so it is also
    what Tune's own API takes to restore a raynas experiment::

        from ray import tune
        tuner = tune.Tuner.restore("OUT/tune/search", trainable=raynas.tune.trainable(evaluator))
        grid = tuner.fit()          # or tuner.get_results()

    (``OUT/tune`` is the search's ``storage_path``, ``search`` its ``name``.)
    """
    from ray import tune

    return tune.with_resources(
        tune.with_parameters(evaluate_trial, evaluator=evaluator, metric=metric),
        {"cpu": cpus_per_trial, **({"gpu": gpus_per_trial} if gpus_per_trial else {})},
    )


def _failure_summary(history: list[dict[str, Any]]) -> str:
    """``"the most common reason (k of n): ..."`` over failed rows."""
    reasons = Counter(str(row.get("error") or row.get("status") or "unknown error") for row in history
                      if row.get("status") != "ok")
    if not reasons:
        return "no trial ran"
    reason, count = reasons.most_common(1)[0]
    return f"most common reason ({count} of {sum(reasons.values())}): {reason}"


def _check_resume_budget(out: Path, num_samples: int) -> None:
    """A resumed search runs the budget it started with; another budget is refused, in one line."""
    try:
        saved = json.loads((out / "search.json").read_text()).get("num_samples")
    except (OSError, ValueError):
        return
    if isinstance(saved, int) and saved != num_samples:
        raise ConfigError(
            f"cannot resume {str(out)!r} with a budget of {num_samples} trials: it was started with {saved}, and "
            f"Tune resumes an experiment with its own budget; resume with {saved} (the CLI's default), or start a "
            "new search (another --out, or --overwrite) for a different budget")


def _make_history_callback(path: Path, metric: str, mode: str, total: int, progress: Any = None):
    from ray.tune import Callback

    class HistoryRecorder(Callback):
        """Appends one row per finished trial to history.csv and reports progress."""

        def __init__(self) -> None:
            self.rows: list[dict[str, Any]] = []
            self.started = time.monotonic()
            self.best: float | None = None
            self.progress = progress

        def _record(self, trial, status: str, error: str | None) -> None:
            from raynas.tune.batch import BATCH_KEY, sub_trial_id

            result = dict(trial.last_result or {}) if status == "ok" else {}
            node = str(result.get("node_id") or "")  # where it ran
            now = time.monotonic() - self.started
            if BATCH_KEY not in trial.config:
                if status == "ok" and not is_full(result):
                    status = "stopped"  # by the trial scheduler, after part of the validation set
                self._row(trial.trial_id, dict(trial.config), status, result, error, node, now)
                return
            archs = trial.config[BATCH_KEY]
            entries = result.get(BATCH_KEY) or [{"error": error or "unknown error"}] * len(archs)
            # each architecture's completion time: the trial's, less the evaluations that came after it
            later = [sum(e.get("eval_time_s", 0.0) for e in entries[i + 1:]) for i in range(len(entries))]
            for index, (arch, entry) in enumerate(zip(archs, entries)):
                failed = bool(entry.get("error"))
                self._row(sub_trial_id(trial.trial_id, index), dict(arch), "failed" if failed else "ok",
                          {} if failed else entry, entry.get("error") if failed else None, node,
                          max(now - later[index], 0.0))

        def _row(self, trial_id: str, arch: dict, status: str, result: dict, error: str | None, node: str,
                 wall: float) -> None:
            metrics = {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                       and k not in _TUNE_BOOKKEEPING}
            row = {"trial_id": trial_id, "status": status, "arch": arch, "wall_time_s": wall, **metrics,
                   "node_id": node, "error": error or ""}
            self.rows.append(row)
            _append_csv(path, row)
            value = metrics.get(metric)
            if status == "ok" and value is not None:
                if self.best is None or (value > self.best if mode == "max" else value < self.best):
                    self.best = value
            done = len(self.rows)
            elapsed = time.monotonic() - self.started
            remaining = elapsed / done * max(total - done, 0)
            best = "n/a" if self.best is None else f"{self.best:.4g}"
            logger.debug("trial %d/%d %s: best %s %s, elapsed %.0fs, ~%.0fs left", done, total, status, metric,
                         best, elapsed, remaining)
            if self.progress is not None:
                self.progress.trial_done(value if status == "ok" else None, failed=status == "failed")

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._record(trial, "ok", None)

        def on_trial_error(self, iteration, trials, trial, **info):
            path = trial.error_file  # written locally before callbacks run; storage sync comes later
            text = Path(path).read_text() if path and os.path.exists(path) else (trial.get_error() or "unknown error")
            lines = [line for line in str(text).strip().splitlines() if line.strip()]
            self._record(trial, "failed", lines[-1] if lines else str(text))

    return HistoryRecorder()


_TUNE_BOOKKEEPING = {
    "timestamp", "time_this_iter_s", "time_total_s", "training_iteration", "iterations_since_restore",
    "time_since_restore", "pid", "done", "node_id",
}


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    """Append a row; the arch column holds JSON; new metric columns extend the header by rewriting."""
    flat = {**row, "arch": json.dumps(row["arch"], sort_keys=True)}
    existing: list[dict[str, str]] = []
    header: list[str] = []
    if path.exists():
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            existing = list(reader) if any(k not in header for k in flat) else []
    if not header or any(k not in header for k in flat):
        header = header + [k for k in flat if k not in header]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header)
            writer.writeheader()
            writer.writerows(existing)
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=header).writerow(flat)


def read_history(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a history.csv with the arch decoded and numbers parsed, one per trial.

    A trial that finished after the last experiment checkpoint of a killed search runs
    again on resume (same id, same architecture); only its last row is kept.
    """
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if key == "arch":
                    row[key] = json.loads(value)
                elif key in ("trial_id", "status", "error", "node_id"):
                    row[key] = value
                else:
                    try:
                        row[key] = float(value) if value != "" else None
                    except ValueError:
                        row[key] = value
            rows.append(row)
    last = {row["trial_id"]: i for i, row in enumerate(rows)}
    return [row for i, row in enumerate(rows) if last[row["trial_id"]] == i]


def _reconcile_history(path: Path, restored: Any) -> list[dict[str, Any]]:
    """Keep only the history rows of trials the restored experiment state knows as finished.

    Trials that finished after the last experiment checkpoint of a killed driver are not
    in the restored state: the searcher proposes them again, so their old rows go.
    """
    if not path.exists():
        return []
    finished: set[str] = set()
    for result in restored:
        trial_id = (result.metrics or {}).get("trial_id")
        if trial_id is None and result.error is not None and result.path:
            parts = os.path.basename(result.path).split("_")
            trial_id = parts[2] if len(parts) > 2 else None
        if trial_id:
            finished.add(trial_id)
    rows = [row for row in read_history(path) if row["trial_id"].split("/")[0] in finished]  # "<trial>/<i>": batches
    dropped = path.with_name(path.name + ".tmp")
    if dropped.exists():
        dropped.unlink()
    for row in rows:
        _append_csv(dropped, row)
    if rows:
        os.replace(dropped, path)
    else:
        path.unlink()
    return rows


def _best(history: list[dict[str, Any]], metric: str, mode: str, *, status: str = "ok") -> dict[str, Any] | None:
    """The best row of ``status`` by ``metric``; rows of ``"ok"`` count only if evaluated in full."""
    ok = [r for r in history if r.get("status") == status and isinstance(r.get(metric), (int, float))
          and math.isfinite(r[metric]) and (status != "ok" or is_full(r))]
    if not ok:
        return None
    return max(ok, key=lambda r: r[metric]) if mode == "max" else min(ok, key=lambda r: r[metric])


def _recheck_best(row: dict[str, Any], evaluator: Any, metric: str, *, cpus: float, gpus: float,
                  run: Callable[..., dict[str, Any]]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Evaluate the best row's architecture again on the whole validation set.

    ``row`` is the best row evaluated in full, or, when no trial was, the best stopped one:
    then it becomes the best only through this full evaluation. Returns the best arch,
    its metrics, and what ``best.json`` records of the re-check.
    """
    searched = {k: v for k, v in row.items() if k not in ("arch", "status", "error", "node_id")}
    note: dict[str, Any] = {"trial_id": row["trial_id"], "status_in_search": row["status"],
                            f"{FRACTION}_in_search": row.get(FRACTION), f"{metric}_in_search": row.get(metric)}
    try:
        full = run(evaluator, row["arch"], metric, cpus=cpus, gpus=gpus)
    except Exception as exc:  # noqa: BLE001 - reported, the search's own result stands
        logger.warning("re-checking the best architecture on the whole validation set failed: %s: %s",
                       type(exc).__name__, exc)
        note["error"] = f"{type(exc).__name__}: {exc}"
        if row["status"] != "ok":  # never report a partly evaluated subnet as the best
            return None, {}, note
        return row["arch"], searched, note
    note[f"{metric}_full"] = full[metric]
    if row["status"] == "ok" and not math.isclose(full[metric], row[metric], rel_tol=1e-6, abs_tol=1e-9):
        logger.warning("the best architecture scored %s=%s in the search but %s on re-check; best.json has the "
                       "re-check", metric, row[metric], full[metric])
    metrics = {**{k: v for k, v in searched.items() if k in ("trial_id", "wall_time_s")},
               **{k: v for k, v in full.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}}
    logger.info("best architecture re-checked on the whole validation set: %s = %s (in the search: %s on %.0f%%)",
                metric, full[metric], row.get(metric), 100 * float(row.get(FRACTION) or 1.0))
    return row["arch"], metrics, note


def _check_resources(cpus_per_trial: float, gpus_per_trial: float) -> None:
    """Refuse a trial size that no node can ever hold (Tune would wait for it forever)."""
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    for label, key, value in (("cpus_per_trial", "CPU", cpus_per_trial), ("gpus_per_trial", "GPU", gpus_per_trial)):
        if value and not any(r.get(key, 0) >= value for r in nodes):
            largest = max((r.get(key, 0) for r in nodes), default=0)
            raise ConfigError(f"{label}={value!r} fits on no node of this Ray cluster: the most {key} on one node "
                              f"is {largest:g}")


def search(
    space: Any,
    evaluator: Callable[[dict[str, Any]], Mapping[str, Any]],
    strategy: Any = "default",
    num_samples: int = 100,
    max_concurrent: int = 4,
    seed: int = 0,
    constraints: Constraints | None = None,
    metric: str = "accuracy",
    mode: str = "max",
    storage_path: str | None = None,
    *,
    out_dir: str | os.PathLike | None = None,
    name: str = "search",
    resume: bool = False,
    overwrite: bool = False,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    strategy_options: Mapping[str, Any] | None = None,
    progress: Any = None,
    archs_per_trial: int = 1,
    callbacks: list[Any] | None = None,
    scheduler: Any = None,
    runtime_env: Mapping[str, Any] | None = None,
) -> SearchResult:
    """Search ``space`` with ``strategy``, each trial evaluating one architecture with ``evaluator``.

    Args:
        space: a ``search_spaces.SearchSpace``.
        evaluator: any picklable callable ``arch -> dict`` of metrics. One that raises
            (or returns a non-finite metric) marks the trial failed; the search goes on.
        strategy: a registry name (``strategies.available()``; ``"default"`` is
            ``strategies.DEFAULT``) or a ready Tune ``Searcher``.
        num_samples: number of trials (the budget).
        max_concurrent: trials in flight at once (``ConcurrencyLimiter``).
        constraints: a :class:`raynas.Constraints` every proposal satisfies.
        storage_path: where Tune keeps its experiment (default ``out_dir/tune``); on a
            cluster, a path every node reaches.
        out_dir: where ``history.csv``, ``best.json`` and ``report.html`` (the search on one page)
            go (default: a new temporary folder).
        resume: continue an interrupted experiment in ``out_dir`` through ``Tuner.restore``.
        cpus_per_trial, gpus_per_trial: what Ray reserves for each trial. A fraction of a GPU
            (e.g. 0.25) lets that many trials share one GPU; the evaluator must then run on
            ``"cuda"`` (Ray sets ``CUDA_VISIBLE_DEVICES`` for each trial).
        archs_per_trial: architectures evaluated in one Tune trial (default 1). A batch pays
            Tune's per-trial cost once (scheduling, result processing, experiment-state saves),
            which matters when one evaluation is cheap; the strategy still proposes and learns
            one architecture at a time, and ``history.csv`` still has one row per architecture
            (``trial_id`` ``"<trial>/<index>"``). Up to ``max_concurrent * archs_per_trial``
            architectures are then in flight.
        progress: a one-line display of trials done/total, best so far, elapsed and remaining
            time: ``None`` (default) draws it only when stderr and stdout are terminals,
            ``False`` never, ``True`` always; a ``raynas.report.Progress`` is used as is.
        callbacks: Ray Tune callbacks (``ray.tune.Callback``: loggers such as
            ``TBXLoggerCallback`` or ``MLflowLoggerCallback``, or your own), run after raynas's
            own history recorder and told of every trial. See :func:`raynas.loggers.tune_callbacks`.
        scheduler: a Tune trial scheduler, or the name of an early-stopping one
            (:data:`raynas.tune.fidelity.EARLY_STOP`: ``"asha"``, ``"hyperband"``, ``"median"``,
            built for the evaluator's chunks by :func:`raynas.tune.fidelity.make_scheduler`).
            With an evaluator that reports per validation chunk it stops poor subnets early;
            their rows say ``status="stopped"`` and how much they saw, they are never the
            best, and the best is evaluated again on the whole set (``best.json``'s
            ``"recheck"``). See :mod:`raynas.tune.fidelity`.
        runtime_env: Ray's runtime environment for the job raynas starts or joins, e.g.
            ``{"working_dir": "."}`` so the workers can import an evaluator's module from the
            user's code. Ray must not already be initialised in this process with another one.

    Returns:
        A :class:`SearchResult` with at least one successful trial.

    Raises:
        SearchFailed: every trial failed (or none ran); carries the ``history`` and the result.
        ConfigError: a bad argument, an occupied ``out_dir``, or ``resume`` with another ``num_samples``
            than the search was started with. Nothing is written when a search is refused.
    """
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    for label, value in (("cpus_per_trial", cpus_per_trial), ("gpus_per_trial", gpus_per_trial)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                or (label == "cpus_per_trial" and value == 0):
            raise ConfigError(f"{label} must be a number {'>' if label == 'cpus_per_trial' else '>='} 0, got {value!r}")
    for label, value in (("num_samples", num_samples), ("max_concurrent", max_concurrent),
                         ("archs_per_trial", archs_per_trial)):
        check_int(None, label, value, low=1)
    if mode not in ("max", "min"):
        raise ConfigError(f"mode must be 'max' or 'min', got {mode!r}")
    if not callable(evaluator):
        raise TypeError(f"evaluator must be callable arch -> dict of metrics, got {type(evaluator).__name__}")
    constraints = constraints or Constraints()
    constraints.check_feasible(space)
    if isinstance(scheduler, str):
        from raynas.tune.fidelity import make_scheduler

        scheduler = make_scheduler(scheduler, metric=metric, mode=mode, chunks=chunks_of(evaluator))
    _check_scheduler(scheduler)
    from raynas.tune.fidelity import check_scheduler_fits

    check_scheduler_fits(scheduler, evaluator, metric=metric, mode=mode, archs_per_trial=archs_per_trial)
    callbacks = _check_callbacks(callbacks)
    runtime_env = check_runtime_env(runtime_env)
    if out_dir is None and resume:
        raise ConfigError("resume=True needs the out_dir of the interrupted search")
    if out_dir is not None:
        check_out_dir(out_dir, resume=resume, overwrite=overwrite, marker="search.json")
        if resume:
            _check_resume_budget(Path(out_dir).expanduser(), num_samples)
    searcher = None
    if not resume:  # built now, so that a refusal (bad option, infeasible budget) leaves nothing behind
        searcher = _build_searcher(strategy, space, metric, mode, seed, constraints, strategy_options, num_samples)

    set_ray_env()
    init_ray(address, runtime_env=runtime_env)
    _check_resources(cpus_per_trial, gpus_per_trial)

    if out_dir is None:
        out = Path(tempfile.mkdtemp(prefix="raynas-search-"))
    else:
        out = prepare_out_dir(out_dir, resume=resume, overwrite=overwrite, marker="search.json")
    storage = storage_location(storage_path) if storage_path else str((out / "tune").resolve())
    if not resume:
        (out / "search.json").write_text(json.dumps({
            "space": getattr(space, "name", None), "strategy": strategy if isinstance(strategy, str) else type(strategy).__name__,
            "num_samples": num_samples, "max_concurrent": max_concurrent, "archs_per_trial": archs_per_trial,
            "seed": seed, "metric": metric,
            "mode": mode, "constraints": constraints.to_dict(), "storage_path": storage, "name": name,
        }, indent=2))

    history_path = out / HISTORY_FILE
    from raynas.report.progress import make_progress

    display, owned = make_progress(progress, num_samples, metric=metric, mode=mode)
    recorder = _make_history_callback(history_path, metric, mode, num_samples, display)
    run_trainable = trainable(evaluator, metric, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial)
    experiment = os.path.join(storage, name)
    experiment_existed = os.path.exists(experiment)
    if resume and tune.Tuner.can_restore(experiment):
        if callbacks or scheduler is not None:
            logger.warning("resume: Tune restores the experiment with the callbacks and scheduler it started with; "
                           "the ones given now are not used")
        tuner = tune.Tuner.restore(experiment, trainable=run_trainable, resume_errored=False, restart_errored=False)
        recorder.rows = _reconcile_history(history_path, tuner.get_results())
        logger.info("resuming search from %s (%d trials kept)", experiment, len(recorder.rows))
        if len(recorder.rows) >= num_samples:
            logger.warning("resume: the search in %s already ran all %d trials of its budget; nothing left to run",
                           out, num_samples)
    else:
        if searcher is None:
            searcher = _build_searcher(strategy, space, metric, mode, seed, constraints, strategy_options,
                                       num_samples)
        if archs_per_trial > 1:
            from raynas.tune.batch import BatchSearcher

            searcher = BatchSearcher(searcher, archs_per_trial, num_samples)
        tuner = tune.Tuner(
            run_trainable,
            tune_config=tune.TuneConfig(
                search_alg=ConcurrencyLimiter(searcher, max_concurrent=max_concurrent),
                num_samples=num_samples,
                reuse_actors=True,
                scheduler=scheduler,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=storage,
                verbose=0,
                callbacks=[recorder, *callbacks],
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
    started = time.monotonic()
    try:
        grid = tuner.fit()
    except RaynasError:
        # Refused from inside the run (e.g. the strategy found no feasible architecture to propose):
        # a new search that recorded nothing leaves nothing behind, so the corrected command runs.
        if not resume and not history_path.exists():
            if out_dir is not None:
                shutil.rmtree(out, ignore_errors=True)
            if not experiment_existed and "://" not in experiment:
                shutil.rmtree(experiment, ignore_errors=True)
        raise
    finally:
        if owned:
            display.close()
    history = read_history(history_path) if history_path.exists() else []
    best_row = _best(history, metric, mode)
    best_arch = best_row["arch"] if best_row else None
    best_metrics = ({k: v for k, v in best_row.items() if k not in ("arch", "status", "error", "node_id")}
                    if best_row else {})
    record: dict[str, Any] = {"arch": best_arch, "metrics": best_metrics, "metric": metric, "mode": mode}
    if any(r.get("status") == "stopped" for r in history) or (scheduler is not None and chunks_of(evaluator) > 1):
        from raynas.tune.fidelity import recheck

        candidate = best_row or _best(history, metric, mode, status="stopped")
        if candidate is not None:
            best_arch, best_metrics, record["recheck"] = _recheck_best(
                candidate, evaluator, metric, cpus=cpus_per_trial, gpus=gpus_per_trial, run=recheck)
            record.update(arch=best_arch, metrics=best_metrics)
    (out / BEST_FILE).write_text(json.dumps(record, indent=2))
    if history:
        from raynas.report.html import write_html_report

        write_html_report(out)
    logger.info("search finished: %d trials (%d failed, %d stopped early) in %.1fs; best %s = %s", len(history),
                sum(r["status"] == "failed" for r in history), sum(r["status"] == "stopped" for r in history),
                time.monotonic() - started, metric, best_metrics.get(metric))
    result = SearchResult(best_arch=best_arch, best_metrics=best_metrics, history=history, path=out,
                          metric=metric, mode=mode, result_grid=grid)
    if best_arch is None:
        raise SearchFailed(f"no trial of the search in {str(out)!r} succeeded: {len(history)} trial(s), "
                           f"{_failure_summary(history)}", history=history, result=result)
    return result


def _build_searcher(strategy: Any, space: Any, metric: str, mode: str, seed: int, constraints: Constraints,
                    strategy_options: Mapping[str, Any] | None, num_samples: int) -> Any:
    """The strategy as a Tune ``Searcher``; a registry name's options fitted to the budget (said in a warning)."""
    import strategies
    from ray.tune.search import Searcher

    if isinstance(strategy, Searcher):
        return strategy
    options, note = strategies.fit_budget(strategy, num_samples, dict(strategy_options or {}))
    if note:
        logger.warning("%s", note)
    return strategies.get(strategy, space=space, metric=metric, mode=mode, seed=seed, constraints=constraints,
                          **options)


def _check_callbacks(callbacks: Any) -> list[Any]:
    from ray.tune import Callback

    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of ray.tune.Callback, got {type(callbacks).__name__}")
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(f"callbacks must be ray.tune.Callback instances, got {type(callback).__name__}")
    return list(callbacks)


def _check_scheduler(scheduler: Any) -> None:
    from ray.tune.schedulers import TrialScheduler

    if scheduler is not None and not isinstance(scheduler, TrialScheduler):
        raise TypeError(f"scheduler must be a ray.tune.schedulers.TrialScheduler (e.g. FIFOScheduler, "
                        f"ASHAScheduler), got {type(scheduler).__name__}")
