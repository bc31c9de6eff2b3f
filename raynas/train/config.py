"""The typed configuration of a supernet training run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from raynas._config import check_choice, check_positive_float, check_positive_int, from_dict
from raynas.errors import ConfigError

__all__ = ["TrainConfig"]

METHODS = ["sandwich"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; validated on construction.

    The learning rate decays exponentially from ``lr`` to a constant floor of
    ``lr_floor * lr``, reached after ``lr_decay_fraction`` of the steps (BigNAS).
    """

    space: str = "tiny"
    space_kwargs: Mapping[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    data_dir: str | None = None
    download: bool = False
    method: str = "sandwich"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.25
    momentum: float = 0.9
    weight_decay: float = 3e-5
    label_smoothing: float = 0.1
    dropout: float = 0.1
    num_random: int = 2
    lr_floor: float = 0.05
    lr_decay_fraction: float = 0.8
    warmup_epochs: float = 0.0
    num_workers: int = 1
    use_gpu: bool = False
    threads_per_worker: int = 1
    amp: bool = False
    seed: int = 0
    checkpoint_every: int = 1
    max_failures: int = 0
    max_nonfinite_steps: int = 10

    def __post_init__(self) -> None:
        owner = "TrainConfig"
        for name in ("epochs", "batch_size", "num_workers", "threads_per_worker", "checkpoint_every"):
            check_positive_int(owner, name, getattr(self, name))
        for name in ("num_random", "max_failures", "max_nonfinite_steps", "seed"):
            check_positive_int(owner, name, getattr(self, name), allow_zero=True)
        check_positive_float(owner, "lr", self.lr)
        for name in ("momentum", "weight_decay", "label_smoothing", "dropout", "warmup_epochs"):
            check_positive_float(owner, name, getattr(self, name), allow_zero=True)
        for name in ("lr_floor", "lr_decay_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ConfigError(f"{owner}.{name} must be in (0, 1], got {value!r}")
        if self.dropout >= 1 or self.label_smoothing >= 1:
            raise ConfigError(f"{owner}.dropout and label_smoothing must be < 1, got {self.dropout!r}, {self.label_smoothing!r}")
        check_choice(owner, "method", self.method, METHODS)
        if not isinstance(self.space_kwargs, Mapping):
            raise ConfigError(f"{owner}.space_kwargs must be a dict, got {self.space_kwargs!r}")
        object.__setattr__(self, "space_kwargs", dict(self.space_kwargs))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        return from_dict(cls, values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
