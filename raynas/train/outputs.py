"""What every training method leaves in its output folder, written in one place.

``train_config.json`` (the run's configuration; a resumed run reads it back),
``train_history.csv`` (one row per epoch, or per block and epoch) and the
:class:`TrainResult` a run returns. Used by the Ray Train job and by DNA alike.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raynas._outdir import prepare_out_dir
from raynas.train.config import TrainConfig

__all__ = ["CONFIG_FILE", "HISTORY_FILE", "SUPERNET_FILE", "TrainResult", "prepare_run", "write_history",
           "log_stopped"]

CONFIG_FILE = "train_config.json"
HISTORY_FILE = "train_history.csv"
SUPERNET_FILE = "supernet.pt"

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Where a finished training run put its supernet, and what it measured per epoch."""

    out_dir: Path
    checkpoint: Path  # out_dir / "supernet.pt"
    history: list[dict[str, Any]] = field(default_factory=list)
    ray_checkpoint: str | None = None
    epochs_done: int = 0  # less than config.epochs after stop_after_epoch

    @property
    def final_metrics(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


def prepare_run(config: TrainConfig, out_dir: str | os.PathLike, *, resume: bool,
                overwrite: bool) -> tuple[Path, TrainConfig]:
    """Prepare ``out_dir`` and return it with the configuration the run uses.

    A fresh run writes ``config``. A resumed run uses its saved configuration, except
    ``stop_after_epoch``, which comes from ``config``; differing requests are logged.
    """
    out = prepare_out_dir(out_dir, resume=resume, overwrite=overwrite, marker=CONFIG_FILE)
    if resume:
        saved = TrainConfig.from_dict({**json.loads((out / CONFIG_FILE).read_text()),
                                       "stop_after_epoch": config.stop_after_epoch})
        if saved != config:
            differing = sorted(k for k, v in config.to_dict().items() if saved.to_dict()[k] != v)
            logger.info("resuming %s with its saved configuration (ignoring requested %s)", out, differing)
        config = saved
    (out / CONFIG_FILE).write_text(json.dumps({**config.to_dict(), "stop_after_epoch": None}, indent=2))
    return out, config


def write_history(out: Path, rows: list[dict[str, Any]]) -> None:
    """``out/train_history.csv``: one row per dict, the columns in order of first appearance."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with open(out / HISTORY_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def log_stopped(out: Path, done: int, epochs: int) -> None:
    """Say that a run stopped early (``stop_after_epoch``) and how to continue it."""
    if done < epochs:
        logger.info("stopped after epoch %d of %d; `raynas train --resume %s` continues", done, epochs, out)
