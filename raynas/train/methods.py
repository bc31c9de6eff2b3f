"""Training methods: what one optimisation step does to the supernet.

A method runs forward and backward passes for the children it trains; gradients
accumulate in ``.grad``, and the loop then averages them over workers and takes
one optimizer step.
"""

from __future__ import annotations

import random
from typing import Any

import torch
import torch.nn.functional as F

from raynas.errors import ConfigError
from raynas.train.config import TrainConfig

__all__ = ["TrainingMethod", "Sandwich", "NonFiniteLoss", "get_method", "METHODS"]


class NonFiniteLoss(FloatingPointError):
    """A child's loss was NaN or infinite; the step is skipped."""

    def __init__(self, arch: dict[str, Any], value: float):
        super().__init__(f"non-finite loss {value} for subnet {arch}")
        self.arch = arch
        self.value = value


def _check_finite(loss: torch.Tensor, arch: dict[str, Any]) -> None:
    if not torch.isfinite(loss).item():
        raise NonFiniteLoss(arch, float(loss.item()))


def distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the student against the teacher's soft labels (inplace distillation)."""
    return -(teacher_probs * F.log_softmax(student_logits, dim=1)).sum(dim=1).mean()


class TrainingMethod:
    """Interface of a training method; one instance per worker."""

    name = ""

    def __init__(self, config: TrainConfig, space: Any):
        self.config = config
        self.space = space

    def setup(self, net: torch.nn.Module) -> None:
        """Called once on a freshly built supernet (not on resume)."""

    def on_epoch_start(self, epoch: int, net: torch.nn.Module) -> None:
        """Called at the start of every epoch."""

    def step(self, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, rng: random.Random) -> dict[str, float]:
        """Forward and backward for this step's children; returns scalar losses for logging."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class Sandwich(TrainingMethod):
    """BigNAS sandwich rule with inplace distillation.

    Each step: the largest child learns from the labels (with dropout and label
    smoothing); the smallest and ``num_random`` random children learn from the
    largest child's detached soft labels. Gradients are summed before one step.
    The last BN gamma of every residual block starts at zero.
    """

    name = "sandwich"

    def setup(self, net: torch.nn.Module) -> None:
        net.zero_init_residual()

    def step(self, net, x, y, rng):
        cfg = self.config
        largest = self.space.largest()
        net.set_active(largest)
        logits = net(x, dropout=cfg.dropout)
        loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        _check_finite(loss, largest)
        loss.backward()
        teacher = F.softmax(logits.detach(), dim=1)
        losses = {"loss_largest": float(loss.item())}
        children = [("smallest", self.space.smallest())]
        children += [("random", self.space.sample(rng)) for _ in range(cfg.num_random)]
        distill = []
        for label, arch in children:
            net.set_active(arch)
            child_loss = distillation_loss(net(x), teacher)
            _check_finite(child_loss, arch)
            child_loss.backward()
            if label == "smallest":
                losses["loss_smallest"] = float(child_loss.item())
            else:
                distill.append(float(child_loss.item()))
        if distill:
            losses["loss_random"] = sum(distill) / len(distill)
        return losses


METHODS: dict[str, type[TrainingMethod]] = {"sandwich": Sandwich}


def get_method(config: TrainConfig, space: Any) -> TrainingMethod:
    if config.method not in METHODS:
        raise ConfigError(f"unknown training method {config.method!r}; available: {sorted(METHODS)}")
    return METHODS[config.method](config, space)
