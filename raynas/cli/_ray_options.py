"""CLI options for Ray-native use: loggers (``--logger``, ``--mlflow-uri``) and the job's runtime
environment (``--working-dir``, ``--runtime-env``), shared by ``search``, ``compare``, ``train`` and ``run``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from raynas.errors import ConfigError
from raynas.loggers import LOGGERS, check_loggers, default_mlflow_uri


def add_options(p: argparse.ArgumentParser, *, loggers: bool = True) -> None:
    if loggers:
        p.add_argument("--logger", action="append", default=None, metavar="NAME",
                       help=f"log every trial (and training epochs) with Ray's own logger callbacks: "
                            f"{', '.join(LOGGERS)}; repeat or comma-separate for several. tensorboard: event files "
                            "in each trial's folder of the Tune experiment (training: OUT/tensorboard); mlflow: "
                            "the raynas[mlflow] extra")
        p.add_argument("--mlflow-uri", default=None, metavar="URI",
                       help="MLflow tracking URI (implies --logger mlflow; default: sqlite:///OUT/mlflow.db, a local store)")
        p.add_argument("--mlflow-experiment", default="raynas", metavar="NAME",
                       help="MLflow experiment name (default raynas)")
    p.add_argument("--working-dir", default=None, metavar="DIR",
                   help="ship DIR to every Ray worker and run there (Ray's runtime_env working_dir), so code "
                        "imported from your own modules (an evaluator, a space) is found on a cluster")
    p.add_argument("--runtime-env", default=None, metavar="FILE",
                   help="a JSON file with Ray's runtime_env for the job (pip, env_vars, py_modules, working_dir...)")


def logger_names(args: argparse.Namespace) -> tuple[str, ...]:
    """The checked ``--logger`` names (``--mlflow-uri`` adds mlflow); fails before Ray starts."""
    names = [n for item in (getattr(args, "logger", None) or []) for n in item.split(",") if n.strip()]
    if getattr(args, "mlflow_uri", None) and "mlflow" not in names:
        names.append("mlflow")
    return check_loggers(names)


def runtime_env(args: argparse.Namespace) -> dict[str, Any] | None:
    """Ray's runtime_env from ``--runtime-env FILE`` and ``--working-dir DIR`` (``None`` without either)."""
    env: dict[str, Any] = {}
    path = getattr(args, "runtime_env", None)
    if path:
        try:
            env = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"--runtime-env {path!r}: cannot read it ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise ConfigError(f"--runtime-env {path!r} is not valid JSON: {exc}") from None
        if not isinstance(env, dict):
            raise ConfigError(f"--runtime-env {path!r} must hold a JSON object, got {type(env).__name__}")
    working_dir = getattr(args, "working_dir", None)
    if working_dir:
        if "working_dir" in env and env["working_dir"] != working_dir:
            raise ConfigError(f"--working-dir {working_dir!r} and the working_dir {env['working_dir']!r} of "
                              f"--runtime-env {path!r} differ; give one")
        env["working_dir"] = working_dir
    if not env:
        return None
    from raynas._ray import check_runtime_env

    return check_runtime_env(env)


def search_callbacks(args: argparse.Namespace, out: Path) -> list[Any]:
    """Ray Tune's logger callbacks for ``--logger`` (MLflow's store defaults to ``out/mlflow.db``)."""
    from raynas.loggers import tune_callbacks

    names = logger_names(args)
    uri = getattr(args, "mlflow_uri", None) or (default_mlflow_uri(out) if "mlflow" in names else None)
    return tune_callbacks(names, mlflow_uri=uri, mlflow_experiment=getattr(args, "mlflow_experiment", "raynas"))


def training_logger(args: argparse.Namespace, out: Path):
    """A :class:`raynas.loggers.TrainingLogger` for ``--logger`` (TensorBoard: ``out/tensorboard``;
    MLflow: ``--mlflow-uri`` or ``out/mlflow.db``); without ``--logger`` one that records nothing."""
    from raynas.loggers import TrainingLogger

    names = logger_names(args)
    uri = getattr(args, "mlflow_uri", None) or (default_mlflow_uri(out) if "mlflow" in names else None)
    params = {k: getattr(args, k) for k in ("space", "method", "dataset", "epochs", "batch_size", "lr", "workers",
                                            "seed") if hasattr(args, k)}
    return TrainingLogger(names, tensorboard_dir=out / "tensorboard", mlflow_uri=uri,
                          mlflow_experiment=getattr(args, "mlflow_experiment", "raynas"), run_name=f"train {out.name}",
                          params=params)
