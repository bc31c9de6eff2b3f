"""``--early-stop`` / ``--val-chunks``: bad values are one line and exit 2 before Ray starts; a search
with ASHA records fractions and re-checks the best."""

import csv
import json

import pytest
import torch

import search_spaces
from raynas.cli.main import main


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("raynas: error:"), err
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    net = search_spaces.get("tiny").build_supernet(num_classes=10)
    return str(net.save(tmp_path_factory.mktemp("supernet") / "supernet.pt"))


@pytest.fixture
def no_ray(monkeypatch):
    """Fail the test if the command gets as far as starting Ray."""
    import raynas.tune.search

    def refuse(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(raynas.tune.search, "init_ray", refuse)


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--early-stop", "fast"], "argument --early-stop: invalid choice: 'fast' (choose from"),
        (["--val-chunks", "0"], "expected a positive integer, got '0'"),
        (["--early-stop", "asha", "--val-chunks", "1"], "needs --val-chunks >= 2"),
        (["--early-stop", "median", "--archs-per-trial", "3"], "use --archs-per-trial 1"),
    ],
)
def test_search_bad_early_stop_is_one_line_before_ray(extra, needle, checkpoint, capsys, tmp_path, no_ray):
    argv = ["search", "--checkpoint", checkpoint, "--strategy", "random", "--out", str(tmp_path / "out"), *extra]
    assert main(argv) == 2
    err = _one_line_error(capsys)
    assert needle in err
    if "invalid choice" in needle:
        assert "'asha'" in err and "'hyperband'" in err and "'median'" in err
    assert not (tmp_path / "out").exists()


def test_compare_early_stop_needs_a_supernet(capsys, tmp_path, no_ray):
    assert main(["compare", "--benchmark", "nb201", "--early-stop", "asha", "--out", str(tmp_path / "c")]) == 2
    assert "needs the supernet evaluator" in _one_line_error(capsys)
    assert main(["compare", "--benchmark", "nb201", "--early-stop", "bohb", "--out", str(tmp_path / "c")]) == 2
    assert "invalid choice: 'bohb'" in _one_line_error(capsys)
    assert not (tmp_path / "c").exists()


def test_search_with_asha_records_fractions_and_rechecks_the_best(checkpoint, ray_session, capsys, tmp_path):
    out = tmp_path / "out"
    assert main(["search", "--checkpoint", checkpoint, "--dataset", "digits", "--strategy", "random",
                 "--budget", "10", "--concurrency", "2", "--early-stop", "asha", "--val-chunks", "4",
                 "--out", str(out), "--quiet"]) == 0
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10
    for row in rows:
        fraction = float(row["fraction_evaluated"])
        assert fraction in (0.25, 0.5, 1.0) or 0 < fraction < 1
        assert (row["status"] == "ok") == (fraction == 1.0), row
    best = json.loads((out / "best.json").read_text())
    assert best["metrics"]["fraction_evaluated"] == 1.0
    assert best["recheck"]["accuracy_full"] == pytest.approx(best["metrics"]["accuracy"])
    printed = capsys.readouterr().out
    assert "best subnet:" in printed



@pytest.mark.slow  # about 30 s: a whole compare run through Ray Tune
def test_compare_with_asha_on_a_supernet_runs_every_seed(checkpoint, ray_session, capsys, tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", "--checkpoint", checkpoint, "--dataset", "digits", "--strategies", "random",
                 "--seeds", "1", "--budget", "6", "--concurrency", "2", "--early-stop", "asha",
                 "--val-chunks", "3", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "random" in printed and "report:" in printed
    with open(out / "runs" / "random-seed0" / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    for row in rows:
        fraction = float(row["fraction_evaluated"])
        assert 0 < fraction <= 1
        assert (row["status"] == "ok") == (fraction == 1.0), row
    assert any(float(row["fraction_evaluated"]) == 1.0 for row in rows)
    assert (out / "compare.json").exists()
