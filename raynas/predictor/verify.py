"""Re-checking the best predicted candidates of a search on the real supernet (``--verify-top K``)."""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Mapping, Sequence

from raynas.checks import check_choice, check_positive_int
from raynas.errors import ConfigError
from raynas.predictor.collect import evaluate_archs

__all__ = ["top_candidates", "verify_top"]

logger = logging.getLogger(__name__)


def top_candidates(
    history: Sequence[Mapping[str, Any]], k: int, *, space: Any, metric: str = "accuracy", mode: str = "max"
) -> list[dict[str, Any]]:
    """The ``k`` best successful trials of ``history`` by ``metric``, one per canonical architecture."""
    check_positive_int(None, "k", k)
    check_choice(None, "mode", mode, ("max", "min"))
    ok = [r for r in history if r.get("status", "ok") == "ok" and isinstance(r.get(metric), (int, float))
          and math.isfinite(r[metric])]
    ok.sort(key=lambda r: r[metric], reverse=(mode == "max"))
    seen, out = set(), []
    for row in ok:
        key = space.key(row["arch"])
        if key in seen:
            continue
        seen.add(key)
        out.append(dict(row))
        if len(out) == k:
            break
    return out


def verify_top(
    history: Sequence[Mapping[str, Any]],
    evaluator: Callable[[dict[str, Any]], Mapping[str, Any]],
    k: int,
    *,
    space: Any,
    metric: str = "accuracy",
    mode: str = "max",
    concurrency: int = 2,
    address: str | None = None,
) -> list[dict[str, Any]]:
    """Evaluate the ``k`` best predicted architectures of ``history`` with ``evaluator`` (the supernet).

    Returns one row per candidate, in predicted order: ``{"arch", "predicted_<m>": ...}`` for
    every numeric metric ``m`` of the search row, then the evaluator's metrics under their
    own names (``accuracy``, ``loss``, ...), and ``"predicted_rank"`` (1 = best predicted).
    The evaluations run as Ray tasks (:func:`raynas.predictor.evaluate_archs`).
    """
    candidates = top_candidates(history, k, space=space, metric=metric, mode=mode)
    if not candidates:
        raise ConfigError(f"no successful trial with a finite {metric!r} to verify")
    logger.info("verifying the top %d predicted subnets on the supernet", len(candidates))
    rows = evaluate_archs(evaluator, [c["arch"] for c in candidates], concurrency=concurrency, chunk_size=1,
                          address=address)
    out = []
    for rank, (candidate, row) in enumerate(zip(candidates, rows), start=1):
        predicted = {f"predicted_{key}": value for key, value in candidate.items()
                     if isinstance(value, (int, float)) and not isinstance(value, bool)
                     and key not in ("wall_time_s", "eval_time_s")}
        measured = {key: value for key, value in row.items() if key != "arch"}
        out.append({"arch": dict(candidate["arch"]), "predicted_rank": rank, **predicted, **measured})
    return out
