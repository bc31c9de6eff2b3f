"""Running a training method as a Ray Train ``TorchTrainer`` job."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raynas._outdir import prepare_out_dir
from raynas._ray import init_ray
from raynas.train.config import TrainConfig
from raynas.train.loop import STATE_FILE, SUPERNET_FILE, train_loop_per_worker

__all__ = ["train", "TrainResult"]

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Where a finished training run put its supernet, and what it measured per epoch."""

    out_dir: Path
    checkpoint: Path  # out_dir / "supernet.pt"
    history: list[dict[str, Any]] = field(default_factory=list)
    ray_checkpoint: str | None = None

    @property
    def final_metrics(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    overwrite: bool = False,
    storage_path: str | None = None,
    address: str | None = None,
) -> TrainResult:
    """Train a supernet with ``config`` as a Ray Train job and write it to ``out_dir``.

    ``out_dir`` receives ``supernet.pt`` (the final weights; ``raynas search
    --checkpoint out_dir`` reads it), ``train_history.csv`` and ``train_config.json``.
    Ray Train's own run (checkpoints per epoch) lives under ``storage_path`` (default
    ``out_dir/ray``); ``resume=True`` continues it from its last checkpoint.
    """
    import ray.train
    from ray.train.torch import TorchTrainer

    out = prepare_out_dir(out_dir, resume=resume, overwrite=overwrite, marker="train_config.json")
    if resume:
        saved = json.loads((out / "train_config.json").read_text())
        if saved != json.loads(json.dumps(config.to_dict())):
            logger.info("resuming with the saved configuration of %s", out)
            config = TrainConfig.from_dict(saved)
    (out / "train_config.json").write_text(json.dumps(config.to_dict(), indent=2))
    storage = os.path.abspath(storage_path) if storage_path else str((out / "ray").resolve())

    init_ray(address)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=config.to_dict(),
        scaling_config=ray.train.ScalingConfig(
            num_workers=config.num_workers,
            use_gpu=config.use_gpu,
            resources_per_worker={"CPU": config.threads_per_worker, **({"GPU": 1} if config.use_gpu else {})},
        ),
        run_config=ray.train.RunConfig(
            name="train",
            storage_path=storage,
            failure_config=ray.train.FailureConfig(max_failures=config.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
        ),
    )
    logger.info("training %s with %s on %s: %d epochs, %d worker(s)", config.space, config.method,
                config.dataset, config.epochs, config.num_workers)
    result = trainer.fit()
    if result.error is not None:
        raise result.error
    if result.checkpoint is None:
        raise RuntimeError(f"training finished without a checkpoint under {storage}")
    import torch

    with result.checkpoint.as_directory() as ckpt_dir:
        shutil.copyfile(os.path.join(ckpt_dir, SUPERNET_FILE), out / SUPERNET_FILE)
        state = torch.load(os.path.join(ckpt_dir, STATE_FILE), map_location="cpu", weights_only=True)
    history = list(state["history"])
    _write_history(out / "train_history.csv", history)
    logger.info("supernet written to %s", out / SUPERNET_FILE)
    return TrainResult(out_dir=out, checkpoint=out / SUPERNET_FILE, history=history,
                       ray_checkpoint=result.checkpoint.path)


def _write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
