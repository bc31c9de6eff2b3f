"""A search driver killed with SIGKILL at about half its budget resumes through Tuner.restore.

The resumed search must finish the budget with no trial run twice in the final
history, and for seeded strategies run with one trial at a time it must equal a
search that was never interrupted, architecture by architecture.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import raynas
import search_spaces
import strategies
from raynas.evaluate.toy import ToyEvaluator
from raynas.tune.search import read_history

BUDGET = 12
DRIVER = textwrap.dedent(
    """
    import sys
    import raynas, search_spaces
    from raynas.evaluate.toy import ToyEvaluator
    out, strategy, resume, address = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
    archs_per_trial = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    space = search_spaces.ChoiceSpace({"a": tuple(range(6)), "b": tuple(range(6)), "c": ("x", "y", "z")}, name="toy")
    raynas.search(space, ToyEvaluator(space, delay_s=0.15), strategy=strategy, num_samples=%d, max_concurrent=1,
                  seed=3, out_dir=out, resume=resume, address=address, archs_per_trial=archs_per_trial)
    """ % BUDGET
)
SPACE = search_spaces.ChoiceSpace({"a": tuple(range(6)), "b": tuple(range(6)), "c": ("x", "y", "z")}, name="toy")

# Seeded strategies whose whole state is restored: the resumed run equals an uninterrupted one.
EXACT = {"random", "evolution", "reinforce", "grid", "tpe", "nevergrad"}
FAST = {"evolution"}  # the rest run under -m slow to keep the default suite short


def _rows(path):
    return read_history(path) if path.exists() else []


def _kill_at_half(script, out, strategy, address, archs_per_trial=1):
    proc = subprocess.Popen([sys.executable, str(script), str(out), strategy, "0", address, str(archs_per_trial)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while len(_rows(out / "history.csv")) < BUDGET // 2:
            assert proc.poll() is None, "the driver finished or crashed before it could be killed"
            assert time.monotonic() < deadline, "the driver made no progress"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _params():
    for name in strategies.available():
        if name == "dna":
            continue
        marks = [] if name in FAST else [pytest.mark.slow]
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("strategy", list(_params()))
def test_killed_search_resumes_to_the_same_result(ray_session, tmp_path, strategy):
    address = ray_session.get_runtime_context().gcs_address
    reference = raynas.search(SPACE, ToyEvaluator(SPACE, delay_s=0.0), strategy=strategy, num_samples=BUDGET,
                              max_concurrent=1, seed=3, out_dir=tmp_path / "reference")
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    out = tmp_path / "killed"
    _kill_at_half(script, out, strategy, address)
    done_before = len(_rows(out / "history.csv"))
    assert BUDGET // 2 <= done_before < BUDGET

    result = subprocess.run([sys.executable, str(script), str(out), strategy, "1", address],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    history = read_history(out / "history.csv")
    ids = [row["trial_id"] for row in history]
    assert len(ids) == len(set(ids)) == BUDGET
    assert all(row["status"] == "ok" for row in history)
    archs = [SPACE.key(row["arch"]) for row in history]
    if strategy in EXACT:
        assert archs == [SPACE.key(row["arch"]) for row in reference.history]
        assert [r["accuracy"] for r in history] == [r["accuracy"] for r in reference.history]
    elif strategy != "grid":
        assert len(set(archs)) == len(archs)


@pytest.mark.slow
def test_killed_batched_search_resumes_to_the_same_result(ray_session, tmp_path):
    """Three architectures per trial: the resumed history equals an uninterrupted batched search."""
    address = ray_session.get_runtime_context().gcs_address
    reference = raynas.search(SPACE, ToyEvaluator(SPACE, delay_s=0.0), strategy="evolution", num_samples=BUDGET,
                              max_concurrent=1, seed=3, out_dir=tmp_path / "reference", archs_per_trial=3)
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    out = tmp_path / "killed"
    _kill_at_half(script, out, "evolution", address, archs_per_trial=3)
    assert BUDGET // 2 <= len(_rows(out / "history.csv")) < BUDGET
    result = subprocess.run([sys.executable, str(script), str(out), "evolution", "1", address, "3"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    history = read_history(out / "history.csv")
    ids = [row["trial_id"] for row in history]
    assert len(ids) == len(set(ids)) == BUDGET and all("/" in i for i in ids)
    assert [SPACE.key(r["arch"]) for r in history] == [SPACE.key(r["arch"]) for r in reference.history]


def test_resume_needs_an_interrupted_search(tmp_path):
    with pytest.raises(raynas.ConfigError, match="cannot resume"):
        raynas.search(SPACE, ToyEvaluator(SPACE), strategy="random", num_samples=2, out_dir=tmp_path / "none",
                      resume=True)
