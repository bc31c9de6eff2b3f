"""Progressive shrinking (once-for-all): the phase schedule, per-phase samplers, the method.

Phases, in order (:data:`~raynas.train.config.PHASES`):

========  =====================================================================
full      the full network (resolution elastic, as in OFA, everything else largest)
kernel    + elastic kernel sizes
depth1    + elastic depth, the two largest depths of each stage
depth2    + every depth
width1    + elastic width (expand ratios and widths), the two largest values;
          channels are sorted by importance (``net.sort_channels()``) first
width2    every choice of the space
========  =====================================================================

The dimension of a choice is read from its key: ``"resolution"``, ``*.kernel``,
``*.depth``, ``*.expand`` and ``*.width``. Keys of any other kind (a space with other
choices) are held at their largest value until the last phase, which samples the whole
space. The largest value of a choice is its last (``space.largest()``).
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from raynas.errors import ConfigError
from raynas.nn import bn_layers
from raynas.train._base import Precision, TrainingMethod, decay_multiplier, distillation_loss
from raynas.train.config import PHASES, TrainConfig

__all__ = ["Phase", "Progressive", "PhaseSampler", "OFA_PHASE_EPOCHS", "phase_epochs", "phase_schedule", "phase_at",
           "key_dimension"]

logger = logging.getLogger(__name__)

# once-for-all's epochs: full network 180, kernel 120, depth 25 + 120, width (expand) 25 + 120.
OFA_PHASE_EPOCHS = (180, 120, 25, 120, 25, 120)

# Per phase: dimension -> how many of its largest values are sampled (None: all of them).
# A dimension not listed is held at its largest value.
_ELASTIC: dict[str, dict[str, int | None]] = {
    "full": {"resolution": None},
    "kernel": {"resolution": None, "kernel": None},
    "depth1": {"resolution": None, "kernel": None, "depth": 2},
    "depth2": {"resolution": None, "kernel": None, "depth": None},
    "width1": {"resolution": None, "kernel": None, "depth": None, "width": 2},
    "width2": {"resolution": None, "kernel": None, "depth": None, "width": None, "other": None},
}


@dataclass(frozen=True)
class Phase:
    """One phase of progressive shrinking: epochs ``start`` (inclusive) to ``end`` (exclusive)."""

    name: str
    index: int
    start: int
    end: int

    @property
    def epochs(self) -> int:
        return self.end - self.start


def phase_epochs(config: TrainConfig) -> tuple[int, ...]:
    """Epochs per phase: ``config.phase_epochs``, or OFA's proportions scaled to ``config.epochs``.

    Scaling gives every phase at least one epoch and rounds by largest remainder, so the
    lengths sum to ``config.epochs``.
    """
    if config.phase_epochs:
        return tuple(config.phase_epochs)
    total = config.epochs
    if total < len(PHASES):
        raise ConfigError(f"progressive shrinking needs epochs >= {len(PHASES)} (one per phase), got {total}")
    ideal = [w * total / sum(OFA_PHASE_EPOCHS) for w in OFA_PHASE_EPOCHS]
    counts = [max(1, math.floor(v)) for v in ideal]
    while sum(counts) < total:  # the phase furthest below its ideal share gets an epoch
        i = max(range(len(counts)), key=lambda j: (ideal[j] - counts[j], -j))
        counts[i] += 1
    while sum(counts) > total:  # the phase furthest above its ideal share gives one back
        i = min((j for j in range(len(counts)) if counts[j] > 1), key=lambda j: (ideal[j] - counts[j], j))
        counts[i] -= 1
    return tuple(counts)


def phase_schedule(config: TrainConfig) -> list[Phase]:
    """The phases with at least one epoch, in order, with their epoch ranges."""
    phases, start = [], 0
    for index, (name, length) in enumerate(zip(PHASES, phase_epochs(config))):
        if length:
            phases.append(Phase(name, index, start, start + length))
        start += length
    return phases


def phase_at(config: TrainConfig, epoch: int) -> Phase:
    """The phase that trains ``epoch`` (0-based); epochs past the end belong to the last phase."""
    phases = phase_schedule(config)
    for phase in phases:
        if phase.start <= epoch < phase.end:
            return phase
    if epoch >= phases[-1].end:
        return phases[-1]
    raise ConfigError(f"epoch must be >= 0, got {epoch!r}")


def key_dimension(key: str) -> str:
    """``"resolution"``, ``"kernel"``, ``"depth"``, ``"width"`` or ``"other"``, from a choice key."""
    if key == "resolution":
        return "resolution"
    for suffix, dimension in ((".kernel", "kernel"), (".depth", "depth"), (".expand", "width"), (".width", "width")):
        if key.endswith(suffix):
            return dimension
    return "other"


class PhaseSampler:
    """Samples subnets of ``space`` restricted to the elastic dimensions of phase ``phase``.

    ``allowed[key]`` holds the values a key may take in this phase; each is drawn uniformly.
    """

    def __init__(self, space: Any, phase: str):
        if phase not in _ELASTIC:
            raise ConfigError(f"phase must be one of {list(PHASES)}, got {phase!r}")
        self.space = space
        self.phase = phase
        elastic = _ELASTIC[phase]
        self.allowed: dict[str, tuple] = {}
        for key, values in space.choices.items():
            dimension = key_dimension(key)
            if dimension not in elastic:
                self.allowed[key] = (values[-1],)
            else:
                top = elastic[dimension]
                self.allowed[key] = tuple(values) if top is None else tuple(values[-top:])

    def __call__(self, rng: random.Random) -> dict[str, Any]:
        return self.space.canonical({key: values[rng.randrange(len(values))] if len(values) > 1 else values[0]
                                     for key, values in self.allowed.items()})


class Progressive(TrainingMethod):
    """Once-for-all progressive shrinking, distilling from a frozen full network.

    Phase ``full`` trains the full network (at a sampled resolution) on the labels, with
    dropout and label smoothing. At the start of the first elastic phase a frozen copy of
    the full network (``net.extract(space.largest())``) becomes the teacher, as OFA uses a
    separately trained full network; it runs in train mode with batch statistics, as OFA's
    teacher does, and is saved with the checkpoint. Every elastic step trains
    ``num_random`` subnets drawn by the phase's :class:`PhaseSampler`, each on
    label-smoothed cross-entropy plus ``kd_ratio`` x distillation from the teacher's soft
    labels, with dropout; their gradients are summed. Channels are sorted by importance
    once, at the start of the first width phase. Every phase restarts the learning-rate
    schedule (at ``lr`` for ``full``, ``elastic_lr_scale * lr`` after) and the optimizer's
    momentum, as OFA starts each phase as a new training run.
    """

    name = "progressive"
    per_batch_resolution = True

    def __init__(self, config: TrainConfig, space: Any, precision: Precision | None = None):
        super().__init__(config, space, precision)
        self.phases = phase_schedule(config)
        self.lengths = phase_epochs(config)
        if config.num_random < 1:
            raise ConfigError(f"TrainConfig.num_random (subnets per step in the elastic phases) must be >= 1 for "
                              f"method 'progressive', got {config.num_random}")
        if self.lengths[0] == 0 and len(self.phases) > 0 and config.kd_ratio > 0:
            raise ConfigError("progressive shrinking distils from the full network trained in phase 'full'; give it "
                              f"at least one epoch in phase_epochs (got {list(self.lengths)}) or set kd_ratio=0")
        self.samplers = {phase.name: PhaseSampler(space, phase.name) for phase in self.phases}
        self.phase = self.phases[0]
        self.teacher: torch.nn.Module | None = None
        self.channels_sorted = False

    # -- schedule ------------------------------------------------------------------------------
    def lr_multiplier(self, step: int, steps_per_epoch: int) -> float:
        phase = phase_at(self.config, step // steps_per_epoch)
        local_total = phase.epochs * steps_per_epoch
        local_step = min(step - phase.start * steps_per_epoch, local_total - 1)
        scale = 1.0 if phase.name == "full" else self.config.elastic_lr_scale
        return scale * decay_multiplier(local_step, local_total,
                                        warmup_steps=int(self.config.warmup_epochs * steps_per_epoch),
                                        floor=self.config.lr_floor, decay_fraction=self.config.lr_decay_fraction)

    def on_epoch_start(self, epoch: int, net: torch.nn.Module) -> bool:
        """Enter the epoch's phase; returns True at a phase's first epoch (the loop then resets momentum)."""
        self.phase = phase_at(self.config, epoch)
        if self.phase.name != "full" and self.teacher is None and self.config.kd_ratio > 0:
            logger.info("epoch %d: the full network becomes the frozen teacher", epoch + 1)
            self.teacher = self._teacher_from(net)
        if self.phase.name in ("width1", "width2") and not self.channels_sorted:
            logger.info("epoch %d: sorting channels by importance before elastic width", epoch + 1)
            net.sort_channels()
            self.channels_sorted = True
        if epoch == self.phase.start:
            logger.info("epoch %d: phase %s (%d epochs)", epoch + 1, self.phase.name, self.phase.epochs)
            return True
        return False

    # -- the step ------------------------------------------------------------------------------
    def step(self, net, x, y, rng):
        cfg = self.config
        sampler = self.samplers[self.phase.name]
        if self.phase.name == "full":
            arch = self.at_batch_resolution(sampler(rng))
            net.set_active(arch)
            loss = F.cross_entropy(self.forward(net, x, dropout=cfg.dropout).float(), y,
                                   label_smoothing=cfg.label_smoothing)
            return {"loss": self.backward(loss, arch)}
        teacher_probs = None
        if self.teacher is not None:
            with torch.no_grad(), self.precision.autocast():
                teacher_probs = F.softmax(self.teacher(x).float(), dim=1)
        values = []
        for _ in range(cfg.num_random):
            arch = self.at_batch_resolution(sampler(rng))
            net.set_active(arch)
            logits = self.forward(net, x, dropout=cfg.dropout).float()
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            if teacher_probs is not None:
                loss = loss + cfg.kd_ratio * distillation_loss(logits, teacher_probs)
            values.append(self.backward(loss, arch))
        return {"loss": sum(values) / len(values)}

    # -- the teacher and resumable state -------------------------------------------------------
    def _teacher_from(self, net: torch.nn.Module, state: Mapping[str, torch.Tensor] | None = None) -> torch.nn.Module:
        teacher = net.extract(self.space.largest())
        if state is not None:
            teacher.load_state_dict(state)
        for p in teacher.parameters():
            p.requires_grad_(False)
        for layer in bn_layers(teacher):  # batch statistics, as in the training forward
            layer.track_running_stats = False
        if self.config.channels_last:
            teacher = teacher.to(memory_format=torch.channels_last)
        return teacher.train()

    def state_dict(self) -> dict[str, Any]:
        teacher = None
        if self.teacher is not None:
            teacher = {k: v.detach().clone() for k, v in self.teacher.state_dict().items()}
        return {"phase": self.phase.name, "phase_epochs": list(self.lengths), "teacher": teacher,
                "channels_sorted": self.channels_sorted}

    def load_state_dict(self, state: dict[str, Any], net: torch.nn.Module) -> None:
        saved = tuple(state["phase_epochs"])
        if saved != self.lengths:
            raise ConfigError(f"the checkpoint was trained with phase epochs {list(saved)}; this configuration "
                              f"gives {list(self.lengths)}; resume with the run's own configuration")
        self.phase = next(p for p in self.phases if p.name == state["phase"])
        self.channels_sorted = bool(state["channels_sorted"])
        self.teacher = None if state["teacher"] is None else self._teacher_from(net, state["teacher"])

    def epoch_info(self) -> dict[str, Any]:
        return {"phase": self.phase.name}
