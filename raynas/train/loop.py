"""The per-worker training loop that Ray Train runs (one screen, top to bottom)."""

from __future__ import annotations

import logging
import math
import os
import random
import tempfile
import time
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from raynas.train.config import TrainConfig
from raynas.train.methods import NonFiniteLoss, get_method

__all__ = ["train_loop_per_worker", "lr_multiplier", "SUPERNET_FILE", "STATE_FILE"]

logger = logging.getLogger(__name__)

SUPERNET_FILE = "supernet.pt"
STATE_FILE = "train_state.pt"


def lr_multiplier(step: int, total_steps: int, config: TrainConfig, steps_per_epoch: int) -> float:
    """Linear warm-up, then exponential decay to a constant floor of ``config.lr_floor`` (BigNAS)."""
    warmup = int(config.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    decay_steps = max(1, int(config.lr_decay_fraction * total_steps) - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    return config.lr_floor ** progress


def _parameter_groups(net: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on convolution and linear weights only, not on BN, biases or kernel transforms."""
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (decay if p.ndim in (2, 4) and "transform" not in name else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _average_gradients(net: torch.nn.Module, world_size: int) -> None:
    """Average gradients over workers in one flat all-reduce (unused parameters count as zero)."""
    params = [p for p in net.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def _all_ok(ok: bool, world_size: int, device: torch.device) -> bool:
    if world_size == 1:
        return ok
    flag = torch.tensor([1 if ok else 0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def train_loop_per_worker(config_dict: dict[str, Any]) -> None:
    """Ray Train entry point: build the supernet, resume if a checkpoint exists, train, report."""
    import ray.train
    import search_spaces
    from raynas.data import load
    from raynas.evaluate.supernet import calibration_batches, evaluate_subnet

    cfg = TrainConfig.from_dict(config_dict)
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(cfg.threads_per_worker)
    if cfg.use_gpu:
        import ray.train.torch

        device = ray.train.torch.get_device()
    else:
        device = torch.device("cpu")

    space = search_spaces.get(cfg.space, **cfg.space_kwargs)
    data = load(cfg.dataset, seed=cfg.seed, data_dir=cfg.data_dir, download=cfg.download and rank == 0)
    torch.manual_seed(cfg.seed)  # identical initial weights on every worker
    net = space.build_supernet(num_classes=data.num_classes)
    method = get_method(cfg, space)
    method.setup(net)
    net.to(device)
    optimizer = torch.optim.SGD(_parameter_groups(net, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum, nesterov=True)

    sampler = DistributedSampler(data.train, num_replicas=world_size, rank=rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(data.train, batch_size=cfg.batch_size, sampler=sampler, drop_last=len(data.train) // world_size > cfg.batch_size)
    steps_per_epoch = len(loader)
    total_steps = steps_per_epoch * cfg.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_multiplier(step, total_steps, cfg, steps_per_epoch)
    )

    start_epoch, history = 0, []
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as ckpt_dir:
            weights = torch.load(os.path.join(ckpt_dir, SUPERNET_FILE), map_location=device, weights_only=True)
            net.load_state_dict(weights["state_dict"])
            state = torch.load(os.path.join(ckpt_dir, STATE_FILE), map_location=device, weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        method.load_state_dict(state["method"])
        start_epoch, history = int(state["epoch"]), list(state["history"])
        if rank == 0:
            logger.info("resumed from epoch %d", start_epoch)
    elif world_size > 1:
        for tensor in list(net.parameters()) + list(net.buffers()):
            dist.broadcast(tensor.data, src=0)

    calib = calibration_batches(data.train, num_batches=4, batch_size=cfg.batch_size, seed=cfg.seed)
    val_loader = DataLoader(data.val, batch_size=256)
    nonfinite_in_a_row = 0
    for epoch in range(start_epoch, cfg.epochs):
        started = time.perf_counter()
        # Per-epoch seeds make a resumed run repeat the uninterrupted one exactly.
        torch.manual_seed(cfg.seed * 100_003 + epoch * 1_009 + rank)
        rng = random.Random(f"{cfg.seed}/{epoch}/{rank}")
        sampler.set_epoch(epoch)
        method.on_epoch_start(epoch, net)
        net.train()
        sums: dict[str, float] = {}
        steps, skipped = 0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            try:
                losses, ok = method.step(net, x, y, rng), True
            except NonFiniteLoss as exc:
                losses, ok, bad = {}, False, exc
            if not _all_ok(ok, world_size, device):
                optimizer.zero_grad(set_to_none=True)
                skipped += 1
                nonfinite_in_a_row += 1
                if nonfinite_in_a_row > cfg.max_nonfinite_steps:
                    where = f": {bad}" if not ok else " on another worker"
                    raise FloatingPointError(
                        f"{nonfinite_in_a_row} non-finite steps in a row at epoch {epoch}, step {steps}{where}"
                    )
                scheduler.step()
                continue
            nonfinite_in_a_row = 0
            if world_size > 1:
                _average_gradients(net, world_size)
            optimizer.step()
            scheduler.step()
            steps += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
        metrics: dict[str, Any] = {k: v / max(steps, 1) for k, v in sums.items()}
        metrics.update(epoch=epoch + 1, lr=scheduler.get_last_lr()[0], skipped_steps=skipped,
                       epoch_time_s=time.perf_counter() - started)
        if rank == 0:
            for label, arch in (("largest", space.largest()), ("smallest", space.smallest())):
                result = evaluate_subnet(net, arch, calibration=calib, val_loader=val_loader, device=device)
                metrics[f"val_accuracy_{label}"] = result["accuracy"]
            net.train()
            logger.info("epoch %d/%d %s", epoch + 1, cfg.epochs,
                        " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float) and math.isfinite(v)))
        history.append(metrics)
        last = epoch + 1 == cfg.epochs
        if rank == 0 and ((epoch + 1) % cfg.checkpoint_every == 0 or last):
            with tempfile.TemporaryDirectory() as tmp:
                net.save(os.path.join(tmp, SUPERNET_FILE), train_config=cfg.to_dict(), epoch=epoch + 1)
                torch.save({"epoch": epoch + 1, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                            "method": method.state_dict(), "history": history}, os.path.join(tmp, STATE_FILE))
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
        else:
            ray.train.report(metrics)
