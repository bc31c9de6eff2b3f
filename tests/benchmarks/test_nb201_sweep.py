"""benchmarks/nb201_sweep.py: a tiny sweep on the shipped NAS-Bench-201 table, then its report."""

from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "nb201_sweep.py"


def _module():
    spec = importlib.util.spec_from_file_location("nb201_sweep", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sweep_records_how_it_ran_and_the_report_ranks_the_settings(tmp_path):
    sweep = _module()
    out = tmp_path / "sweep.jsonl"
    argv = ["--seeds", "2", "--seed-start", "100", "--budgets", "8", "16", "--datasets", "cifar10",
            "--settings", "random", "local:initial_samples=4", "--out", str(out)]
    assert sweep.main(argv) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["setting"] for r in records] == ["random", "local:initial_samples=4"]
    for record in records:
        assert record["seeds"] == [100, 102] and set(record["mean_regret"]) == {"cifar10@8", "cifar10@16"}
        assert all(v >= 0 for v in record["mean_regret"].values())  # regret against the table's best
        assert shlex.split(record["command"]) == ["python", "benchmarks/nb201_sweep.py", *argv]
        assert record["machine"] and record["load"]
    report = tmp_path / "sweep.md"
    assert sweep.main(["--render", str(out), "--report", str(report)]) == 0
    text = report.read_text()
    assert "## seeds 100..101, 4 in flight" in text and "`local:initial_samples=4`" in text
    assert f"`{shlex.join(['python', 'benchmarks/nb201_sweep.py', *argv])}`" in text


def test_jobs_split_the_runs_without_changing_them(tmp_path):
    import subprocess
    import sys

    base = ["--seeds", "2", "--seed-start", "100", "--budgets", "6", "12", "--datasets", "cifar10", "cifar100",
            "--settings", "random", "evolution:population_size=4"]
    records = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.jsonl"
        subprocess.run([sys.executable, str(SCRIPT), *base, "--jobs", jobs, "--out", str(out)], check=True,
                       capture_output=True)
        records[jobs] = [json.loads(line) for line in out.read_text().splitlines()]
    for one, two in zip(records["1"], records["2"], strict=True):
        assert one["setting"] == two["setting"]
        assert one["regrets"] == two["regrets"] and len(one["regrets"]["cifar100@12"]) == 2
    assert records["1"][0]["regrets"] != records["1"][1]["regrets"]  # the settings did differ


def test_jobs_below_one_is_refused(capsys):
    sweep = _module()
    import pytest

    with pytest.raises(SystemExit) as raised:
        sweep.main(["--settings", "random", "--jobs", "0"])
    assert raised.value.code == 2 and "--jobs must be at least 1, got 0" in capsys.readouterr().err


def test_a_records_note_is_rendered_once_under_its_group(tmp_path):
    sweep = _module()
    record = {"seeds": [100, 102], "concurrency": 4, "mean_regret": {"cifar10@8": 0.5}, "command": "python x",
              "date": "d", "machine": "m", "load": "0 / 0 / 0"}
    out = tmp_path / "sweep.jsonl"
    out.write_text("\n".join(json.dumps({**record, "setting": s, **extra}) for s, extra in [
        ("random", {}), ("bo:refit_every=5", {"note": "labels name the old default"}),
        ("bo:initial_samples=5,refit_every=5", {"note": "labels name the old default"})]) + "\n")
    report = tmp_path / "sweep.md"
    assert sweep.main(["--render", str(out), "--report", str(report)]) == 0
    text = report.read_text()
    assert text.count("- note: labels name the old default") == 1 and "`bo:refit_every=5`" in text


def test_the_report_names_the_render_command_as_a_shell_reruns_it(tmp_path):
    sweep = _module()
    record = {"seeds": [100, 101], "concurrency": 4, "mean_regret": {"cifar10@8": 0.5}, "setting": "random"}
    out = tmp_path / "sweep.jsonl"
    out.write_text(json.dumps(record) + "\n")
    report = tmp_path / "sweep.md"
    title = "bo's bound, on fresh seeds"
    assert sweep.main(["--render", str(out), "--title", title, "--report", str(report)]) == 0
    line = next(x for x in report.read_text().splitlines() if x.startswith("Rendered "))
    command = line.split("`")[1]
    assert shlex.split(command) == ["python", "benchmarks/nb201_sweep.py", "--render", "sweep.jsonl",
                                    "--title", title]
