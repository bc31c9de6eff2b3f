"""A one-line progress display for long searches and comparisons.

It shows trials done out of the total, the best so far, the elapsed time and an estimate
of the time left, rewriting one line of a terminal. It writes nothing at all when the
stream (or standard output) is not a terminal, or when disabled (``--quiet``), so logs
and pipes stay clean.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

from raynas.checks import check_int

__all__ = ["Progress", "make_progress", "format_duration"]

logger = logging.getLogger(__name__)


def format_duration(seconds: float) -> str:
    """``75.3 -> '1:15'``, ``3725 -> '1:02:05'``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


class Progress:
    """Counts finished trials against ``total`` and redraws one status line.

    Args:
        total: trials expected in all.
        metric, mode: what "best" means (``mode`` is ``"max"`` or ``"min"``).
        enabled: ``None`` (default) draws only when both ``stream`` and standard output
            are terminals; ``False`` never draws; ``True`` always draws (tests, notebooks).
        stream: where the line goes (default ``sys.stderr``).
        min_interval: seconds between redraws (the last trial is always drawn).

    :meth:`trial_done` may be called by several searches in turn (``raynas.compare`` shares
    one display over all its runs); :meth:`set_label` names the run in progress.
    """

    def __init__(
        self,
        total: int,
        *,
        metric: str = "accuracy",
        mode: str = "max",
        enabled: bool | None = None,
        stream: TextIO | None = None,
        min_interval: float = 0.2,
    ):
        check_int("Progress", "total", total, low=1)
        if mode not in ("max", "min"):
            raise ValueError(f"Progress.mode must be 'max' or 'min', got {mode!r}")
        self.total = total
        self.metric = metric
        self.mode = mode
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = _is_terminal(self.stream) and _is_terminal(sys.stdout)
        self.enabled = bool(enabled)
        self.min_interval = min_interval
        self.done = 0
        self.failed = 0
        self.best: float | None = None
        self.label = ""
        self.started = time.monotonic()
        self._last_draw = -1e9
        self._width = 0
        self._filters: list[tuple[logging.Handler, logging.Filter]] = []
        if self.enabled:
            self._clear_before_logs()

    def _clear_before_logs(self) -> None:
        """Log records written to the same stream first wipe the status line (it is redrawn on the next trial)."""
        progress = self

        class _ClearLine(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                progress.clear_line()
                return True

        loggers = [logging.getLogger()] + [
            logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
        ]  # Ray's loggers have handlers of their own
        handlers = {id(h): h for logger in loggers for h in logger.handlers}.values()
        for handler in handlers:
            if getattr(handler, "stream", None) is self.stream:
                line_filter = _ClearLine()
                handler.addFilter(line_filter)
                self._filters.append((handler, line_filter))

    def clear_line(self) -> None:
        """Erase the status line (if drawn), leaving the cursor at the start of the line."""
        if self.enabled and self._width:
            try:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
            except (OSError, ValueError):
                self.enabled = False
            self._width = 0

    def set_label(self, label: str, *, metric: str | None = None, mode: str | None = None) -> None:
        """Name the run in progress (and, optionally, the metric its "best" refers to)."""
        self.label = label
        if metric is not None:
            self.metric = metric
        if mode is not None:
            if mode not in ("max", "min"):
                raise ValueError(f"Progress.mode must be 'max' or 'min', got {mode!r}")
            self.mode = mode

    def reset_best(self) -> None:
        """Forget the best value (a new run of a comparison starts)."""
        self.best = None

    def trial_done(self, value: float | None, *, failed: bool = False) -> None:
        """Count one finished trial; ``value`` is its metric (``None`` for a failed trial)."""
        self.done += 1
        self.failed += int(failed)
        if value is not None and (self.best is None or (value > self.best if self.mode == "max" else value < self.best)):
            self.best = float(value)
        now = time.monotonic()
        if self.enabled and (now - self._last_draw >= self.min_interval or self.done >= self.total):
            self._last_draw = now
            self._draw(self.line())

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining(self) -> float | None:
        """Seconds left at the average pace so far (``None`` before the first trial)."""
        if self.done == 0:
            return None
        return self.elapsed / self.done * max(self.total - self.done, 0)

    def line(self) -> str:
        best = "-" if self.best is None else f"{self.best:.4g}"
        left = "?" if self.remaining is None else format_duration(self.remaining)
        failed = f" ({self.failed} failed)" if self.failed else ""
        prefix = f"[{self.label}] " if self.label else ""
        return (f"{prefix}trials {self.done}/{self.total}{failed} | best {self.metric} {best} | "
                f"elapsed {format_duration(self.elapsed)} | left ~{left}")

    def _draw(self, text: str) -> None:
        pad = " " * max(self._width - len(text), 0)
        self._width = len(text)
        try:
            self.stream.write("\r" + text + pad)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its run config (callbacks included); a stream does not pickle, and
        # a display restored in another process has nothing to draw on.
        return {**self.__dict__, "stream": None, "enabled": False, "_filters": []}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.stream = sys.stderr

    def close(self) -> None:
        """End the status line (a newline) if anything was drawn; stop watching log handlers."""
        for handler, line_filter in self._filters:
            handler.removeFilter(line_filter)
        self._filters = []
        if self.enabled and self._width:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self._width = 0


def make_progress(progress: Any, total: int, *, metric: str, mode: str) -> tuple[Progress, bool]:
    """``(display, owned)`` from a ``progress=`` argument.

    ``None``: a display that draws only on a terminal; ``False``/``True``: off/on; a
    :class:`Progress`: used as is (``owned`` is False: the caller closes it).
    """
    if isinstance(progress, Progress):
        return progress, False
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be None, a bool or a raynas.report.Progress, got {progress!r}")
    return Progress(total, metric=metric, mode=mode, enabled=progress), True
