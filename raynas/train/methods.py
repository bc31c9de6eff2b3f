"""Training methods: what one optimisation step does to the supernet.

``sandwich`` (BigNAS), ``progressive`` (once-for-all, in :mod:`raynas.train.progressive`)
and ``uniform`` (SPOS) share the :class:`TrainingMethod` interface and one training loop.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import torch
import torch.nn.functional as F

from raynas.errors import ConfigError
from raynas.train._base import (
    NonFiniteLoss,
    Precision,
    TrainingMethod,
    distillation_loss,
    lr_multiplier,
    untracked_bn_statistics,
)
from raynas.train.config import TrainConfig
from raynas.train.progressive import Progressive

__all__ = ["TrainingMethod", "Precision", "Sandwich", "Uniform", "Progressive", "FlopsBucketSampler",
           "NonFiniteLoss", "distillation_loss", "lr_multiplier", "untracked_bn_statistics", "get_method", "METHODS"]

logger = logging.getLogger(__name__)


class Sandwich(TrainingMethod):
    """BigNAS sandwich rule with inplace distillation.

    Each step: the largest child learns from the labels, with dropout and label smoothing;
    the smallest and ``num_random`` random children learn from the largest child's
    detached soft labels, without dropout. Gradients are summed before one step. The last
    BN gamma of every residual block starts at zero.

    Weight decay "on the largest child only": the optimizer decays every convolution and
    linear weight a step touches, and the largest child touches every one of them in every
    step, so that is exactly the largest child's L2 term; the other children add no decay
    of their own. Kernel-transform matrices (which the largest child does not use), BN
    parameters and biases are not decayed.
    """

    name = "sandwich"

    def setup(self, net: torch.nn.Module) -> None:
        net.zero_init_residual()

    def step(self, net, x, y, rng):
        cfg = self.config
        largest = self.space.largest()
        net.set_active(largest)
        logits = self.forward(net, x, dropout=cfg.dropout)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        losses = {"loss_largest": self.backward(loss, largest)}
        teacher = F.softmax(logits.detach().float(), dim=1)
        children = [("smallest", self.space.smallest())]
        children += [("random", self.space.sample(rng)) for _ in range(cfg.num_random)]
        distill = []
        for label, arch in children:
            net.set_active(arch)
            value = self.backward(distillation_loss(self.forward(net, x), teacher), arch)
            if label == "smallest":
                losses["loss_smallest"] = value
            else:
                distill.append(value)
        if distill:
            losses["loss_random"] = sum(distill) / len(distill)
        return losses


class FlopsBucketSampler:
    """Draw a FLOPs bucket uniformly, then a subnet whose FLOPs fall in it.

    The FLOPs range from the smallest to the largest subnet is cut into ``buckets`` equal
    intervals. A pool of ``pool_size`` subnets drawn with ``seed`` (plus the smallest and
    largest) finds the buckets that hold any subnet; empty ones are never chosen. A draw
    picks a non-empty bucket uniformly, then samples the space uniformly up to
    ``max_tries`` times until a subnet lands in it; when none does (rare, high-FLOPs
    buckets) it takes a pool member of that bucket, drawn uniformly, and counts a fallback.
    """

    def __init__(self, space: Any, *, buckets: int, max_tries: int, seed: int, pool_size: int = 1000):
        if buckets < 1 or max_tries < 1 or pool_size < 1:
            raise ConfigError(f"buckets, max_tries and pool_size must be >= 1, got {buckets}, {max_tries}, {pool_size}")
        self.space = space
        self.max_tries = max_tries
        self.low = float(space.flops(space.smallest()))
        self.high = float(space.flops(space.largest()))
        self.num_buckets = buckets
        pool_rng = random.Random(f"flops-pool/{seed}")
        pool = [space.smallest(), space.largest()] + [space.sample(pool_rng) for _ in range(pool_size)]
        self.pools: dict[int, list[dict[str, Any]]] = {}
        for arch in pool:
            self.pools.setdefault(self.bucket(arch), []).append(arch)
        self.buckets = sorted(self.pools)
        empty = sorted(set(range(buckets)) - set(self.buckets))
        if empty:
            logger.info("FLOPs buckets %s hold no subnet of %d drawn; sampling the other %d", empty, len(pool),
                        len(self.buckets))
        self.fallbacks = 0

    def bucket(self, arch: dict[str, Any]) -> int:
        if self.high <= self.low:
            return 0
        position = (float(self.space.flops(arch)) - self.low) / (self.high - self.low)
        return min(self.num_buckets - 1, max(0, int(position * self.num_buckets)))

    def __call__(self, rng: random.Random) -> dict[str, Any]:
        target = self.buckets[rng.randrange(len(self.buckets))]
        for _ in range(self.max_tries):
            arch = self.space.sample(rng)
            if self.bucket(arch) == target:
                return arch
        self.fallbacks += 1
        pool = self.pools[target]
        return dict(pool[rng.randrange(len(pool))])


class Uniform(TrainingMethod):
    """SPOS: one subnet per step, sampled uniformly (``sampling="uniform"``) or FLOPs-bucket
    first (``sampling="flops"``, see :class:`FlopsBucketSampler`); it learns from the labels
    with label smoothing and no dropout."""

    name = "uniform"

    def __init__(self, config: TrainConfig, space: Any, precision: Precision | None = None):
        super().__init__(config, space, precision)
        self.sampler = None
        # FLOPs buckets depend on the resolution: those subnets come at the largest, resized on the device.
        self.per_batch_resolution = config.sampling == "uniform"
        if config.sampling == "flops":
            self.sampler = FlopsBucketSampler(space, buckets=config.flops_buckets,
                                              max_tries=config.max_sample_tries, seed=config.seed)

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return self.at_batch_resolution(self.space.sample(rng)) if self.sampler is None else self.sampler(rng)

    def step(self, net, x, y, rng):
        fallbacks = 0 if self.sampler is None else self.sampler.fallbacks
        arch = self.sample(rng)
        net.set_active(arch)
        loss = F.cross_entropy(self.forward(net, x).float(), y, label_smoothing=self.config.label_smoothing)
        losses = {"loss": self.backward(loss, arch)}
        if self.sampler is not None:  # averaged over the epoch's steps: the share of pool fallbacks
            losses["flops_fallback_rate"] = float(self.sampler.fallbacks - fallbacks)
        return losses

    def state_dict(self) -> dict[str, Any]:
        return {"flops_fallbacks": 0 if self.sampler is None else self.sampler.fallbacks}

    def load_state_dict(self, state: dict[str, Any], net: torch.nn.Module) -> None:
        if self.sampler is not None:
            self.sampler.fallbacks = int(state.get("flops_fallbacks", 0))


METHODS: dict[str, type[TrainingMethod]] = {"sandwich": Sandwich, "progressive": Progressive, "uniform": Uniform}


def get_method(config: TrainConfig, space: Any, precision: Precision | None = None) -> TrainingMethod:
    """The training method ``config.method`` names, for ``space``."""
    if config.method not in METHODS:
        raise ConfigError(f"unknown training method {config.method!r}; available: {sorted(METHODS)}")
    return METHODS[config.method](config, space, precision)
