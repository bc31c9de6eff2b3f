"""Running a training method as a Ray Train ``TorchTrainer`` job."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from typing import Any, Callable

from raynas._outdir import storage_location
from raynas._ray import init_ray
from raynas.errors import ConfigError
from raynas.train.config import TrainConfig
from raynas.train.inputs import check_training_input
from raynas.train.loop import STATE_FILE, train_loop_per_worker
from raynas.train.outputs import SUPERNET_FILE, TrainResult, log_stopped, prepare_run, write_history

__all__ = ["train", "TrainResult", "RUN_FILE", "worker_error"]

RUN_FILE = "train_run.json"

logger = logging.getLogger(__name__)


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    overwrite: bool = False,
    storage_path: str | None = None,
    address: str | None = None,
    data: Any = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train a supernet with ``config`` as a Ray Train job and write it to ``out_dir``.

    ``out_dir`` receives ``supernet.pt`` (the final weights; ``raynas search
    --checkpoint out_dir`` reads it), ``train_history.csv``, ``train_config.json`` and
    ``train_run.json`` (where Ray Train keeps the run). Ray Train's own run (a checkpoint
    per ``checkpoint_every`` epochs) lives under ``storage_path`` (default ``out_dir/ray``).

    ``resume=True`` continues the run in ``out_dir`` from its last checkpoint with
    everything restored (weights, optimizer, LR schedule, the method's state such as the
    progressive phase and teacher, epoch and history; every epoch re-seeds its random
    state). The run's saved configuration is used, except ``stop_after_epoch``, which comes
    from ``config``; a different ``num_workers`` or data split would change the result,
    so the saved values win and a differing request is logged.

    While the job runs, the driver logs one line per epoch (epoch, loss, the largest and
    smallest children's validation accuracy, elapsed and remaining time; logger
    ``raynas.train.progress``) and calls ``on_epoch(metrics)`` with each epoch's metrics (rank 0's,
    as ``train_history.csv`` records them), e.g. :meth:`raynas.loggers.TrainingLogger.log`.

    ``method="dna"`` runs :func:`raynas.train.dna.train_dna` instead (one Ray task per block;
    ``on_epoch`` is not called there).

    ``data``: Dataset objects (:func:`raynas.data.from_datasets`) for ``config.dataset ==
    "custom"``; they travel to every worker with the job. Everything that can be checked
    without training is checked before ``out_dir`` is touched and before Ray starts: the
    configuration, the data set (an image folder's layout and every image's header), and
    that the images have the channels the space takes.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}")
    if config.method == "dna" and data is not None:
        check_training_input(config, data)  # raises: dna takes named in-memory data only
    if config.method == "dna":  # block-wise: one Ray task per block, not a TorchTrainer job
        if storage_path is not None:
            raise ConfigError(f"storage_path applies to the Ray Train methods, not 'dna' (its block checkpoints live "
                              f"in out_dir/blocks), got {storage_path!r}")
        from raynas.train.dna import train_dna

        return train_dna(config, out_dir, resume=resume, overwrite=overwrite, address=address)
    if not resume:
        check_training_input(config, data)
    import ray.train
    from ray.train.torch import TorchTrainer

    out, config = prepare_run(config, out_dir, resume=resume, overwrite=overwrite)
    if resume:
        run = json.loads((out / RUN_FILE).read_text()) if (out / RUN_FILE).exists() else {}
        name = run.get("name", "train")
        storage = storage_location(storage_path) if storage_path else run.get("storage_path", str((out / "ray").resolve()))
    elif storage_path is None:  # out_dir/ray/train, fresh: prepare_out_dir emptied out_dir
        name, storage = "train", str((out / "ray").resolve())
    else:
        # A shared storage: a unique name, as Ray Train silently resumes a run whose name it finds there.
        name = f"train-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        storage = storage_location(storage_path)
    (out / RUN_FILE).write_text(json.dumps({"name": name, "storage_path": storage}, indent=2))

    init_ray(address)
    from raynas.train.progress import EpochProgress

    progress = EpochProgress(config.epochs, on_epoch=on_epoch)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"config": config.to_dict(), "data": data},
        scaling_config=ray.train.ScalingConfig(
            num_workers=config.num_workers,
            use_gpu=config.use_gpu,
            resources_per_worker={"CPU": config.threads_per_worker, **({"GPU": 1} if config.use_gpu else {})},
        ),
        run_config=ray.train.RunConfig(
            name=name,
            storage_path=storage,
            failure_config=ray.train.FailureConfig(max_failures=config.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            callbacks=[progress.relay],
        ),
    )
    logger.info("%s %s with %s on %s: %d epochs, %d worker(s)", "resuming" if resume else "training", config.space,
                config.method, config.dataset, config.epochs, config.num_workers)
    with progress:
        result = trainer.fit()
    if result.error is not None:
        cause = worker_error(result.error)
        if cause is not None:  # a bad setting or a diverged run: the worker's own error, not Ray's wrapper
            raise cause from result.error
        raise result.error
    if result.checkpoint is None:
        raise RuntimeError(f"training finished without a checkpoint under {storage}")
    import torch

    with result.checkpoint.as_directory() as ckpt_dir:
        shutil.copyfile(os.path.join(ckpt_dir, SUPERNET_FILE), out / SUPERNET_FILE)
        state = torch.load(os.path.join(ckpt_dir, STATE_FILE), map_location="cpu", weights_only=True)
    history = list(state["history"])
    write_history(out, history)
    done = int(state["epoch"])
    log_stopped(out, done, config.epochs)
    logger.info("supernet written to %s", out / SUPERNET_FILE)
    return TrainResult(out_dir=out, checkpoint=out / SUPERNET_FILE, history=history,
                       ray_checkpoint=result.checkpoint.path, epochs_done=done)


def worker_error(error: BaseException) -> BaseException | None:
    """The first worker's raynas error (bad input) or ``FloatingPointError`` (too many non-finite
    steps) inside a Ray Train failure, or None."""
    from raynas.errors import RaynasError

    failures = getattr(error, "worker_failures", None) or {}
    for rank in sorted(failures):
        for candidate in (failures[rank], getattr(failures[rank], "cause", None)):
            if isinstance(candidate, (RaynasError, FloatingPointError)):
                return candidate
    return None
