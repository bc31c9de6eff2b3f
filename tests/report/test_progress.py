"""The progress line: content, and silence when not on a terminal."""

from __future__ import annotations

import io

import pytest

from raynas.report.progress import Progress, format_duration, make_progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_line_shows_done_total_best_elapsed_and_remaining():
    stream = _Tty()
    progress = Progress(4, metric="accuracy", enabled=True, stream=stream, min_interval=0)
    progress.set_label("evolution seed 0")
    progress.trial_done(80.0)
    progress.trial_done(None, failed=True)
    progress.trial_done(90.0)
    line = progress.line()
    assert "[evolution seed 0] trials 3/4 (1 failed)" in line
    assert "best accuracy 90" in line and "elapsed 0:0" in line and "left ~0:0" in line
    progress.close()
    assert stream.getvalue().count("\r") == 3 and stream.getvalue().endswith("\n")


def test_min_mode_tracks_the_lowest():
    progress = Progress(3, metric="loss", mode="min", enabled=False)
    for value in (3.0, 1.0, 2.0):
        progress.trial_done(value)
    assert progress.best == 1.0


def test_quiet_when_not_a_terminal():
    stream = io.StringIO()  # isatty() is False
    progress = Progress(2, stream=stream)
    assert progress.enabled is False
    progress.trial_done(1.0)
    progress.close()
    assert stream.getvalue() == ""


def test_disabled_even_on_a_terminal():
    stream = _Tty()
    progress, owned = make_progress(False, 2, metric="accuracy", mode="max")
    progress.stream = stream
    progress.trial_done(1.0)
    assert owned and stream.getvalue() == ""


def test_format_duration():
    assert format_duration(75.3) == "1:15"
    assert format_duration(3725) == "1:02:05"


def test_bad_arguments():
    with pytest.raises(ValueError, match="total must be an int >= 1, got 0"):
        Progress(0)
    with pytest.raises(TypeError, match="progress must be"):
        make_progress("yes", 3, metric="accuracy", mode="max")


def test_log_records_wipe_the_line_first():
    import logging

    stream = _Tty()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        progress = Progress(3, enabled=True, stream=stream, min_interval=0)
        progress.trial_done(1.0)
        logging.getLogger("raynas.test").warning("a message")
        text = stream.getvalue()
        assert text.index("a message") > text.rindex("\r")  # the line was wiped before the record
        progress.close()
        assert not handler.filters
    finally:
        root.removeHandler(handler)


def test_handlers_of_other_loggers_are_watched_too():
    import logging

    stream = _Tty()
    handler = logging.StreamHandler(stream)
    own = logging.getLogger("raynas.test.own_handler")
    own.addHandler(handler)
    own.propagate = False
    try:
        progress = Progress(3, enabled=True, stream=stream, min_interval=0)
        progress.trial_done(1.0)
        own.warning("from a library logger")
        text = stream.getvalue()
        assert text.index("from a library logger") > text.rindex("\r")
        progress.close()
    finally:
        own.removeHandler(handler)
