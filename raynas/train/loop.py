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
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from raynas.errors import ConfigError
from raynas.train._base import NonFiniteLoss, Precision, lr_multiplier, untracked_bn_statistics
from raynas.train.config import TrainConfig
from raynas.train.methods import get_method

__all__ = ["train_loop_per_worker", "run_training", "train_in_process", "RaySession", "LocalSession",
           "lr_multiplier", "SUPERNET_FILE", "STATE_FILE"]

logger = logging.getLogger(__name__)

SUPERNET_FILE = "supernet.pt"
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
def _parameter_groups(net: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on convolution and linear weights only, not on BN, biases or kernel transforms."""
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (decay if p.ndim in (2, 4) and "transform" not in name else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


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
def run_training(cfg: TrainConfig, session: Any) -> list[dict[str, Any]]:
    """Train as one worker of ``session``; return the history of per-epoch metrics."""
    import search_spaces
    from raynas.data import load
    from raynas.evaluate.supernet import calibration_batches, evaluate_subnet

    rank, world_size = session.rank, session.world_size
    torch.set_num_threads(cfg.threads_per_worker)
    device = session.device(cfg)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format

    space = search_spaces.get(cfg.space, **cfg.space_kwargs)
    # With --download, the first worker of each node fetches the set while the others wait.
    downloader = cfg.download and session.local_rank == 0
    if cfg.download and world_size > 1 and not downloader:
        dist.barrier()
    data = load(cfg.dataset, seed=cfg.seed, data_dir=cfg.data_dir, download=downloader)
    if cfg.download and world_size > 1 and downloader:
        dist.barrier()
    torch.manual_seed(cfg.seed)  # identical initial weights on every worker
    net = space.build_supernet(num_classes=data.num_classes)
    precision = Precision.for_config(cfg, device)
    method = get_method(cfg, net.space, precision)
    method.setup(net)
    net.to(device=device, memory_format=memory_format)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(_parameter_groups(net, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum,
                                nesterov=cfg.momentum > 0)

    sampler = DistributedSampler(data.train, num_replicas=world_size, rank=rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(data.train, batch_size=cfg.batch_size, sampler=sampler,
                        drop_last=len(data.train) // world_size > cfg.batch_size, pin_memory=device.type == "cuda")
    steps_per_epoch = len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: method.lr_multiplier(step, steps_per_epoch))

    start_epoch, history, nonfinite_in_a_row = 0, [], 0
    with session.checkpoint() as checkpoint_dir:
        if checkpoint_dir is not None:
            weights = torch.load(os.path.join(checkpoint_dir, SUPERNET_FILE), map_location=device, weights_only=True)
            net.load_state_dict(weights["state_dict"])
            state = torch.load(os.path.join(checkpoint_dir, STATE_FILE), map_location=device, weights_only=True)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            method.load_state_dict(state["method"], net)
            if precision.scaler is not None and state.get("scaler"):
                precision.scaler.load_state_dict(state["scaler"])
            start_epoch, history = int(state["epoch"]), list(state["history"])
            nonfinite_in_a_row = int(state.get("nonfinite_in_a_row", 0))
            if rank == 0:
                logger.info("resumed from the checkpoint of epoch %d", start_epoch)
    if start_epoch == 0 and world_size > 1:
        for tensor in list(net.parameters()) + list(net.buffers()):
            dist.broadcast(tensor.data, src=0)

    calib = calibration_batches(data.train, num_batches=4, batch_size=cfg.batch_size, seed=cfg.seed)
    val_loader = DataLoader(data.val, batch_size=256)
    stop = cfg.epochs if cfg.stop_after_epoch is None else cfg.stop_after_epoch
    for epoch in range(start_epoch, min(stop, cfg.epochs)):
        started = time.perf_counter()
        if method.on_epoch_start(epoch, net):
            optimizer.state.clear()
        # Per-epoch seeds (after the method's own set-up) make a resumed run repeat the uninterrupted one.
        torch.manual_seed(cfg.seed * 100_003 + epoch * 1_009 + rank)
        rng = random.Random(f"{cfg.seed}/{epoch}/{rank}")
        sampler.set_epoch(epoch)
        net.train()
        sums: dict[str, float] = {}
        steps, skipped = 0, 0
        with untracked_bn_statistics(net):
            for index, (x, y) in enumerate(loader):
                x = x.to(device, non_blocking=True).contiguous(memory_format=memory_format)
                y = y.to(device, non_blocking=True)
                optimizer.zero_grad(set_to_none=True)
                method.step_archs = []
                reason = None
                try:
                    losses = method.step(net, x, y, rng)
                except NonFiniteLoss as exc:
                    losses, reason = {}, str(exc)
                ok = reason is None
                if world_size > 1:
                    ok = _all_reduce_gradients(params, world_size, ok)
                    reason = reason or (None if ok else "a non-finite loss on another worker")
                unscaled = ok and precision.scaler is not None
                if unscaled:
                    precision.scaler.unscale_(optimizer)
                if ok and not _finite_gradients(params):
                    ok, reason = False, "non-finite gradients"
                if not ok:  # skip the step: no weight, momentum or BN statistic changes
                    if unscaled:
                        precision.scaler.update()  # float16: lower the loss scale
                    optimizer.zero_grad(set_to_none=True)
                    skipped += 1
                    nonfinite_in_a_row += 1
                    if nonfinite_in_a_row > cfg.max_nonfinite_steps:
                        raise FloatingPointError(
                            f"{nonfinite_in_a_row} non-finite steps in a row (max_nonfinite_steps="
                            f"{cfg.max_nonfinite_steps}) at epoch {epoch + 1}, step {index + 1} of {steps_per_epoch}: "
                            f"{reason}; subnets of this step: {method.step_archs}"
                        )
                    logger.warning("epoch %d step %d skipped: %s", epoch + 1, index + 1, reason)
                    with warnings.catch_warnings():  # the schedule counts skipped steps too, on purpose
                        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                        scheduler.step()
                    continue
                nonfinite_in_a_row = 0
                if precision.scaler is not None:
                    precision.scaler.step(optimizer)
                    precision.scaler.update()
                else:
                    optimizer.step()
                scheduler.step()
                steps += 1
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
        metrics: dict[str, Any] = {k: v / max(steps, 1) for k, v in sums.items()}
        metrics.update(epoch=epoch + 1, lr=scheduler.get_last_lr()[0], skipped_steps=skipped,
                       epoch_time_s=time.perf_counter() - started, **method.epoch_info())
        if rank == 0:
            # The largest last, so the saved BN statistics are the largest subnet's.
            for label, arch in (("smallest", net.space.smallest()), ("largest", net.space.largest())):
                result = evaluate_subnet(net, arch, calibration=calib, val_loader=val_loader, device=device)
                metrics[f"val_accuracy_{label}"] = result["accuracy"]
                metrics[f"val_loss_{label}"] = result["loss"]
            logger.info("epoch %d/%d %s", epoch + 1, cfg.epochs,
                        " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v)))
        history.append(metrics)
        final = epoch + 1 == min(stop, cfg.epochs)
        if (epoch + 1) % cfg.checkpoint_every == 0 or final:
            if rank == 0:
                with tempfile.TemporaryDirectory() as tmp:
                    net.save(os.path.join(tmp, SUPERNET_FILE), train_config=cfg.to_dict(), epoch=epoch + 1)
                    torch.save({"epoch": epoch + 1, "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(), "method": method.state_dict(),
                                "scaler": None if precision.scaler is None else precision.scaler.state_dict(),
                                "nonfinite_in_a_row": nonfinite_in_a_row, "history": history},
                               os.path.join(tmp, STATE_FILE))
                    session.report(metrics, tmp)
            else:
                session.report(metrics, None)
        else:
            session.report(metrics, None)
    if cfg.stop_after_epoch is not None and cfg.stop_after_epoch < cfg.epochs and rank == 0:
        logger.info("stopped after epoch %d of %d (stop_after_epoch); resume to continue", stop, cfg.epochs)
    return history


def train_loop_per_worker(config_dict: dict[str, Any]) -> None:
    """Ray Train entry point."""
    run_training(TrainConfig.from_dict(config_dict), RaySession())


def train_in_process(config: TrainConfig, directory: str | os.PathLike, *, resume: bool = False) -> list[dict[str, Any]]:
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
            return run_training(config, session)
    finally:
        torch.set_num_threads(threads)
