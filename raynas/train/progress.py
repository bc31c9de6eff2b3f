"""Training progress on the driver: one line per epoch while a Ray Train job runs.

Ray Train runs the training loop on workers and its controller in an actor, so the
driver (the process that called :func:`raynas.train`) sees nothing until the job ends. A
:class:`EpochRelay` (a Ray Train ``UserCallback``, run by the controller after every
``ray.train.report``) puts rank 0's metrics on a Ray queue; :class:`EpochProgress`, a thread
in the driver, takes them off, logs one line per epoch (epoch, loss, the largest and
smallest children's validation accuracy, elapsed and remaining time) and hands each
epoch's metrics to ``on_epoch`` (e.g. :meth:`raynas.loggers.TrainingLogger.log`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Mapping

__all__ = ["EpochProgress", "format_epoch"]

logger = logging.getLogger(__name__)

_POLL_S = 0.5


def _relay_class():
    from ray.train import UserCallback

    class EpochRelay(UserCallback):
        """Puts rank 0's metrics of every report on ``queue`` (runs in Ray Train's controller)."""

        def __init__(self, queue: Any):
            self.queue = queue

        def after_report(self, run_context: Any, metrics: list, checkpoint: Any) -> None:
            if metrics:
                self.queue.put(dict(metrics[0]))

    return EpochRelay


def _loss(metrics: Mapping[str, Any]) -> float | None:
    if isinstance(metrics.get("loss"), (int, float)):
        return float(metrics["loss"])
    losses = [float(v) for k, v in metrics.items() if k.startswith("loss") and isinstance(v, (int, float))]
    return sum(losses) / len(losses) if losses else None


def _num(value: Any, spec: str, suffix: str = "") -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "n/a"
    return f"{value:{spec}}{suffix}"


def format_epoch(metrics: Mapping[str, Any], epochs: int, elapsed_s: float, remaining_s: float | None) -> str:
    """``epoch 3/10: loss 0.912, largest 91.2%, smallest 80.4%, 42s elapsed, ~1m38s left``."""
    left = "n/a" if remaining_s is None else _duration(remaining_s)
    return (f"epoch {int(metrics.get('epoch', 0))}/{epochs}: loss {_num(_loss(metrics), '.4g')}, "
            f"largest {_num(metrics.get('val_accuracy_largest'), '.1f', '%')}, "
            f"smallest {_num(metrics.get('val_accuracy_smallest'), '.1f', '%')}, "
            f"{_duration(elapsed_s)} elapsed, ~{left} left")


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class EpochProgress:
    """Driver-side: the relay for ``RunConfig(callbacks=[...])`` and a thread that logs each epoch.

    Use as a context manager around ``trainer.fit()``::

        with EpochProgress(epochs=10, on_epoch=tb.log) as progress:
            trainer = TorchTrainer(..., run_config=RunConfig(callbacks=[progress.relay], ...))
            trainer.fit()
    """

    def __init__(self, epochs: int, *, on_epoch: Callable[[dict[str, Any]], None] | None = None):
        from ray.util.queue import Queue

        self.epochs = epochs
        self.on_epoch = on_epoch
        self.queue = Queue(actor_options={"num_cpus": 0})
        self.relay = _relay_class()(self.queue)
        self.seen: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._first_epoch: int | None = None
        self._thread = threading.Thread(target=self._run, name="raynas-epoch-progress", daemon=True)

    def __enter__(self) -> "EpochProgress":
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._drain()
        try:
            self.queue.shutdown()
        except Exception:  # noqa: BLE001 - the queue's actor may already be gone with the cluster
            pass

    def _run(self) -> None:
        from ray.util.queue import Empty

        while not self._stop.is_set():
            try:
                metrics = self.queue.get(block=True, timeout=_POLL_S)
            except Empty:
                continue
            except Exception:  # noqa: BLE001 - Ray shutting down under us: stop quietly, fit() reports errors
                return
            self._handle(metrics)

    def _drain(self) -> None:
        try:
            while not self.queue.empty():
                self._handle(self.queue.get_nowait())
        except Exception:  # noqa: BLE001 - as in _run
            return

    def _handle(self, metrics: dict[str, Any]) -> None:
        self.seen.append(metrics)
        epoch = int(metrics.get("epoch", len(self.seen)))
        if self._first_epoch is None:
            self._first_epoch = epoch - 1  # a resumed run starts later: time only this run's epochs
        elapsed = time.monotonic() - self._started
        done = epoch - self._first_epoch
        remaining = elapsed / done * max(self.epochs - epoch, 0) if done > 0 else None
        logger.info("%s", format_epoch(metrics, self.epochs, elapsed, remaining))
        if self.on_epoch is not None:
            try:
                self.on_epoch(metrics)
            except Exception as exc:  # noqa: BLE001 - a logger's failure must not stop training
                logger.warning("epoch %d: the training logger failed: %s: %s", epoch, type(exc).__name__, exc)
