"""The hardware-aware CLI: `raynas latency measure|show`, `raynas predictor fit`, `raynas search --evaluator predictor`."""

from __future__ import annotations

import json
import random

import pytest

import search_spaces
from raynas.cli.main import main
from raynas.latency import LatencyTable
from raynas.predictor import AccuracyPredictor, sample_archs, save_pairs

FAST_MEASURE = ["--warmup", "1", "--repeats", "1", "--rounds", "1", "--calibration-subnets", "1"]


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("latency") / "tiny-cpu.json"
    assert main(["latency", "measure", "--space", "tiny", "--device", "cpu", "--out", str(path), "-q",
                 *FAST_MEASURE]) == 0
    return path


def _pairs(tmp_path, count=48):
    space = search_spaces.get("tiny")
    archs = sample_archs(space, count, seed=0)
    rows = [{"arch": a, "accuracy": 80.0 + a["resolution"] / 2 + a["s3.depth"]} for a in archs]
    return save_pairs(tmp_path / "pairs.json", rows, space=space)


def test_measure_writes_a_table_of_this_device(table_path, capsys):
    table = LatencyTable.load(table_path, expect_device="current", on_mismatch="error")
    assert table.space == "tiny" and len(table) == 249
    assert table.settings["repeats"] == 1 and table.device["threads"] == 1
    assert 0 < table.predict(search_spaces.get("tiny"), search_spaces.get("tiny").smallest())
    assert main(["latency", "show", str(table_path), "--arch", json.dumps(search_spaces.get("tiny").smallest())]) == 0
    out = capsys.readouterr().out
    assert "stem|r12|in1|out16|k3|st1" in out and "total" in out


def test_fit_from_pairs_reports_held_out_scores(tmp_path, capsys):
    out = tmp_path / "pred.pt"
    assert main(["predictor", "fit", "--pairs", str(_pairs(tmp_path)), "--out", str(out), "--epochs", "20",
                 "--hidden-size", "32", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "Kendall tau" in printed and "RMSE" in printed
    predictor = AccuracyPredictor.load(out)
    assert predictor.meta["num_pairs"] == 38 and predictor.meta["holdout"]["num_pairs"] == 10
    assert predictor.meta["source"]["pairs_file"].endswith("pairs.json")


@pytest.mark.parametrize("argv, message", [
    (["search", "--out", "o", "--evaluator", "predictor"], "needs --predictor"),
    (["search", "--out", "o"], "--checkpoint is required"),
    (["search", "--out", "o", "--evaluator", "predictor", "--predictor", "p.pt", "--verify-top", "3"],
     "--verify-top needs --checkpoint"),
    (["predictor", "fit", "--out", "p.pt"], "exactly one of --pairs"),
    (["latency", "measure", "--space", "nope", "--out", "t.json"], "nope"),
    (["latency", "measure", "--space", "tiny", "--out", "t.json", "--statistic", "mode"], "statistic"),
])
def test_bad_arguments_are_one_line_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_latency_budget_needs_a_table_and_a_foreign_table_is_refused(tmp_path, table_path, capsys):
    fit = tmp_path / "pred.pt"
    assert main(["predictor", "fit", "--pairs", str(_pairs(tmp_path)), "--out", str(fit), "--epochs", "2",
                 "--hidden-size", "8", "-q"]) == 0
    base = ["search", "--evaluator", "predictor", "--predictor", str(fit), "--out", str(tmp_path / "s")]
    assert main(base + ["--max-latency-ms", "3"]) == 2
    assert "--max-latency-ms needs --latency-table" in capsys.readouterr().err
    data = json.loads(table_path.read_text())
    data["device"]["name"] = "Imaginary NPU 9000"
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps(data))
    assert main(base + ["--max-latency-ms", "3", "--latency-table", str(foreign)]) == 2
    assert "another device" in capsys.readouterr().err


@pytest.mark.slow
def test_the_whole_workflow(ray_session, tmp_path, table_path, capsys):
    """fit -> search on the predictor under a budget -> verify the top 2 on a (random-weight) supernet."""
    space = search_spaces.get("tiny")
    checkpoint = space.build_supernet().save(tmp_path / "sn")
    fit = tmp_path / "pred.pt"
    assert main(["predictor", "fit", "--pairs", str(_pairs(tmp_path)), "--out", str(fit), "--epochs", "5",
                 "--hidden-size", "16", "-q"]) == 0
    table = LatencyTable.load(table_path)
    rng = random.Random(0)
    budget = sorted(space.latency(space.sample(rng), table) for _ in range(50))[25]
    out = tmp_path / "search"
    assert main(["search", "--evaluator", "predictor", "--predictor", str(fit), "--latency-table", str(table_path),
                 "--max-latency-ms", f"{budget:.6f}", "--strategy", "random", "--budget", "8",
                 "--checkpoint", str(checkpoint), "--verify-top", "2", "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "verified the top 2 predicted subnets" in printed and "measured" in printed
    verified = json.loads((out / "verified.json").read_text())
    assert len(verified) == 2
    for row in verified:
        assert row["predicted_latency_ms"] <= budget + 1e-9
        assert "accuracy" in row and row["measured_latency_ms"] > 0
    assert json.loads((out / "verified_best.json").read_text())["arch"] in [r["arch"] for r in verified]
