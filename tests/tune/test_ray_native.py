"""Tune-native hooks of raynas.search (callbacks, scheduler, runtime_env, Tune's own restore) and
the outcomes that must never be silent (all trials failed, another budget on resume, a refused
search leaving files behind, a strategy that cannot act within its budget)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import raynas
import search_spaces
import strategies
from raynas.cli.main import main
from raynas.errors import ConfigError, InfeasibleConstraints, SearchFailed

ray_cloudpickle = pytest.importorskip("ray.cloudpickle")
# Ray workers cannot import test modules: ship this module's evaluators by value.
ray_cloudpickle.register_pickle_by_value(sys.modules[__name__])

REPO = Path(__file__).resolve().parents[2]
SPACE = search_spaces.ChoiceSpace({"a": (1, 2, 3, 4), "b": (1, 2, 3)}, name="toy")


class Product:
    def __call__(self, arch):
        return {"accuracy": float(arch["a"] * arch["b"])}


class WrongMetric:
    """Returns ``acc`` instead of ``accuracy``: every trial fails."""

    def __call__(self, arch):
        return {"acc": 1.0}


def _tune_classes():
    from ray.tune import Callback
    from ray.tune.schedulers import FIFOScheduler

    class Seen(Callback):
        def __init__(self):
            self.completed = []

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.completed.append((trial.trial_id, dict(trial.config), dict(trial.last_result)))

    class CountingFIFO(FIFOScheduler):
        """FIFO that records what Tune hands it, to show the scheduler is the one Tune ran."""

        def __init__(self):
            super().__init__()
            self.added, self.results = [], []

        def on_trial_add(self, tune_controller, trial):
            self.added.append(trial.trial_id)
            super().on_trial_add(tune_controller, trial)

        def on_trial_result(self, tune_controller, trial, result):
            self.results.append(result["accuracy"])
            return super().on_trial_result(tune_controller, trial, result)

    return Seen, CountingFIFO


# -- hooks --------------------------------------------------------------------------------------------
def test_a_user_callback_and_scheduler_see_every_trial(ray_session, tmp_path):
    Seen, CountingFIFO = _tune_classes()
    seen, scheduler = Seen(), CountingFIFO()
    result = raynas.search(SPACE, Product(), strategy="random", num_samples=6, max_concurrent=2, seed=0,
                           out_dir=tmp_path / "s", callbacks=[seen], scheduler=scheduler)
    assert len(seen.completed) == 6 == len(result.history)
    assert {t for t, _, _ in seen.completed} == {row["trial_id"] for row in result.history}
    for _, config, last in seen.completed:
        assert last["accuracy"] == config["a"] * config["b"]
    assert sorted(scheduler.added) == sorted(row["trial_id"] for row in result.history)
    assert sorted(scheduler.results) == sorted(row["accuracy"] for row in result.history)
    # raynas's own recorder still wrote the history
    assert (tmp_path / "s" / "history.csv").read_text().count("\n") == 7


def test_hooks_of_the_wrong_type_are_refused_before_ray(tmp_path):
    with pytest.raises(TypeError, match="callbacks must be a list of ray.tune.Callback"):
        raynas.search(SPACE, Product(), num_samples=2, out_dir=tmp_path / "a", callbacks=print)
    with pytest.raises(TypeError, match="scheduler must be a ray.tune.schedulers.TrialScheduler.*got int"):
        raynas.search(SPACE, Product(), num_samples=2, out_dir=tmp_path / "b", scheduler=42)
    with pytest.raises(ConfigError, match="working_dir .* is not a folder"):
        raynas.search(SPACE, Product(), num_samples=2, out_dir=tmp_path / "c",
                      runtime_env={"working_dir": str(tmp_path / "missing")})
    assert not any((tmp_path / d).exists() for d in "abc")


def test_runtime_env_with_ray_already_running_elsewhere_is_refused(ray_session, tmp_path):
    with pytest.raises(ConfigError, match="Ray is already initialised in this process"):
        raynas.search(SPACE, Product(), num_samples=2, out_dir=tmp_path / "s",
                      runtime_env={"working_dir": str(tmp_path)})
    assert not (tmp_path / "s").exists()


_USER_SCRIPT = """
import sys
import raynas, search_spaces

# The user's own module, imported in the driver from a folder that the workers' Python path does not
# hold (as on another node of a cluster, where the folder is not there at all).
sys.path.insert(0, sys.argv[4])
from user_evaluator import Score
sys.path.remove(sys.argv[4])

space = search_spaces.ChoiceSpace({"a": (1, 2, 3), "b": (1, 2)}, name="toy")
env = {"working_dir": sys.argv[3]} if sys.argv[3] != "-" else None
try:
    result = raynas.search(space, Score(), strategy="random", num_samples=4, max_concurrent=2,
                           out_dir=sys.argv[2], address=sys.argv[1], runtime_env=env, progress=False)
    print("OK", len(result.history), result.num_failed)
except raynas.SearchFailed as exc:
    print("FAILED", exc)
"""


def test_runtime_env_ships_the_users_evaluator_module_to_the_workers(ray_session, tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "user_evaluator.py").write_text(textwrap.dedent("""
        class Score:
            def __call__(self, arch):
                return {"accuracy": float(arch["a"] + arch["b"])}
    """))
    (tmp_path / "run.py").write_text(_USER_SCRIPT)
    address = ray_session.get_runtime_context().gcs_address
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)

    def run(out: str, working_dir: str) -> str:
        proc = subprocess.run([sys.executable, str(tmp_path / "run.py"), address, str(tmp_path / out), working_dir,
                               str(code)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout.strip().splitlines()[-1]

    # Without it the workers cannot import the user's module: every trial fails, and the search says so.
    without = run("without", "-")
    assert without.startswith("FAILED") and "ModuleNotFoundError" in without and "user_evaluator" in without
    assert run("with", str(code)) == "OK 4 0"


def test_tuner_restore_through_the_public_trainable(ray_session, tmp_path):
    from ray import tune

    result = raynas.search(SPACE, Product(), strategy="random", num_samples=4, max_concurrent=2, seed=0,
                           out_dir=tmp_path / "s")
    experiment = tmp_path / "s" / "tune" / "search"
    assert tune.Tuner.can_restore(str(experiment))
    tuner = tune.Tuner.restore(str(experiment), trainable=raynas.tune.trainable(Product()))
    grid = tuner.get_results()
    assert len(grid) == 4 and not grid.errors
    assert sorted(r.metrics["accuracy"] for r in grid) == sorted(row["accuracy"] for row in result.history)
    assert raynas.tune.trainable.__module__ == "raynas.tune.search"


# -- nothing silent ----------------------------------------------------------------------------------
def test_a_search_whose_every_trial_failed_raises_with_its_history(ray_session, tmp_path):
    with pytest.raises(SearchFailed, match=r"no trial .* succeeded: 3 trial\(s\), most common reason \(3 of 3\): "
                                           r".*no 'accuracy' metric") as info:
        raynas.search(SPACE, WrongMetric(), strategy="random", num_samples=3, max_concurrent=2,
                      out_dir=tmp_path / "s")
    assert len(info.value.history) == 3 and all(row["status"] == "failed" for row in info.value.history)
    assert info.value.result.path == tmp_path / "s"
    assert isinstance(info.value, raynas.RaynasError)


def test_cli_exits_1_with_one_line_when_every_trial_failed(ray_session, tmp_path, capsys, monkeypatch):
    import raynas.evaluate.supernet as supernet_module

    net = search_spaces.get("tiny", resolutions=[6, 8]).build_supernet(num_classes=10)
    net.save(tmp_path / "sn.pt", train_config={"dataset": "synthetic"})

    class Broken(supernet_module.SupernetEvaluator):
        def __call__(self, arch):
            return {"acc": 1.0}

    monkeypatch.setattr(supernet_module, "SupernetEvaluator", Broken)
    code = main(["search", "--checkpoint", str(tmp_path / "sn.pt"), "--strategy", "random", "--budget", "2",
                 "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("raynas: error: no trial of the search") and "(2 of 2)" in err[-1]


def test_resume_with_another_budget_is_refused_and_changes_nothing(ray_session, tmp_path):
    raynas.search(SPACE, Product(), strategy="random", num_samples=3, max_concurrent=2, out_dir=tmp_path / "s")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "s").rglob("*")}
    with pytest.raises(ConfigError, match="cannot resume .* with a budget of 6 trials: it was started with 3"):
        raynas.search(SPACE, Product(), strategy="random", num_samples=6, out_dir=tmp_path / "s", resume=True)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "s").rglob("*")} == before


def test_cli_resume_without_budget_uses_the_saved_one_and_says_nothing_was_left(ray_session, tmp_path, caplog,
                                                                                  capsys):
    net = search_spaces.get("tiny", resolutions=[6, 8]).build_supernet(num_classes=10)
    net.save(tmp_path / "sn.pt", train_config={"dataset": "synthetic"})
    args = ["search", "--checkpoint", str(tmp_path / "sn.pt"), "--strategy", "random", "--out", str(tmp_path / "o"),
            "--quiet"]
    assert main(args + ["--budget", "2"]) == 0
    assert main(args + ["--resume", "--budget", "4"]) == 2
    assert "it was started with 2" in capsys.readouterr().err
    with caplog.at_level(logging.WARNING, logger="raynas.tune.search"):
        assert main(args + ["--resume"]) == 0
    assert "already ran all 2 trials" in caplog.text


def test_a_search_refused_from_inside_the_run_leaves_nothing_behind(ray_session, tmp_path):
    from ray.tune.search import Searcher

    class Refuses(Searcher):
        def suggest(self, trial_id):
            raise InfeasibleConstraints("no architecture left under the budget")

        def on_trial_complete(self, trial_id, result=None, error=False):
            pass

    with pytest.raises(InfeasibleConstraints, match="no architecture left"):
        raynas.search(SPACE, Product(), strategy=Refuses(metric="accuracy", mode="max"), num_samples=3,
                      out_dir=tmp_path / "s")
    assert not (tmp_path / "s").exists()
    with pytest.raises(ConfigError, match="unknown option"):  # refused while the strategy is built
        raynas.search(SPACE, Product(), strategy="evolution", num_samples=3, out_dir=tmp_path / "t",
                      strategy_options={"populaton_size": 4})
    assert not (tmp_path / "t").exists()
    # the corrected command then runs in the same folder, no --overwrite needed
    assert len(raynas.search(SPACE, Product(), strategy="random", num_samples=2, out_dir=tmp_path / "s").history) == 2


def test_evolution_adapts_a_default_population_to_a_small_budget_and_says_so(ray_session, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="raynas.tune.search"):
        result = raynas.search(SPACE, Product(), strategy="evolution", num_samples=8, max_concurrent=1, seed=0,
                               out_dir=tmp_path / "s")
    assert "default population_size=20 is not below the budget of 8" in caplog.text
    assert "using population_size=2" in caplog.text
    assert len(result.history) == 8


def test_fit_budget_adapts_defaults_and_warns_about_given_values():
    options, note = strategies.fit_budget("evolution", 20)
    assert options == {"population_size": 5} and "using population_size=5" in note
    options, note = strategies.fit_budget("evolution", 20, {"population_size": 25})
    assert options == {"population_size": 25} and "acts as random search" in note
    assert strategies.fit_budget("evolution", 100) == ({}, None)
    assert strategies.fit_budget("tpe", 8)[0] == {"n_startup_trials": 2}
    assert strategies.fit_budget("random", 2) == ({}, None)


# -- loggers -----------------------------------------------------------------------------------------
def test_cli_tensorboard_logger_writes_event_files_for_every_trial(ray_session, tmp_path):
    net = search_spaces.get("tiny", resolutions=[6, 8]).build_supernet(num_classes=10)
    net.save(tmp_path / "sn.pt", train_config={"dataset": "synthetic"})
    out = tmp_path / "o"
    assert main(["search", "--checkpoint", str(tmp_path / "sn.pt"), "--strategy", "random", "--budget", "3",
                 "--out", str(out), "--logger", "tensorboard", "--quiet"]) == 0
    trial_dirs = {p.parent for p in (out / "tune" / "search").rglob("events.out.tfevents.*")}
    assert len(trial_dirs) == 3
    from tensorboardX.proto import event_pb2  # read one back: the trial's accuracy is in it

    import struct

    data = next(iter(trial_dirs)).glob("events.out.tfevents.*").__next__().read_bytes()
    tags = set()
    while data:
        (length,) = struct.unpack("<Q", data[:8])
        event = event_pb2.Event.FromString(data[12:12 + length])
        tags |= {v.tag for v in event.summary.value}
        data = data[12 + length + 4:]
    assert any(tag.endswith("accuracy") for tag in tags), tags


def test_unknown_or_missing_logger_is_one_line_before_ray(tmp_path, capsys, monkeypatch):
    args = ["search", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "o")]
    assert main(args + ["--logger", "wandb"]) == 2
    assert "unknown logger 'wandb'; valid loggers: tensorboard, mlflow" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    assert main(args + ["--mlflow-uri", "file:///tmp/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "logger 'mlflow' needs the mlflow package" in err and "raynas[mlflow]" in err
    assert not (tmp_path / "o").exists()


def test_mlflow_logger_records_every_trial(ray_session, tmp_path):
    mlflow = pytest.importorskip("mlflow", reason="the optional mlflow extra is not installed")
    from raynas.loggers import default_mlflow_uri, tune_callbacks

    uri = default_mlflow_uri(tmp_path / "o")
    result = raynas.search(SPACE, Product(), strategy="random", num_samples=3, max_concurrent=1,
                           out_dir=tmp_path / "o", callbacks=tune_callbacks(["mlflow"], mlflow_uri=uri,
                                                                             mlflow_experiment="t"))
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("t").experiment_id])
    assert len(runs) == 3
    assert sorted(r.data.metrics["accuracy"] for r in runs) == sorted(row["accuracy"] for row in result.history)


def test_runtime_env_file_and_working_dir_flags(tmp_path):
    from raynas.cli import _ray_options
    from raynas.cli.main import build_parser

    (tmp_path / "env.json").write_text(json.dumps({"env_vars": {"X": "1"}}))
    args = build_parser().parse_args(["search", "--out", "o", "--runtime-env", str(tmp_path / "env.json"),
                                      "--working-dir", str(tmp_path)])
    assert _ray_options.runtime_env(args) == {"env_vars": {"X": "1"}, "working_dir": str(tmp_path.resolve())}
    (tmp_path / "bad.json").write_text("[1]")
    args = build_parser().parse_args(["search", "--out", "o", "--runtime-env", str(tmp_path / "bad.json")])
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        _ray_options.runtime_env(args)
