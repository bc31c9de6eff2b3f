"""Several architectures per Tune trial.

A Tune trial costs a fixed amount on top of its evaluation: the searcher is asked, the
trial is scheduled on an actor, its result travels back and is processed, and the
experiment state is saved. When an evaluation is cheap (a table or a predictor lookup,
a small supernet on a small validation set), that cost dominates. :class:`BatchSearcher`
amortises it: each Tune trial evaluates up to ``archs_per_trial`` architectures that the
wrapped searcher proposed one by one, and the searcher is told each result separately,
under the sub-trial id ``"<trial_id>/<index>"``, exactly as if each had been a trial.
"""

from __future__ import annotations

import logging
from typing import Any

from ray.tune.search import Searcher

from raynas.checks import check_positive_int
from strategies.searcher import check_state, read_state, restore_searcher_bytes, save_searcher_bytes, write_state

__all__ = ["BATCH_KEY", "BatchSearcher", "sub_trial_id"]

logger = logging.getLogger(__name__)

BATCH_KEY = "__raynas_batch__"  # the trial config of a batch: {BATCH_KEY: [arch, arch, ...]}
_FORMAT = "raynas.BatchSearcher/1"


def sub_trial_id(trial_id: str, index: int) -> str:
    """The id under which the architecture at ``index`` of trial ``trial_id`` is known."""
    return f"{trial_id}/{index}"


class BatchSearcher(Searcher):
    """Wrap ``searcher`` so that each Tune trial carries up to ``archs_per_trial`` of its proposals.

    Args:
        searcher: the strategy's searcher (one architecture per ``suggest``).
        archs_per_trial: the most architectures in one trial.
        total: the budget in architectures; once that many are proposed, ``suggest``
            returns ``FINISHED`` (the last trial may carry fewer).

    A batch is cut short when the wrapped searcher has nothing to propose right now
    (``None``, e.g. a strategy waiting for results) or is finished. The trainable reports
    ``{BATCH_KEY: [metrics or {"error": reason}, ...]}``; each entry goes to the wrapped
    searcher as its own completion (an entry with an error, or a failed trial, as
    ``error=True``).
    """

    def __init__(self, searcher: Searcher, archs_per_trial: int, total: int) -> None:
        archs_per_trial = check_positive_int(None, "archs_per_trial", archs_per_trial)
        total = check_positive_int(None, "total", total)
        super().__init__(metric=getattr(searcher, "metric", None), mode=getattr(searcher, "mode", None))
        self.searcher = searcher
        self.archs_per_trial = archs_per_trial
        self.total = total
        self._suggested = 0
        self._finished = False
        self._live: dict[str, int] = {}  # trial id -> architectures in it

    @property
    def metric(self) -> str | None:
        return self.searcher.metric

    @property
    def mode(self) -> str | None:
        return self.searcher.mode

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._finished or self._suggested >= self.total:
            return Searcher.FINISHED
        batch = []
        for index in range(min(self.archs_per_trial, self.total - self._suggested)):
            config = self.searcher.suggest(sub_trial_id(trial_id, index))
            if config is None:
                break
            if config == Searcher.FINISHED:
                self._finished = True
                break
            batch.append(dict(config))
        if not batch:
            return Searcher.FINISHED if self._finished else None
        self._live[trial_id] = len(batch)
        self._suggested += len(batch)
        return {BATCH_KEY: batch}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        pass  # a batch reports once, when all its architectures are evaluated

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        count = self._live.pop(trial_id, None)
        if count is None:
            logger.debug("completion of unknown or already completed trial %r ignored", trial_id)
            return
        entries = None if error or not result else result.get(BATCH_KEY)
        for index in range(count):
            entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
            sub = sub_trial_id(trial_id, index)
            if not isinstance(entry, dict) or entry.get("error"):
                self.searcher.on_trial_complete(sub, result=None, error=True)
            else:
                self.searcher.on_trial_complete(sub, result=entry, error=False)

    # -- checkpoints -------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {"format": _FORMAT, "archs_per_trial": self.archs_per_trial, "total": self.total,
                "suggested": self._suggested, "finished": self._finished, "live": dict(self._live),
                "inner": save_searcher_bytes(self.searcher)}

    def set_state(self, state: dict[str, Any]) -> None:
        state = check_state(state, _FORMAT, "BatchSearcher", "the state")
        self.archs_per_trial, self.total = state["archs_per_trial"], state["total"]
        self._suggested, self._finished = state["suggested"], state["finished"]
        self._live = dict(state["live"])
        restore_searcher_bytes(self.searcher, state["inner"])

    def save(self, checkpoint_path: str) -> None:
        write_state(checkpoint_path, self.get_state())

    def restore(self, checkpoint_path: str) -> None:
        self.set_state(read_state(checkpoint_path, _FORMAT, "BatchSearcher"))

    def __repr__(self) -> str:
        return f"BatchSearcher({self.searcher!r}, archs_per_trial={self.archs_per_trial}, total={self.total})"
