"""What every training method shares: the interface, precision handling, losses, the LR shape."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch
import torch.nn.functional as F

from raynas.errors import ConfigError
from raynas.nn import bn_layers
from raynas.train.config import TrainConfig

__all__ = ["TrainingMethod", "Precision", "NonFiniteLoss", "distillation_loss", "lr_multiplier",
           "decay_multiplier", "untracked_bn_statistics", "parameter_groups", "sgd"]


class NonFiniteLoss(FloatingPointError):
    """A subnet's loss was NaN or infinite; the step is skipped and no weight changes."""

    def __init__(self, arch: dict[str, Any], value: float):
        super().__init__(f"non-finite loss {value} for subnet {arch}")
        self.arch = arch
        self.value = value


def check_finite(loss: torch.Tensor, arch: dict[str, Any]) -> None:
    """Raise :class:`NonFiniteLoss` before ``loss`` is back-propagated if it is NaN or infinite."""
    if not torch.isfinite(loss).item():
        raise NonFiniteLoss(arch, float(loss.item()))


def distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the student against the teacher's soft labels (inplace distillation)."""
    return -(teacher_probs * F.log_softmax(student_logits.float(), dim=1)).sum(dim=1).mean()


def decay_multiplier(step: int, total_steps: int, *, warmup_steps: int, floor: float, decay_fraction: float) -> float:
    """Linear warm-up over ``warmup_steps``, then exponential decay to ``floor``, reached at
    ``decay_fraction`` of ``total_steps`` and held after."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, int(decay_fraction * total_steps) - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return floor**progress


def lr_multiplier(step: int, total_steps: int, config: TrainConfig, steps_per_epoch: int) -> float:
    """Linear warm-up, then exponential decay to a constant floor of ``config.lr_floor`` (BigNAS)."""
    return decay_multiplier(step, total_steps, warmup_steps=int(config.warmup_epochs * steps_per_epoch),
                            floor=config.lr_floor, decay_fraction=config.lr_decay_fraction)


def parameter_groups(named_parameters: Iterable[tuple[str, torch.nn.Parameter]],
                     weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on convolution and linear weights only, not on BN, biases or kernel transforms."""
    decay, rest = [], []
    for name, p in named_parameters:
        (decay if p.ndim in (2, 4) and "transform" not in name else rest).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def sgd(config: TrainConfig, named_parameters: Iterable[tuple[str, torch.nn.Parameter]]) -> torch.optim.SGD:
    """SGD with ``config``'s learning rate, momentum (Nesterov when > 0) and :func:`parameter_groups`."""
    return torch.optim.SGD(parameter_groups(named_parameters, config.weight_decay), lr=config.lr,
                           momentum=config.momentum, nesterov=config.momentum > 0)


@contextlib.contextmanager
def untracked_bn_statistics(net: torch.nn.Module) -> Iterator[None]:
    """While inside, BatchNorm layers normalise with batch statistics and leave their running
    statistics alone (they are re-calibrated per subnet before evaluation)."""
    layers = bn_layers(net)
    for layer in layers:
        layer.track_running_stats = False
    try:
        yield
    finally:
        for layer in layers:
            layer.track_running_stats = True


@dataclass
class Precision:
    """How forward passes run and losses are back-propagated.

    ``dtype=None``: full precision. Otherwise forward passes run under
    ``torch.autocast(device_type, dtype)``; with a ``scaler`` (float16 on CUDA) losses are
    scaled before ``backward`` and the loop unscales the gradients before the step.
    """

    device_type: str = "cpu"
    dtype: torch.dtype | None = None
    scaler: Any = None  # torch.amp.GradScaler

    @classmethod
    def for_config(cls, config: TrainConfig, device: torch.device) -> "Precision":
        if not config.amp:
            return cls(device.type)
        if device.type == "cuda":
            return cls("cuda", torch.float16, torch.amp.GradScaler("cuda"))
        if device.type == "cpu":
            return cls("cpu", torch.bfloat16)
        raise ConfigError(f"TrainConfig.amp is supported on 'cuda' and 'cpu' devices, got {device.type!r}")

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()


class TrainingMethod:
    """What one optimisation step does to the supernet; one instance per worker.

    A method runs forward and backward passes for the subnets it trains (through
    :attr:`precision`); gradients accumulate in ``.grad`` and the loop then averages them
    over workers and takes one optimizer step. Parameters that no trained subnet used keep
    ``grad=None`` and are not touched by the step (no weight decay, no momentum).

    Subclasses implement :meth:`step` and may override the hooks.
    """

    name = ""
    per_batch_resolution = False
    """True: image folders are read at one resolution per batch, drawn from the space's and the
    same on every worker, and :meth:`at_batch_resolution` gives each subnet of the step that
    resolution (once-for-all). False: batches come at the largest resolution and each
    subnet's own is reached by resizing on the device (BigNAS)."""

    def __init__(self, config: TrainConfig, space: Any, precision: Precision | None = None):
        self.config = config
        self.space = space
        self.precision = precision or Precision()
        self.step_archs: list[dict[str, Any]] = []  # subnets back-propagated in the current step
        self.batch_resolution: int | None = None  # set by the loop: the resolution the batch was prepared at

    def setup(self, net: torch.nn.Module) -> None:
        """Called once on the freshly built supernet, before a checkpoint (if any) is loaded."""

    def on_epoch_start(self, epoch: int, net: torch.nn.Module) -> bool:
        """Called at the start of every epoch (also the first epoch after a resume).

        Returning True asks the loop to clear the optimizer's state (momentum) first.
        """
        return False

    def epoch_info(self) -> dict[str, Any]:
        """Extra values recorded with the epoch's metrics."""
        return {}

    def lr_multiplier(self, step: int, steps_per_epoch: int) -> float:
        """Learning rate at ``step`` as a fraction of ``config.lr`` (default: :func:`lr_multiplier`)."""
        return lr_multiplier(step, steps_per_epoch * self.config.epochs, self.config, steps_per_epoch)

    def step(self, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, rng: random.Random) -> dict[str, float]:
        """Forward and backward for this step's subnets; returns scalar losses for logging.

        Raises :class:`NonFiniteLoss` (before that loss's backward) on a NaN or infinite loss.
        """
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """What :meth:`load_state_dict` needs to continue exactly (tensors and plain values)."""
        return {}

    def load_state_dict(self, state: dict[str, Any], net: torch.nn.Module) -> None:
        """Restore :meth:`state_dict` output; ``net`` already holds the checkpoint's weights."""

    # -- helpers for subclasses ----------------------------------------------------------------
    def at_batch_resolution(self, arch: dict[str, Any]) -> dict[str, Any]:
        """``arch`` at the batch's resolution when the batch was prepared at one (image folders)."""
        if self.batch_resolution is None or "resolution" not in arch:
            return arch
        return {**arch, "resolution": self.batch_resolution}

    def forward(self, net: torch.nn.Module, x: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
        with self.precision.autocast():
            return net(x, dropout=dropout)

    def backward(self, loss: torch.Tensor, arch: dict[str, Any]) -> float:
        """Check ``loss`` is finite, back-propagate it, return its value."""
        self.step_archs.append(arch)
        check_finite(loss, arch)
        self.precision.backward(loss)
        return float(loss.item())
