"""Collecting (architecture, accuracy) pairs: sample subnets and evaluate them in parallel as Ray tasks.

Each Ray task evaluates a chunk of architectures with the evaluator (for a
:class:`~raynas.SupernetEvaluator` the supernet loads once per worker process and stays
cached for later chunks). Progress (done / total, rate, time left) is logged as chunks
finish and reported to an optional callback.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from raynas.checks import check_positive_int
from raynas.constraints import Constraints
from raynas.errors import ConfigError
from raynas._io import atomic_write

__all__ = ["sample_archs", "evaluate_archs", "save_pairs", "load_pairs", "PAIRS_FORMAT"]

logger = logging.getLogger(__name__)

PAIRS_FORMAT = "raynas.pairs"
Progress = Callable[[int, int], None]


def sample_archs(
    space: Any,
    count: int,
    *,
    seed: int = 0,
    constraints: Constraints | None = None,
    exclude: Sequence[Mapping[str, Any]] = (),
    max_draws: int | None = None,
) -> list[dict[str, Any]]:
    """``count`` distinct canonical architectures drawn uniformly (feasible under ``constraints``).

    Architectures equal (canonically) to one in ``exclude`` are skipped. Raises
    :class:`ConfigError` when ``max_draws`` (default ``100 * count``) draws find fewer.
    """
    check_positive_int(None, "count", count)
    constraints = constraints or Constraints()
    draws = max_draws if max_draws is not None else 100 * count
    accept = (lambda arch: constraints.satisfied(space, arch)) if constraints.active else None
    out = space.sample_distinct(count, random.Random(seed), exclude=exclude, accept=accept, max_draws=draws)
    if len(out) == count:
        return out
    raise ConfigError(f"found only {len(out)} distinct feasible architectures of space {space.name!r} in {draws} "
                      f"draws, {count} were asked for; ask for fewer or relax the constraints")


def _evaluate_chunk(evaluator: Callable[[dict[str, Any]], Mapping[str, Any]],
                    archs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for arch in archs:
        started = time.perf_counter()
        try:
            metrics = dict(evaluator(dict(arch)))
        except Exception as exc:  # one bad subnet must not lose the chunk
            rows.append({"arch": arch, "error": f"{type(exc).__name__}: {exc}"})
            continue
        rows.append({"arch": arch, **metrics, "eval_time_s": time.perf_counter() - started})
    return rows


_REMOTE: dict[float, Any] = {}


def _remote(cpus: float):
    import ray

    if cpus not in _REMOTE:
        _REMOTE[cpus] = ray.remote(num_cpus=cpus)(_evaluate_chunk)
    return _REMOTE[cpus]


def evaluate_archs(
    evaluator: Callable[[dict[str, Any]], Mapping[str, Any]],
    archs: Sequence[Mapping[str, Any]],
    *,
    concurrency: int = 2,
    chunk_size: int = 4,
    cpus_per_task: float = 1.0,
    address: str | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Evaluate every architecture as Ray tasks, ``concurrency`` chunks in flight; rows in input order.

    A row is ``{"arch": arch, **metrics, "eval_time_s": ...}``, or ``{"arch": arch,
    "error": reason}`` when the evaluator raised (the others go on). Starts a local Ray
    (or joins ``address`` / ``RAY_ADDRESS``) when none is running.
    """
    for name, value in (("concurrency", concurrency), ("chunk_size", chunk_size)):
        check_positive_int(None, name, value)
    if not callable(evaluator):
        raise TypeError(f"evaluator must be callable arch -> dict of metrics, got {type(evaluator).__name__}")
    archs = [dict(a) for a in archs]
    if not archs:
        return []
    import ray

    from raynas._ray import init_ray

    init_ray(address)
    task = _remote(float(cpus_per_task))
    evaluator_ref = ray.put(evaluator)
    chunks = [archs[i : i + chunk_size] for i in range(0, len(archs), chunk_size)]
    results: list[list[dict[str, Any]] | None] = [None] * len(chunks)
    pending: dict[Any, int] = {}
    submitted, done, failed = 0, 0, 0
    started = time.monotonic()
    while pending or submitted < len(chunks):
        while len(pending) < concurrency and submitted < len(chunks):
            pending[task.remote(evaluator_ref, chunks[submitted])] = submitted
            submitted += 1
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            index = pending.pop(ref)
            try:
                rows = ray.get(ref)
            except Exception as exc:  # the worker died: record the chunk as failed
                reason = " ".join(str(exc).split())[:300]
                rows = [{"arch": arch, "error": f"task failed: {reason}"} for arch in chunks[index]]
            results[index] = rows
            done += len(rows)
            failed += sum("error" in row for row in rows)
            elapsed = time.monotonic() - started
            logger.info("evaluated %d/%d subnets (%d failed), %.2f/s, elapsed %.0fs, ~%.0fs left", done, len(archs),
                        failed, done / max(elapsed, 1e-9), elapsed, elapsed / done * (len(archs) - done))
            if progress is not None:
                progress(done, len(archs))
    return [row for rows in results for row in (rows or [])]


def save_pairs(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], *, space: Any,
               meta: Mapping[str, Any] | None = None) -> Path:
    """Write evaluated rows (``{"arch", **metrics}``) and where they came from as JSON."""
    payload = {"format": PAIRS_FORMAT, "version": 1, "space": space.name, "space_kwargs": dict(space.kwargs),
               "meta": dict(meta or {}), "rows": [dict(r) for r in rows]}
    target = Path(path)
    with atomic_write(target, "w") as f:
        json.dump(payload, f)
    return target


def load_pairs(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by :func:`save_pairs`: ``{"space", "space_kwargs", "meta", "rows"}``."""
    source = os.fspath(path)
    try:
        with open(source) as f:
            payload = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"pairs file {source!r} does not exist; make one with `raynas predictor collect`") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"pairs file {source!r} could not be read as JSON: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != PAIRS_FORMAT or not isinstance(payload.get("rows"), list):
        raise ConfigError(f"{source!r} is not a raynas pairs file (format {PAIRS_FORMAT!r} with a 'rows' list)")
    return payload
