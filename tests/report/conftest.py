"""Synthetic comparison and search folders, as ``raynas compare`` / ``raynas search`` leave them."""

from __future__ import annotations

import csv
import json
import random

import pytest

from raynas.report.results import write_results

OPS = ("none", "skip", "conv1x1", "conv3x3", "pool")
OPTIMUM = 95.0


def _trial(rng: random.Random, wall: float) -> dict:
    arch = {f"edge{i}": rng.choice(OPS) for i in range(4)}
    convs = sum(op.startswith("conv") for op in arch.values())
    accuracy = 60 + 7 * convs + rng.uniform(-4, 4)
    return {"arch": arch, "accuracy": round(accuracy, 3), "test_accuracy": round(min(accuracy + 3, OPTIMUM), 3),
            "flops": float(1e6 * (5 + 20 * convs + rng.randint(0, 9))), "params": float(1e4 * (1 + convs)),
            "eval_time_s": 0.05 + rng.random() * 0.05, "wall_time_s": wall}


def compare_rows(strategies=("random", "copy", "evolution"), seeds=(0, 1), trials=25) -> list[dict]:
    """Rows of a results.csv; "copy" proposes exactly what "random" does (same fronts and curves)."""
    rows = []
    for name in strategies:
        for seed in seeds:
            rng = random.Random(f"{'random' if name == 'copy' else name}-{seed}")
            wall = 2.0  # Tune start-up before the first evaluation
            for trial in range(1, trials + 1):
                wall += 0.2
                row = {"strategy": name, "seed": seed, "trial": trial, "trial_id": f"{name}{seed}_{trial}",
                       "status": "ok", **_trial(rng, wall), "error": ""}
                if name == "evolution" and trial > 10:  # evolution improves on what it found
                    row["accuracy"] = round(row["accuracy"] + 3, 3)
                    row["test_accuracy"] = round(min(row["test_accuracy"] + 3, OPTIMUM), 3)
                if name == "evolution" and seed == 1 and trial == 5:
                    row.update(status="failed", accuracy=None, test_accuracy=None, eval_time_s=None,
                               error="ValueError: evaluator returned non-finite accuracy=nan")
                rows.append(row)
    return rows


@pytest.fixture
def compare_dir(tmp_path):
    folder = tmp_path / "cmp"
    folder.mkdir()
    rows = compare_rows()
    write_results(folder / "results.csv", rows)
    (folder / "compare.json").write_text(json.dumps({
        "space": "toy", "evaluator": "synthetic table", "strategies": ["random", "copy", "evolution"],
        "seeds": [0, 1], "num_samples": 25, "max_concurrent": 2, "objectives": ["accuracy:max"],
        "multi_objective": False, "score": "test_accuracy", "optimum": OPTIMUM}))
    return folder


@pytest.fixture
def search_dir(tmp_path):
    """A search folder: history.csv (no strategy/seed/trial columns), search.json, best.json."""
    folder = tmp_path / "search"
    folder.mkdir()
    rows = [{k: v for k, v in r.items() if k not in ("strategy", "seed", "trial")}
            for r in compare_rows(strategies=("evolution",), seeds=(1,), trials=30)]
    header = ["trial_id", "status", "arch", "wall_time_s", "accuracy", "test_accuracy", "flops", "params",
              "eval_time_s", "node_id", "error"]
    with open(folder / "history.csv", "w", newline="") as f:  # the layout raynas.search writes
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({**{k: "" if v is None else v for k, v in row.items()},
                             "arch": json.dumps(row["arch"], sort_keys=True), "node_id": "fecdd8fbb0dc"})
    (folder / "search.json").write_text(json.dumps({"space": "toy", "strategy": "evolution", "num_samples": 30,
                                                    "max_concurrent": 2, "seed": 1, "metric": "accuracy",
                                                    "mode": "max"}))
    ok = [r for r in rows if r["status"] == "ok"]
    best = max(ok, key=lambda r: r["accuracy"])
    (folder / "best.json").write_text(json.dumps({"arch": best["arch"], "metrics": {"accuracy": best["accuracy"]},
                                                  "metric": "accuracy", "mode": "max"}))
    return folder


def _chromium_module():
    """tests/report/chromium.py, loaded by path (the tests folder is not a package)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("raynas_test_chromium", Path(__file__).with_name("chromium.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a test module; skipped, saying how to install, when absent."""
    chromium = _chromium_module()
    if chromium.chromium_path() is None:
        pytest.skip(chromium.INSTALL_HINT)
    try:
        import websocket  # noqa: F401
    except ImportError:
        pytest.skip("the DevTools client needs websocket-client: pip install -e '.[test]'")
    with chromium.Browser(width=1400, height=1000) as running:
        yield running
