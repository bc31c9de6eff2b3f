"""The typed configuration of a supernet training run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from raynas._config import from_dict
from raynas.checks import check_bool, check_choice, check_float, check_positive_float, check_positive_int
from raynas.errors import ConfigError

__all__ = ["TrainConfig", "METHOD_NAMES", "PHASES", "SAMPLINGS"]

METHOD_NAMES = ["sandwich", "progressive", "uniform", "dna"]
# Progressive shrinking (once-for-all), in order; see raynas.train.progressive.
PHASES = ("full", "kernel", "depth1", "depth2", "width1", "width2")
SAMPLINGS = ["uniform", "flops"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; validated on construction.

    Optimisation: SGD with Nesterov momentum; the learning rate warms up linearly for
    ``warmup_epochs``, then decays exponentially from ``lr`` to a constant floor of
    ``lr_floor * lr``, reached after ``lr_decay_fraction`` of the steps (BigNAS).
    ``batch_size`` is per worker. ``weight_decay`` applies to convolution and linear
    weights (not BN, biases or kernel transforms). BatchNorm running statistics are not
    tracked while training; every subnet is re-calibrated before it is evaluated.

    Methods (``method``):

    - ``sandwich`` (BigNAS): largest + smallest + ``num_random`` random children per step;
      the largest learns from labels (``label_smoothing``, ``dropout``), the others from its
      soft labels.
    - ``progressive`` (once-for-all): the phases of :data:`PHASES`; ``phase_epochs`` gives
      their lengths (empty: OFA's proportions scaled to ``epochs``). Every elastic phase
      trains ``num_random`` sampled subnets per step on labels plus ``kd_ratio`` x the
      distillation loss from a frozen copy of the full network taken at the end of the
      ``full`` phase. Each phase restarts the learning-rate schedule, at ``lr`` for the
      full network and ``elastic_lr_scale * lr`` for the elastic phases.
    - ``uniform`` (SPOS): one subnet per step, drawn with ``sampling``: ``"uniform"``
      (every choice uniformly) or ``"flops"`` (a FLOPs bucket out of ``flops_buckets``
      uniformly, then a subnet in it, at most ``max_sample_tries`` draws).

    - ``dna`` (DNA, :mod:`raynas.train.dna`): every block of the space learns to reproduce
      the ``teacher``'s block output (a supernet checkpoint: its largest subnet) from the
      teacher's previous block output, each block as its own Ray task, ``num_workers``
      at once; then up to ``dna_candidates`` candidates per block are scored into the
      block-loss table.

    Other switches: ``amp`` (mixed precision: float16 autocast with a gradient scaler on
    CUDA, bfloat16 autocast on CPU), ``channels_last`` (NHWC memory format; about 3x faster
    depthwise convolutions on CPU), ``stop_after_epoch`` (end the run after that epoch, as
    if interrupted, leaving a checkpoint that ``resume`` continues; for tests and for
    splitting a long run), ``max_nonfinite_steps`` (non-finite steps skipped in a row
    before the run fails).

    Data: ``dataset`` names a set of :func:`raynas.data.available` (``"custom"`` for Dataset
    objects given as ``train(config, out, data=raynas.data.from_datasets(...))``);
    ``folder`` and ``imagenet`` read the image folder ``data_dir``. ``augment`` picks the
    training recipe (None: the data set's default, see :mod:`raynas.data.transforms`);
    ``loader_workers`` the ``DataLoader`` processes per Ray Train worker (None: 2 for image
    folders, 0 for in-memory sets); ``skip_corrupt`` skips and counts unreadable images
    instead of failing. Image folders are read at the resolution the method samples: one per
    batch, the same on every worker (``progressive``, ``uniform`` with uniform sampling), or
    the largest, resized on the device per subnet (``sandwich``, FLOPs-bucket sampling).
    After every epoch the smallest and largest subnets are re-calibrated on ``calib_images``
    training images (None: 4 batches) and validated on ``val_images`` (None: all), fixed
    seeded subsets.
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
    kd_ratio: float = 1.0
    phase_epochs: tuple[int, ...] = ()
    elastic_lr_scale: float = 0.4
    sampling: str = "uniform"
    flops_buckets: int = 8
    max_sample_tries: int = 100
    num_workers: int = 1
    use_gpu: bool = False
    threads_per_worker: int = 1
    amp: bool = False
    channels_last: bool = True
    seed: int = 0
    checkpoint_every: int = 1
    stop_after_epoch: int | None = None
    max_failures: int = 0
    max_nonfinite_steps: int = 10
    teacher: str | None = None
    dna_candidates: int = 1000
    augment: str | None = None
    loader_workers: int | None = None
    val_images: int | None = None
    calib_images: int | None = None
    skip_corrupt: bool = False

    def __post_init__(self) -> None:
        owner = "TrainConfig"
        for name in ("epochs", "batch_size", "num_workers", "threads_per_worker", "checkpoint_every",
                     "flops_buckets", "max_sample_tries", "dna_candidates"):
            check_positive_int(owner, name, getattr(self, name))
        for name in ("num_random", "max_failures", "max_nonfinite_steps", "seed"):
            check_positive_int(owner, name, getattr(self, name), allow_zero=True)
        check_positive_float(owner, "lr", self.lr)
        for name in ("momentum", "weight_decay", "label_smoothing", "dropout", "warmup_epochs", "kd_ratio"):
            check_positive_float(owner, name, getattr(self, name), allow_zero=True)
        for name in ("lr_floor", "lr_decay_fraction", "elastic_lr_scale"):
            check_float(owner, name, getattr(self, name), low=0.0, high=1.0, low_open=True)
        for name in ("dropout", "label_smoothing"):
            check_float(owner, name, getattr(self, name), low=0.0, high=1.0, high_open=True)
        self._check_data()
        for name in ("download", "use_gpu", "amp", "channels_last", "skip_corrupt"):
            check_bool(owner, name, getattr(self, name))
        check_choice(owner, "method", self.method, METHOD_NAMES)
        check_choice(owner, "sampling", self.sampling, SAMPLINGS)
        if not isinstance(self.space_kwargs, Mapping):
            raise ConfigError(f"{owner}.space_kwargs must be a dict, got {self.space_kwargs!r}")
        object.__setattr__(self, "space_kwargs", dict(self.space_kwargs))
        self._check_phase_epochs()
        if self.phase_epochs and self.method != "progressive":
            raise ConfigError(f"TrainConfig.phase_epochs applies to method 'progressive' only, got method {self.method!r}")
        if self.sampling != "uniform" and self.method != "uniform":
            raise ConfigError(f"TrainConfig.sampling={self.sampling!r} applies to method 'uniform' only, "
                              f"got method {self.method!r}")
        if self.teacher is not None and (not isinstance(self.teacher, str) or not self.teacher):
            raise ConfigError(f"{owner}.teacher must be a supernet checkpoint path or None, got {self.teacher!r}")
        if self.teacher is not None and self.method != "dna":
            raise ConfigError(f"{owner}.teacher applies to method 'dna' only, got method {self.method!r}")
        if self.method == "dna" and self.amp:
            raise ConfigError(f"{owner}.amp is not supported by method 'dna', got amp=True")
        if self.stop_after_epoch is not None:
            check_positive_int(owner, "stop_after_epoch", self.stop_after_epoch)
            if self.stop_after_epoch > self.epochs:
                raise ConfigError(f"{owner}.stop_after_epoch must be <= epochs ({self.epochs}), "
                                  f"got {self.stop_after_epoch!r}")

    def _check_data(self) -> None:
        from raynas.data import AUGMENTS, CUSTOM, FOLDER_SETS, available

        owner = "TrainConfig"
        if not isinstance(self.dataset, str):
            raise ConfigError(f"{owner}.dataset must be a data set name, one of {available() + [CUSTOM]}, got a "
                              f"{type(self.dataset).__name__}; give Dataset objects as train(config, out, "
                              f"data=raynas.data.from_datasets(train, val, num_classes)) with dataset={CUSTOM!r}")
        check_choice(owner, "dataset", self.dataset, available() + [CUSTOM])
        if self.augment is not None:
            check_choice(owner, "augment", self.augment, list(AUGMENTS))
        for name in ("loader_workers", "val_images", "calib_images"):
            if getattr(self, name) is not None:
                check_positive_int(owner, name, getattr(self, name), allow_zero=name == "loader_workers")
        if self.download and self.dataset not in ("cifar10", "cifar100", "mnist", "fashionmnist"):
            raise ConfigError(f"{owner}.download applies to the torchvision sets (cifar10, cifar100, mnist, "
                              f"fashionmnist); data set {self.dataset!r} cannot be downloaded")
        if self.method == "dna" and self.dataset in FOLDER_SETS + (CUSTOM,):
            raise ConfigError(f"{owner}.method 'dna' trains on block features of an in-memory data set (digits, "
                              f"synthetic or a torchvision set), got dataset {self.dataset!r}")
        if self.method == "dna" and self.augment not in (None, "none"):
            raise ConfigError(f"{owner}.augment applies to the Ray Train methods; method 'dna' distils fixed teacher "
                              f"features of unaugmented images, got augment={self.augment!r}")
        if self.data_dir is not None and (not isinstance(self.data_dir, str) or not self.data_dir):
            raise ConfigError(f"{owner}.data_dir must be a path or None, got {self.data_dir!r}")

    def _check_phase_epochs(self) -> None:
        value = self.phase_epochs
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"TrainConfig.phase_epochs must be a sequence of {len(PHASES)} ints, got {value!r}")
        value = tuple(value)
        object.__setattr__(self, "phase_epochs", value)
        if not value:
            if self.method == "progressive" and self.epochs < len(PHASES):
                raise ConfigError(
                    f"TrainConfig.epochs must be >= {len(PHASES)} for method 'progressive' (one epoch per phase "
                    f"{list(PHASES)}), got {self.epochs}; or give phase_epochs explicitly"
                )
            return
        if len(value) != len(PHASES) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value):
            raise ConfigError(
                f"TrainConfig.phase_epochs must be {len(PHASES)} ints >= 0, one per phase {list(PHASES)}, got {value!r}"
            )
        if sum(value) != self.epochs:
            raise ConfigError(f"TrainConfig.phase_epochs must sum to epochs ({self.epochs}), got {value!r} "
                              f"(sum {sum(value)})")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        return from_dict(cls, values)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["phase_epochs"] = list(self.phase_epochs)
        return out
