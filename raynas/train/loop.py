"""The per-worker training loop: Ray Train runs it on every worker; tests may run it in-process.

One function, :func:`run_training`, reads top to bottom: build the supernet and the
method, restore the last checkpoint if there is one, then per epoch: seed, let the method
enter the epoch, train (non-finite steps skipped and counted), evaluate the smallest and
largest subnet on rank 0, checkpoint. A *session* supplies rank, device, checkpoints and
reporting: :class:`RaySession` inside Ray Train, :class:`LocalSession` in this process.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.distributed as dist

from raynas.errors import ConfigError
from raynas.train._base import NonFiniteLoss, Precision, lr_multiplier, sgd, untracked_bn_statistics
from raynas.train.config import TrainConfig
from raynas.train.inputs import check_channels, load_data, loader_resolutions, loader_workers
from raynas.train.methods import get_method
from raynas.train.outputs import SUPERNET_FILE

__all__ = ["train_loop_per_worker", "run_training", "train_in_process", "RaySession", "LocalSession",
           "lr_multiplier", "SUPERNET_FILE", "STATE_FILE"]

logger = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"


# -- sessions ----------------------------------------------------------------------------------
class RaySession:
    """Rank, device, checkpoints and reports of a Ray Train worker."""

    def __init__(self) -> None:
        import ray.train

        context = ray.train.get_context()
        self.rank, self.world_size = context.get_world_rank(), context.get_world_size()
        self.local_rank = context.get_local_rank()

    def device(self, config: TrainConfig) -> torch.device:
        if not config.use_gpu:
            return torch.device("cpu")
        import ray.train.torch

        device = ray.train.torch.get_device()  # Ray Train sets up NCCL when use_gpu
        torch.cuda.set_device(device)
        return device

    @contextlib.contextmanager
    def checkpoint(self) -> Iterator[str | None]:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            yield None
            return
        with checkpoint.as_directory() as directory:
            yield directory

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        import ray.train

        checkpoint = None if checkpoint_dir is None else ray.train.Checkpoint.from_directory(checkpoint_dir)
        ray.train.report(metrics, checkpoint=checkpoint)


class LocalSession:
    """One worker in this process; checkpoints go to ``directory/checkpoint_<epoch>``.

    With ``resume=True`` training continues from the newest checkpoint in ``directory``.
    ``reports`` collects every reported metrics dict.
    """

    rank, world_size, local_rank = 0, 1, 0

    def __init__(self, directory: str | os.PathLike, *, resume: bool = False):
        self.directory = Path(directory)
        self.resume = resume
        self.reports: list[dict[str, Any]] = []

    def device(self, config: TrainConfig) -> torch.device:
        if config.use_gpu:
            if not torch.cuda.is_available():
                raise ConfigError("TrainConfig.use_gpu=True but torch sees no CUDA device")
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def latest(self) -> Path | None:
        found = sorted(self.directory.glob("checkpoint_*")) if self.directory.exists() else []
        return found[-1] if found else None

    @contextlib.contextmanager
    def checkpoint(self) -> Iterator[str | None]:
        latest = self.latest() if self.resume else None
        if self.resume and latest is None:
            raise ConfigError(f"cannot resume: no checkpoint_* folder in {str(self.directory)!r}")
        yield None if latest is None else str(latest)

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None) -> None:
        self.reports.append(dict(metrics))
        if checkpoint_dir is not None:
            target = self.directory / f"checkpoint_{int(metrics['epoch']):06d}"
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(checkpoint_dir, target)


# -- gradients ---------------------------------------------------------------------------------
def _all_reduce_gradients(params: list[torch.nn.Parameter], world_size: int, ok: bool) -> bool:
    """Average gradients over workers in one flat all-reduce; return whether every worker's loss was finite.

    A parameter that no worker used keeps ``grad=None`` (so the step leaves it alone); one
    that some worker used gets the average with zeros from the others.
    """
    device = params[0].device
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flags = torch.tensor([1.0 if ok else 0.0] + [0.0 if p.grad is None else 1.0 for p in params],
                         device=device, dtype=grads[0].dtype)
    flat = torch.cat([flags] + [g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    all_ok = bool(flat[0].item() == world_size)
    used = (flat[1 : 1 + len(params)] > 0).tolist()
    offset = 1 + len(params)
    for p, g, is_used in zip(params, grads, used):
        n = p.numel()
        p.grad = (flat[offset : offset + n].view_as(p) / world_size).clone(memory_format=torch.preserve_format) \
            if is_used else None
        offset += n
    return all_ok


def _finite_gradients(params: list[torch.nn.Parameter]) -> bool:
    grads = [p.grad for p in params if p.grad is not None]
    return not grads or bool(torch.stack([torch.isfinite(g).all() for g in grads]).all().item())


# -- the loop ----------------------------------------------------------------------------------
@dataclass
class _Worker:
    """Everything one worker trains with, built by :func:`_build`."""

    cfg: TrainConfig
    rank: int
    world_size: int
    device: torch.device
    memory_format: torch.memory_format
    net: Any
    method: Any
    precision: Precision
    params: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    data: Any
    loader: Any  # raynas.data.StreamingLoader
    evaluation: Any  # raynas.data.EvalData on rank 0, else None
    nonfinite_in_a_row: int = 0


def run_training(cfg: TrainConfig, session: Any, data: Any = None) -> list[dict[str, Any]]:
    """Train as one worker of ``session``; return the history of per-epoch metrics.

    ``data``: a :class:`raynas.data.Data` (``cfg.dataset == "custom"``); None loads ``cfg.dataset``.
    """
    w = _build(cfg, session, data)
    start_epoch, history = _restore(w, session)
    stop = min(cfg.epochs if cfg.stop_after_epoch is None else cfg.stop_after_epoch, cfg.epochs)
    for epoch in range(start_epoch, stop):
        metrics = _train_epoch(w, epoch)
        if w.rank == 0:
            metrics.update(_validate(w))
            logger.info("epoch %d/%d %s", epoch + 1, cfg.epochs, " ".join(
                f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v)))
        history.append(metrics)
        save = (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == stop
        _report(w, session, metrics, history, save=save)
    if cfg.stop_after_epoch is not None and cfg.stop_after_epoch < cfg.epochs and w.rank == 0:
        logger.info("stopped after epoch %d of %d (stop_after_epoch); resume to continue", stop, cfg.epochs)
    return history


def _build(cfg: TrainConfig, session: Any, data: Any = None) -> _Worker:
    """The data, the supernet, the method, the optimizer and the schedule of one worker."""
    import search_spaces
    from raynas.data import EvalData, StreamingLoader

    rank, world_size = session.rank, session.world_size
    torch.set_num_threads(cfg.threads_per_worker)
    device = session.device(cfg)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    space = search_spaces.get(cfg.space, **cfg.space_kwargs)
    if data is None:
        # With --download, the first worker of each node fetches the set while the others wait.
        downloader = cfg.download and session.local_rank == 0
        if cfg.download and world_size > 1 and not downloader:
            dist.barrier()
        data = load_data(cfg, download=downloader)
        if cfg.download and world_size > 1 and downloader:
            dist.barrier()
    check_channels(space, data)
    torch.manual_seed(cfg.seed)  # identical initial weights on every worker
    net = space.build_supernet(num_classes=data.num_classes)
    precision = Precision.for_config(cfg, device)
    method = get_method(cfg, net.space, precision)
    method.setup(net)
    net.to(device=device, memory_format=memory_format)
    optimizer = sgd(cfg, net.named_parameters())
    workers = loader_workers(cfg, data)
    loader = StreamingLoader(data.train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed, rank=rank,
                             world_size=world_size, workers=workers,
                             drop_last=len(data.train) // world_size > cfg.batch_size, pin_memory=device.type == "cuda",
                             resolutions=loader_resolutions(net.space, data, method.per_batch_resolution))
    steps_per_epoch = len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: method.lr_multiplier(step, steps_per_epoch))
    evaluation = None
    if rank == 0:
        evaluation = EvalData(data, calib_images=cfg.calib_images, calibration_batches=4, batch_size=cfg.batch_size,
                              val_images=cfg.val_images, seed=cfg.seed, workers=workers)
    return _Worker(cfg=cfg, rank=rank, world_size=world_size, device=device, memory_format=memory_format, net=net,
                   method=method, precision=precision, params=[p for p in net.parameters() if p.requires_grad],
                   optimizer=optimizer, scheduler=scheduler, data=data, loader=loader, evaluation=evaluation)


def _restore(w: _Worker, session: Any) -> tuple[int, list[dict[str, Any]]]:
    """Continue from the session's checkpoint if it has one; return (first epoch, history so far)."""
    start_epoch, history = 0, []
    with session.checkpoint() as checkpoint_dir:
        if checkpoint_dir is not None:
            load = lambda name: torch.load(os.path.join(checkpoint_dir, name), map_location=w.device,  # noqa: E731
                                           weights_only=True)
            w.net.load_state_dict(load(SUPERNET_FILE)["state_dict"])
            state = load(STATE_FILE)
            w.optimizer.load_state_dict(state["optimizer"])
            w.scheduler.load_state_dict(state["scheduler"])
            w.method.load_state_dict(state["method"], w.net)
            if w.precision.scaler is not None and state.get("scaler"):
                w.precision.scaler.load_state_dict(state["scaler"])
            start_epoch, history = int(state["epoch"]), list(state["history"])
            w.nonfinite_in_a_row = int(state.get("nonfinite_in_a_row", 0))
            if w.rank == 0:
                logger.info("resumed from the checkpoint of epoch %d", start_epoch)
    if start_epoch == 0 and w.world_size > 1:
        for tensor in list(w.net.parameters()) + list(w.net.buffers()):
            dist.broadcast(tensor.data, src=0)
    return start_epoch, history


def _train_epoch(w: _Worker, epoch: int) -> dict[str, Any]:
    """One pass over this worker's share of the training set; the epoch's mean losses and counts."""
    started = time.perf_counter()
    if w.method.on_epoch_start(epoch, w.net):
        w.optimizer.state.clear()
    # Per-epoch seeds (after the method's own set-up) make a resumed run repeat the uninterrupted one.
    torch.manual_seed(w.cfg.seed * 100_003 + epoch * 1_009 + w.rank)
    rng = random.Random(f"{w.cfg.seed}/{epoch}/{w.rank}")
    w.loader.set_epoch(epoch)
    waited, unreadable = w.loader.wait_s, w.loader.skipped
    w.net.train()
    sums: dict[str, float] = {}
    steps, skipped = 0, 0
    with untracked_bn_statistics(w.net):
        for index, (x, y) in enumerate(w.loader):
            x = x.to(w.device, non_blocking=True).contiguous(memory_format=w.memory_format)
            w.method.batch_resolution = int(x.shape[-1]) if w.data.resizes else None
            losses = _train_step(w, x, y.to(w.device, non_blocking=True), rng, epoch, index)
            if losses is None:
                skipped += 1
                continue
            steps += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
    metrics: dict[str, Any] = {k: v / max(steps, 1) for k, v in sums.items()}
    elapsed = time.perf_counter() - started
    waited = w.loader.wait_s - waited
    metrics.update(epoch=epoch + 1, lr=w.scheduler.get_last_lr()[0], skipped_steps=skipped, epoch_time_s=elapsed,
                   data_wait_s=waited, data_wait_share=waited / max(elapsed, 1e-9), **w.method.epoch_info())
    if w.data.resizes:
        metrics["skipped_images"] = w.loader.skipped - unreadable
    return metrics


def _train_step(w: _Worker, x: torch.Tensor, y: torch.Tensor, rng: random.Random, epoch: int,
                index: int) -> dict[str, float] | None:
    """The method's step, gradients averaged over workers, one optimizer step; None when skipped.

    A step with a non-finite loss or gradient on any worker changes no weight, momentum or
    BN statistic; more than ``max_nonfinite_steps`` of them in a row raise ``FloatingPointError``.
    """
    w.optimizer.zero_grad(set_to_none=True)
    w.method.step_archs = []
    reason = None
    try:
        losses = w.method.step(w.net, x, y, rng)
    except NonFiniteLoss as exc:
        losses, reason = {}, str(exc)
    ok = reason is None
    if w.world_size > 1:
        ok = _all_reduce_gradients(w.params, w.world_size, ok)
        reason = reason or (None if ok else "a non-finite loss on another worker")
    scaler = w.precision.scaler
    unscaled = ok and scaler is not None
    if unscaled:
        scaler.unscale_(w.optimizer)
    if ok and not _finite_gradients(w.params):
        ok, reason = False, "non-finite gradients"
    if not ok:
        if unscaled:
            scaler.update()  # float16: lower the loss scale
        w.optimizer.zero_grad(set_to_none=True)
        w.nonfinite_in_a_row += 1
        if w.nonfinite_in_a_row > w.cfg.max_nonfinite_steps:
            raise FloatingPointError(
                f"{w.nonfinite_in_a_row} non-finite steps in a row (max_nonfinite_steps={w.cfg.max_nonfinite_steps}) "
                f"at epoch {epoch + 1}, step {index + 1} of {len(w.loader)}: {reason}; subnets of this step: "
                f"{w.method.step_archs}"
            )
        logger.warning("epoch %d step %d skipped: %s", epoch + 1, index + 1, reason)
        with warnings.catch_warnings():  # the schedule counts skipped steps too, on purpose
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            w.scheduler.step()
        return None
    w.nonfinite_in_a_row = 0
    if scaler is not None:
        scaler.step(w.optimizer)
        scaler.update()
    else:
        w.optimizer.step()
    w.scheduler.step()
    return losses


def _validate(w: _Worker) -> dict[str, float]:
    """Validation accuracy and loss of the smallest and the largest subnet (BN re-calibrated)."""
    from raynas.evaluate.supernet import evaluate_subnet

    metrics = {}
    # The largest last, so the saved BN statistics are the largest subnet's.
    for label, arch in (("smallest", w.net.space.smallest()), ("largest", w.net.space.largest())):
        resolution = int(w.net.space.input_shape(arch)[-1])  # image folders: images prepared at it
        result = evaluate_subnet(w.net, arch, calibration=w.evaluation.calibration(resolution),
                                 val_loader=w.evaluation.validation(resolution), device=w.device)
        metrics[f"val_accuracy_{label}"] = result["accuracy"]
        metrics[f"val_loss_{label}"] = result["loss"]
    return metrics


def _report(w: _Worker, session: Any, metrics: dict[str, Any], history: list[dict[str, Any]], *,
            save: bool) -> None:
    """Report the epoch's metrics; with ``save``, rank 0 attaches a checkpoint of everything needed to resume."""
    if not (save and w.rank == 0):
        session.report(metrics, None)
        return
    epoch = metrics["epoch"]
    scaler = w.precision.scaler
    with tempfile.TemporaryDirectory() as tmp:
        w.net.save(os.path.join(tmp, SUPERNET_FILE), train_config=w.cfg.to_dict(), epoch=epoch)
        torch.save({"epoch": epoch, "optimizer": w.optimizer.state_dict(), "scheduler": w.scheduler.state_dict(),
                    "method": w.method.state_dict(), "scaler": None if scaler is None else scaler.state_dict(),
                    "nonfinite_in_a_row": w.nonfinite_in_a_row, "history": history},
                   os.path.join(tmp, STATE_FILE))
        session.report(metrics, tmp)


def train_loop_per_worker(config_dict: dict[str, Any]) -> None:
    """Ray Train entry point: ``{"config": TrainConfig.to_dict(), "data": Data or None}``."""
    run_training(TrainConfig.from_dict(config_dict["config"]), RaySession(), config_dict.get("data"))


def train_in_process(config: TrainConfig, directory: str | os.PathLike, *, resume: bool = False,
                     data: Any = None) -> list[dict[str, Any]]:
    """Run the training loop as one worker in this process, without Ray; return the history.

    Checkpoints go to ``directory/checkpoint_<epoch>``; ``resume=True`` continues from the
    newest. The global torch random state and thread count are restored afterwards.
    For tests, debugging and single-process benchmarks; ``raynas.train.train`` is the job.
    """
    if config.num_workers != 1:
        raise ConfigError(f"train_in_process runs one worker; TrainConfig.num_workers must be 1, got {config.num_workers}")
    session = LocalSession(directory, resume=resume)
    threads = torch.get_num_threads()
    devices = [torch.cuda.current_device()] if config.use_gpu and torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):
            return run_training(config, session, data)
    finally:
        torch.set_num_threads(threads)
