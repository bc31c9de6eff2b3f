"""Loaders for the data sets raynas trains and evaluates on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from raynas.checks import check_choice
from raynas.data.transforms import AUGMENTS, Recipe
from raynas.errors import ConfigError

__all__ = ["Data", "available", "load", "from_datasets", "default_augment", "channels_of", "FOLDER_SETS", "CUSTOM"]

logger = logging.getLogger(__name__)

FOLDER_SETS = ("folder", "imagenet")
"""Data sets read from an image folder (``data_dir``) image by image."""
CUSTOM = "custom"
"""The name recorded for a data set given as Dataset objects (:func:`from_datasets`)."""


@dataclass(frozen=True)
class Data:
    """Train and validation splits, and how to read them.

    ``train`` and ``val`` yield ``(image CHW float32, label)``. ``calib`` holds the training
    images prepared like the validation ones (no random augmentation), for BN
    re-calibration; None means ``train``. ``resizes`` is True when the data sets take
    ``(index, resolution)`` keys and prepare each image at that resolution (image folders);
    otherwise images keep their native size (``image_size``) and the network resizes them.
    """

    name: str
    train: Dataset
    val: Dataset
    num_classes: int
    in_channels: int
    image_size: int | None
    calib: Dataset | None = None
    resizes: bool = False
    corrupt: tuple[str, ...] = ()  # unreadable images left out (skip_corrupt)

    @property
    def calibration_set(self) -> Dataset:
        return self.train if self.calib is None else self.calib


def _split(x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int, name: str, num_classes: int) -> Data:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = int(round(len(x) * val_fraction))
    val_idx, train_idx = order[:n_val], order[n_val:]
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    train_idx_t, val_idx_t = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
    return Data(
        name=name,
        train=TensorDataset(xt[train_idx_t], yt[train_idx_t]),
        val=TensorDataset(xt[val_idx_t], yt[val_idx_t]),
        num_classes=num_classes,
        in_channels=x.shape[1],
        image_size=x.shape[-1],
    )


def _digits(*, seed: int, val_fraction: float, data_dir: str | None, download: bool, size: int | None,
            **_: Any) -> Data:
    """scikit-learn's handwritten digits (1,797 8x8 images, shipped inside the package)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32) / 16.0
    x = (x - 0.3) / 0.4  # roughly zero mean, unit variance over the set
    return _split(x[:, None, :, :], bunch.target, val_fraction, seed, "digits", 10)


def _synthetic(*, seed: int, val_fraction: float, data_dir: str | None, download: bool, size: int | None,
               channels: int = 1, side: int = 8, default_size: int = 256, name: str = "synthetic", **_: Any) -> Data:
    """Learnable random data: each class is a fixed random pattern plus noise (for tests)."""
    n = size or default_size
    rng = np.random.default_rng(seed)
    num_classes = 10
    prototypes = rng.normal(size=(num_classes, channels, side, side)).astype(np.float32)
    labels = rng.integers(num_classes, size=n)
    x = prototypes[labels] + 0.5 * rng.normal(size=(n, channels, side, side)).astype(np.float32)
    return _split(x, labels, val_fraction, seed, name, num_classes)


def _synthetic224(**kwargs: Any) -> Data:
    """``synthetic`` shaped like ImageNet inputs: 3 x 224 x 224, 10 classes, 48 images (for tests)."""
    return _synthetic(**kwargs, channels=3, side=224, default_size=48, name="synthetic224")


_TORCHVISION = {
    # name: (torchvision class, number of classes, per-channel mean, std)
    "cifar10": ("CIFAR10", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ("CIFAR100", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": ("MNIST", 10, (0.1307,), (0.3081,)),
    "fashionmnist": ("FashionMNIST", 10, (0.2860,), (0.3530,)),
}


def _torchvision_loader(name: str) -> Callable[..., Data]:
    cls_name, num_classes, mean, std = _TORCHVISION[name]

    def load_set(*, seed: int, val_fraction: float, data_dir: str | None, download: bool, size: int | None,
                 augment: str, **_: Any) -> Data:
        import torchvision

        root = Path(data_dir).expanduser() if data_dir else Path("~/.cache/raynas/data").expanduser()
        cls = getattr(torchvision.datasets, cls_name)
        try:
            train = cls(root=str(root), train=True, download=download)
            test = cls(root=str(root), train=False, download=download)
        except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
            raise ConfigError(
                f"data set {name!r} not found under {str(root)!r} ({exc}); download it with "
                f"`raynas train --dataset {name} --data-dir {root} --download` (or "
                f"torchvision.datasets.{cls_name}(root={str(root)!r}, download=True)) on a machine with internet"
            ) from exc
        def to_array(ds) -> tuple[np.ndarray, np.ndarray]:
            data = np.asarray(ds.data, dtype=np.float32) / 255.0
            if data.ndim == 3:
                data = data[:, None]
            else:
                data = data.transpose(0, 3, 1, 2)
            m = np.asarray(mean, dtype=np.float32)[None, :, None, None]
            s = np.asarray(std, dtype=np.float32)[None, :, None, None]
            return (data - m) / s, np.asarray(ds.targets, dtype=np.int64)

        xt, yt = to_array(train)
        xv, yv = to_array(test)
        if size:
            xt, yt = xt[:size], yt[:size]
        tensors = TensorDataset(torch.from_numpy(np.ascontiguousarray(xt)), torch.from_numpy(yt))
        augmented = None
        if augment != "none":  # torchvision's own set (uint8 in memory), augmented per image
            family = "cifar" if name.startswith("cifar") else "mnist"
            train.transform = Recipe(family=family, train=True, augment=augment, mean=mean, std=std)(0)
            augmented = train if not size else torch.utils.data.Subset(train, range(min(size, len(train))))
        return Data(
            name=name,
            train=tensors if augmented is None else augmented,
            val=TensorDataset(torch.from_numpy(np.ascontiguousarray(xv)), torch.from_numpy(yv)),
            num_classes=num_classes,
            in_channels=xt.shape[1],
            image_size=xt.shape[-1],
            calib=None if augmented is None else tensors,
        )

    return load_set


def _folder_loader(name: str) -> Callable[..., Data]:
    def load_set(*, seed: int, val_fraction: float, data_dir: str | None, download: bool, size: int | None,
                 augment: str, skip_corrupt: bool = False, check_images: bool = False, **_: Any) -> Data:
        from raynas.data.folder import FolderDataset, scan_folder

        if data_dir is None:
            raise ConfigError(f"data set {name!r} reads an image folder: give data_dir (--data-dir ROOT) with "
                              "ROOT/train/<class>/<image> and ROOT/val/<class>/<image>")
        if download:
            raise ConfigError(f"data set {name!r} cannot be downloaded; download=True (--download) applies to the "
                              f"torchvision sets {sorted(_TORCHVISION)}")
        index = scan_folder(data_dir, check_images=check_images, skip_corrupt=skip_corrupt)
        train_samples = index.train
        if size:
            train_samples = train_samples.select(sorted(np.random.default_rng(seed).permutation(len(train_samples))[:size]))
        common = dict(skip_corrupt=skip_corrupt, classes=index.classes)
        evaluation = Recipe(family=name, train=False)
        return Data(
            name=name,
            train=FolderDataset(train_samples, Recipe(family=name, train=True, augment=augment), **common),
            val=FolderDataset(index.val, evaluation, **common),
            num_classes=len(index.classes),
            in_channels=3,
            image_size=None,
            calib=FolderDataset(train_samples, evaluation, **common),
            resizes=True,
            corrupt=index.corrupt,
        )

    return load_set


_LOADERS: dict[str, Callable[..., Data]] = {
    "digits": _digits,
    "synthetic": _synthetic,
    "synthetic224": _synthetic224,
    **{name: _torchvision_loader(name) for name in _TORCHVISION},
    **{name: _folder_loader(name) for name in FOLDER_SETS},
}


def channels_of(name: str) -> int:
    """Channels of a named data set's images, without loading it."""
    if name not in _LOADERS:
        raise ConfigError(f"unknown data set {name!r}; available: {', '.join(available())}")
    if name in ("digits", "synthetic"):
        return 1
    return len(_TORCHVISION[name][2]) if name in _TORCHVISION else 3


def default_augment(name: str) -> str:
    """The augmentation a data set gets when none is asked for: ``standard`` for CIFAR and
    image folders, ``none`` for the others."""
    return "standard" if name in FOLDER_SETS or name.startswith("cifar") else "none"


def _check_augment(name: str, augment: str | None) -> str:
    if augment is None:
        return default_augment(name)
    check_choice(None, "augment", augment, AUGMENTS)
    if augment != "none" and name in ("digits", "synthetic", "synthetic224"):
        raise ConfigError(f"augment={augment!r} does not apply to the in-memory data set {name!r} (only 'none'); "
                          f"augmentation applies to {sorted(_TORCHVISION) + list(FOLDER_SETS)}")
    return augment


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(_LOADERS)


def preprocessing(name: str) -> dict[str, Any]:
    """How raw images of data set ``name`` become the tensors a network trained on it takes.

    ``x = (pixel * scale - mean) / std`` per channel, in NCHW float32 layout, at the subnet's
    resolution: ``resize`` says how images reach it. Recorded in exported models
    (:func:`raynas.export.export_subnet`) so they can be fed without reading raynas.

    Raises:
        ConfigError: an unknown data set (lists the valid ones).
    """
    if name == "digits":
        return {"dataset": name, "scale": 1 / 16, "mean": [0.3], "std": [0.4],
                "resize": "8x8 images (values 0..16), resized bilinearly to the resolution"}
    if name == "synthetic":
        return {"dataset": name, "scale": 1.0, "mean": [0.0], "std": [1.0],
                "resize": "8x8 random test patterns, already normalised, resized bilinearly to the resolution"}
    if name in _TORCHVISION:
        _, _, mean, std = _TORCHVISION[name]
        return {"dataset": name, "scale": 1 / 255, "mean": list(mean), "std": list(std),
                "resize": "native size, resized bilinearly to the resolution"}
    if name in FOLDER_SETS:
        from raynas.data.transforms import EVAL_CROP_FRACTION, IMAGENET_MEAN, IMAGENET_STD

        return {"dataset": name, "scale": 1 / 255, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                "resize": f"shorter side to ceil(resolution / {EVAL_CROP_FRACTION}), then a centre crop to the "
                          "resolution (RGB)"}
    raise ConfigError(f"unknown data set {name!r}; available: {', '.join(available())}")


def load(
    name: str = "digits",
    *,
    seed: int = 0,
    val_fraction: float = 1 / 3,
    data_dir: str | None = None,
    download: bool = False,
    size: int | None = None,
    augment: str | None = None,
    skip_corrupt: bool = False,
    check_images: bool = False,
) -> Data:
    """Load a data set with a fixed, seeded train/validation split.

    Args:
        name: one of :func:`available`.
        seed: seeds the split (and the synthetic data).
        val_fraction: share of ``digits``/``synthetic`` kept for validation; the
            torchvision sets use their own test split for validation.
        data_dir: where torchvision sets live (default ``~/.cache/raynas/data``); the root of
            an image folder for ``folder`` and ``imagenet`` (``ROOT/train/<class>/*``,
            ``ROOT/val/<class>/*``, see :mod:`raynas.data.folder`).
        download: let torchvision fetch a missing set.
        size: number of examples for ``synthetic``; a cap on the training set otherwise.
        augment: the training recipe, one of :data:`raynas.data.transforms.AUGMENTS`; None: the
            data set's default (:func:`default_augment`).
        skip_corrupt: image folders: skip and count unreadable images instead of raising.
        check_images: image folders: open every image's header now (fail before training).
    """
    if not isinstance(name, str):
        raise ConfigError(f"data set must be a name, one of {available()}, got a {type(name).__name__}; give "
                          "Dataset objects through raynas.data.from_datasets(train, val, num_classes)")
    if name not in _LOADERS:
        raise ConfigError(f"unknown data set {name!r}; available: {', '.join(available())}")
    augment = _check_augment(name, augment)
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 20):
        raise ConfigError(f"size must be an int >= 20 or None, got {size!r}")
    data = _LOADERS[name](seed=seed, val_fraction=val_fraction, data_dir=data_dir, download=download, size=size,
                          augment=augment, skip_corrupt=skip_corrupt, check_images=check_images)
    logger.debug("loaded %s: %d train, %d val", name, len(data.train), len(data.val))
    return data


def from_datasets(train: Dataset, val: Dataset, num_classes: int, *, calib: Dataset | None = None,
                  name: str = CUSTOM) -> Data:
    """A :class:`Data` from any map-style ``torch.utils.data.Dataset`` pair.

    Items are ``(image tensor CHW, integer label)``; images of one size (the network
    resizes them to the subnet's resolution). ``calib``: the training images without
    random augmentation, for BN re-calibration (default: ``train``). Pass the result as
    ``raynas.train.train(config, out, data=...)`` with ``TrainConfig(dataset="custom")``,
    ``SupernetEvaluator(checkpoint, data=...)`` or ``export_subnet(..., data=...)``.
    """
    for label, ds in (("train", train), ("val", val)) + ((("calib", calib),) if calib is not None else ()):
        if not isinstance(ds, Dataset) and not (hasattr(ds, "__getitem__") and hasattr(ds, "__len__")):
            raise ConfigError(f"{label} must be a map-style torch.utils.data.Dataset, got {type(ds).__name__}")
        if len(ds) == 0:
            raise ConfigError(f"{label} data set is empty")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be an int >= 1, got {num_classes!r}")
    item = train[0]
    if not isinstance(item, (tuple, list)) or len(item) != 2 or not isinstance(item[0], torch.Tensor) \
            or item[0].ndim != 3:
        raise ConfigError(f"train[0] must be (image tensor of shape (channels, height, width), label), got "
                          f"{type(item).__name__} {getattr(item[0], 'shape', '') if isinstance(item, (tuple, list)) else ''}")
    channels, height, width = item[0].shape
    if height != width:
        raise ConfigError(f"train images must be square (the subnets take square inputs), got {height}x{width}; "
                          "crop them in the Dataset's transform")
    return Data(name=name, train=train, val=val, num_classes=num_classes, in_channels=int(channels),
                image_size=int(width), calib=calib)
