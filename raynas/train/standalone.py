"""Training one subnet alone, from scratch: the reference that supernet rankings are judged by."""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from raynas.train._base import lr_multiplier, sgd
from raynas.train.config import TrainConfig

__all__ = ["train_standalone"]

logger = logging.getLogger(__name__)


def train_standalone(config: TrainConfig, arch: Mapping[str, Any], *, seed: int) -> dict[str, float]:
    """Train subnet ``arch`` of ``config.space`` alone from scratch and return its validation metrics.

    The recipe is the supernet's: SGD with Nesterov momentum, ``config.lr`` decaying
    exponentially to its floor over ``config.epochs``, label smoothing, ``dropout``,
    weight decay on convolution and linear weights, ``batch_size``, zero-initialised last
    BN gamma of residual blocks. The subnet is the supernet's active path (a fresh supernet
    built under ``seed`` with only ``arch`` active): the same function and gradients as the
    extracted subnet, and weights outside it are never used. BatchNorm tracks running
    statistics as usual and validation runs in eval mode. One process, ``config.threads_per_worker``
    threads; the global torch random state is restored afterwards.

    Returns ``accuracy`` (percent), ``loss`` (mean cross-entropy), ``flops``, ``params``,
    ``train_time_s``.
    """
    import search_spaces
    from raynas.data import StreamingLoader, load

    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads_per_worker)
    started = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):
            space = search_spaces.get(config.space, **config.space_kwargs)
            data = load(config.dataset, seed=config.seed, data_dir=config.data_dir, augment=config.augment,
                        skip_corrupt=config.skip_corrupt)
            torch.manual_seed(seed)
            net = space.build_supernet(num_classes=data.num_classes)
            arch = net.space.canonical(arch)
            net.zero_init_residual()
            net.set_active(arch)
            memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
            net.to(memory_format=memory_format)
            optimizer = sgd(config, net.named_parameters())
            generator = torch.Generator().manual_seed(seed)
            if data.resizes:  # an image folder, read at the subnet's resolution
                resolution = int(net.space.input_shape(arch)[-1])
                loader = StreamingLoader(data.train, batch_size=config.batch_size, shuffle=True, seed=seed,
                                         resolutions=resolution, drop_last=len(data.train) > config.batch_size)
                val_loader = StreamingLoader(data.val, batch_size=256, resolutions=resolution)
            else:
                loader = DataLoader(data.train, batch_size=config.batch_size, shuffle=True, generator=generator,
                                    drop_last=len(data.train) > config.batch_size)
                val_loader = DataLoader(data.val, batch_size=256)
            steps_per_epoch = len(loader)
            total = steps_per_epoch * config.epochs
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: lr_multiplier(step, total, config, steps_per_epoch))
            net.train()
            for epoch in range(config.epochs):
                if data.resizes:
                    loader.set_epoch(epoch)
                for x, y in loader:
                    x = x.contiguous(memory_format=memory_format)
                    optimizer.zero_grad(set_to_none=True)
                    loss = F.cross_entropy(net(x, dropout=config.dropout), y, label_smoothing=config.label_smoothing)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"non-finite loss {loss.item()} training subnet {arch} alone")
                    loss.backward()
                    optimizer.step()
                    scheduler.step()
            net.eval()
            correct, total_seen, loss_sum = 0, 0, 0.0
            with torch.no_grad():
                for x, y in val_loader:
                    logits = net(x.contiguous(memory_format=memory_format))
                    loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
                    correct += int((logits.argmax(dim=1) == y).sum())
                    total_seen += len(y)
    finally:
        torch.set_num_threads(threads)
    return {"accuracy": 100.0 * correct / total_seen, "loss": loss_sum / total_seen,
            "flops": float(space.flops(arch)), "params": float(space.params(arch)),
            "train_time_s": time.perf_counter() - started}
