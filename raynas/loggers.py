"""Experiment loggers: TensorBoard and MLflow, through Ray's own logger callbacks.

A search or comparison logs every trial with Ray Tune's ``TBXLoggerCallback`` (TensorBoard
event files in each trial's folder of the Tune experiment) or
``ray.air.integrations.mlflow.MLflowLoggerCallback`` (one MLflow run per trial). Training
(a Ray Train job) logs its per-epoch metrics on the driver with :class:`TrainingLogger`,
through the same libraries (tensorboardX's ``SummaryWriter``, ``mlflow``).

Both are optional dependencies: ``tensorboardX`` comes with ``ray[tune]``; MLflow is the
``raynas[mlflow]`` extra. A logger whose library is missing is refused before Ray starts.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from raynas.errors import ConfigError

__all__ = ["LOGGERS", "check_loggers", "tune_callbacks", "TrainingLogger", "default_mlflow_uri"]

logger = logging.getLogger(__name__)

#: logger name -> (the module it needs, how to install it)
LOGGERS = {
    "tensorboard": ("tensorboardX", "pip install tensorboardX (it comes with ray[tune])"),
    "mlflow": ("mlflow", "pip install 'raynas[mlflow]' (or mlflow)"),
}


def check_loggers(names: Iterable[str] | str | None) -> tuple[str, ...]:
    """The logger names, checked: known and importable.

    Raises:
        ConfigError: an unknown name (lists the valid ones) or a missing library (says what to install).
    """
    if names is None:
        return ()
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    out: list[str] = []
    for raw in names:
        name = str(raw).strip().lower()
        if name not in LOGGERS:
            raise ConfigError(f"unknown logger {raw!r}; valid loggers: {', '.join(LOGGERS)}")
        module, install = LOGGERS[name]
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(f"logger {name!r} needs the {module} package, which is not installed: {install}") from None
        if name not in out:
            out.append(name)
    return tuple(out)


def default_mlflow_uri(out_dir: str | os.PathLike) -> str:
    """A local MLflow store beside a run's results: ``sqlite:///<out_dir>/mlflow.db`` (MLflow's own
    recommended local backend; view it with ``mlflow ui --backend-store-uri <that uri>``)."""
    return "sqlite:///" + str(Path(out_dir).expanduser().resolve() / "mlflow.db")


def tune_callbacks(names: Iterable[str] | str | None, *, mlflow_uri: str | None = None,
                   mlflow_experiment: str = "raynas") -> list[Any]:
    """Ray Tune's own logger callbacks for ``names`` (see :data:`LOGGERS`), ready for ``raynas.search(callbacks=...)``."""
    callbacks: list[Any] = []
    for name in check_loggers(names):
        if name == "tensorboard":
            from ray.tune.logger import TBXLoggerCallback

            callbacks.append(TBXLoggerCallback())
        elif name == "mlflow":
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            callbacks.append(MLflowLoggerCallback(tracking_uri=mlflow_uri, experiment_name=mlflow_experiment))
    return callbacks


class TrainingLogger:
    """Per-epoch training metrics to TensorBoard (``<tensorboard_dir>``) and/or MLflow, on the driver.

    Args:
        names: logger names (see :data:`LOGGERS`).
        tensorboard_dir: where the TensorBoard event files go.
        mlflow_uri, mlflow_experiment, run_name: the MLflow tracking URI, experiment and run.
        params: settings recorded once (MLflow params, a TensorBoard text summary).
    """

    def __init__(self, names: Sequence[str] | str | None, *, tensorboard_dir: str | os.PathLike | None = None,
                 mlflow_uri: str | None = None, mlflow_experiment: str = "raynas", run_name: str | None = None,
                 params: Mapping[str, Any] | None = None):
        self.names = check_loggers(names)
        if "tensorboard" in self.names and tensorboard_dir is None:
            raise ConfigError("the tensorboard logger needs a tensorboard_dir")
        self.tensorboard_dir = Path(tensorboard_dir) if tensorboard_dir is not None else None
        self.mlflow_uri, self.mlflow_experiment, self.run_name = mlflow_uri, mlflow_experiment, run_name
        self.params = dict(params or {})
        self._writer = None
        self._mlflow = None
        self._opened = False

    def _open(self) -> None:
        """Open the writers on the first epoch (the run's folder is prepared by then)."""
        self._opened = True
        if "tensorboard" in self.names:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(str(self.tensorboard_dir))
            if self.params:
                self._writer.add_text("settings", "\n".join(f"{k}: {v}" for k, v in self.params.items()))
            logger.info("training metrics to TensorBoard: tensorboard --logdir %s", self.tensorboard_dir)
        if "mlflow" in self.names:
            import mlflow

            if self.mlflow_uri:
                mlflow.set_tracking_uri(self.mlflow_uri)
            mlflow.set_experiment(self.mlflow_experiment)
            self._mlflow = mlflow
            mlflow.start_run(run_name=self.run_name)
            if self.params:
                mlflow.log_params({k: str(v)[:500] for k, v in self.params.items()})
            logger.info("training metrics to MLflow at %s, experiment %r", mlflow.get_tracking_uri(),
                        self.mlflow_experiment)

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record the numeric entries of ``metrics`` at ``step`` (default: ``metrics["epoch"]``)."""
        if not self.names:
            return
        if not self._opened:
            self._open()
        step = int(metrics.get("epoch", 0)) if step is None else step
        numbers = {k: float(v) for k, v in metrics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self._writer is not None:
            for key, value in numbers.items():
                self._writer.add_scalar(key, value, step)
            self._writer.flush()
        if self._mlflow is not None:
            self._mlflow.log_metrics(numbers, step=step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._mlflow is not None:
            self._mlflow.end_run()
            self._mlflow = None

    def __enter__(self) -> "TrainingLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
