"""benchmarks/nb201_strategies.py: a tiny run on the shipped NAS-Bench-201 table, in one process and in two."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "nb201_strategies.py"


def _module():
    spec = importlib.util.spec_from_file_location("nb201_strategies", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the worker processes find their task function by module name
    spec.loader.exec_module(module)
    return module


def test_rows_do_not_depend_on_jobs_and_the_report_checks_the_targets(tmp_path):
    bench = _module()
    common = ["--seeds", "2", "--budgets", "8", "16", "--datasets", "cifar10", "--strategies", "random", "default",
              "--nevergrad-optimizer", "OnePlusOne"]
    rows = {}
    for jobs in (1, 2):
        cache, out = tmp_path / f"cache{jobs}.json", tmp_path / f"report{jobs}.md"
        assert bench.main([*common, "--jobs", str(jobs), "--cache", str(cache), "--out", str(out)]) == 0
        rows[jobs] = {label: entry["rows"] for label, entry in json.loads(cache.read_text()).items()}
    assert rows[1] == rows[2]
    assert set(rows[1]) == {"random (direct)", "regularized evolution P=20 T=5 (direct)", "optuna TPE (direct)",
                            "nevergrad OnePlusOne (direct)", "random", "default"}
    for columns in rows[1].values():
        assert set(columns) == {"cifar10@8", "cifar10@16"}
        assert all(len(v) == 2 and min(v) >= 0 for v in columns.values())
    text = (tmp_path / "report2.md").read_text()
    assert "## Rank over every column" in text and "better than every peer at cifar10@16" in text
    assert "std / 1.4" in text  # the standard error of 2 seeds
    assert "default lowest of the raynas strategies at cifar10@16" in text


def test_a_cached_row_on_fewer_seeds_is_extended_to_the_same_rows_a_fresh_run_gives(tmp_path, capsys):
    bench = _module()
    common = ["--budgets", "8", "--datasets", "cifar10", "--strategies", "random", "--nevergrad-optimizer",
              "OnePlusOne"]
    fresh, grown = tmp_path / "fresh.json", tmp_path / "grown.json"
    assert bench.main([*common, "--seeds", "3", "--cache", str(fresh), "--out", str(tmp_path / "f.md")]) == 0
    assert bench.main([*common, "--seeds", "1", "--cache", str(grown), "--out", str(tmp_path / "g1.md")]) == 0
    capsys.readouterr()
    assert bench.main([*common, "--seeds", "3", "--cache", str(grown), "--out", str(tmp_path / "g3.md")]) == 0
    assert "random                             extends seeds 0..0 measured" in capsys.readouterr().out
    fresh_rows, grown_rows = json.loads(fresh.read_text()), json.loads(grown.read_text())
    assert {k: v["rows"] for k, v in grown_rows.items()} == {k: v["rows"] for k, v in fresh_rows.items()}
    assert all(len(v["rows"]["cifar10@8"]) == 3 for v in grown_rows.values())
    assert grown_rows["random"]["extends"].startswith("seeds 0..0 measured ")
    assert "random (seeds 0..0 measured " in (tmp_path / "g3.md").read_text()
    # fewer seeds than cached: measured afresh, nothing merged
    assert bench.main([*common, "--seeds", "2", "--cache", str(grown), "--out", str(tmp_path / "g2.md")]) == 0
    assert all(len(v["rows"]["cifar10@8"]) == 2 and "extends" not in v
               for v in json.loads(grown.read_text()).values())


def test_the_default_is_compared_with_every_other_raynas_strategy_column_by_column():
    bench = _module()
    rows = {"default": {"a@1": [0.1] * 6, "a@2": [0.5] * 6}, "other": {"a@1": [0.2] * 6, "a@2": [0.0] * 6},
            "peer": {"a@1": [0.0] * 6, "a@2": [0.0] * 6}}
    lines = bench.against_strategies(rows, "default", ["other"], ["a@1", "a@2"])
    assert lines[0].startswith("- default lowest of the raynas strategies at a@1: met (0.100; next other 0.200")
    assert lines[1].startswith("- default lowest of the raynas strategies at a@2: NOT met (other 0.000 vs 0.500; "
                               "that it is lower, one-sided Mann-Whitney p = ")
    assert bench.against_strategies(rows, "default", ["default"], ["a@1"]) == []


def test_the_tune_section_compares_the_default_with_strategies_run_on_as_many_seeds(tmp_path):
    import argparse

    bench = _module()
    columns = ["a@1", "a@2"]
    rows = {"peer": {"a@1": [0.9] * 6, "a@2": [0.9] * 6}}
    tune_rows = {"default (tune)": {"a@1": [0.1] * 6, "a@2": [0.5] * 6},
                 "local (tune)": {"a@1": [0.2] * 8, "a@2": [0.0] * 8},  # more seeds: cut to the default's 6
                 "tpe (tune)": {"a@1": [0.0] * 3, "a@2": [0.0] * 3}}  # fewer: left out
    args = argparse.Namespace(seeds=6, tune_counts={"default": 6, "local": 8, "tpe": 3}, report_only=True)
    out = tmp_path / "r.md"
    bench.write_report(out, args, rows, tune_rows, ["peer"], {}, [1, 2], columns, 0.0, ["--report-only"])
    text = out.read_text()
    assert "- default (tune) better than every peer at a@1: met (0.100 vs peer 0.900" in text
    assert "- default (tune) lowest of the raynas strategies at a@1: met (0.100; next local (tune) 0.200)" in text
    assert "- default (tune) lowest of the raynas strategies at a@2: NOT met (local (tune) 0.000 vs 0.500" in text
    assert "on the same seeds, 0..5: local)" in text and "next tpe" not in text and "(tpe (tune)" not in text
    assert "- command: `python benchmarks/nb201_strategies.py --report-only`" in text


def test_jobs_below_one_is_refused_before_anything_runs(tmp_path, capsys):
    bench = _module()
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--jobs", "0", "--cache", str(tmp_path / "c.json"), "--out", str(tmp_path / "r.md")])
    assert exit_info.value.code == 2
    assert "--jobs must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "r.md").exists()


@pytest.mark.parametrize(("entries", "message"), [
    (["x=abc"], "--tune-seeds takes M or NAME=M with M >= 0, got 'x=abc'"),
    (["1", "default=-2"], "--tune-seeds takes M or NAME=M with M >= 0, got 'default=-2'"),
    (["1", "bogus=3"], "--tune-seeds names ['bogus'], which are not among the Tune strategies ['random']"),
])
def test_bad_tune_seeds_are_refused_before_anything_runs(tmp_path, capsys, entries, message):
    bench = _module()
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--strategies", "random", "--tune-seeds", *entries, "--cache", str(tmp_path / "c.json"),
                    "--out", str(tmp_path / "r.md")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "r.md").exists()
