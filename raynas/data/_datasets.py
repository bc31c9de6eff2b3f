"""Loaders for the data sets raynas trains and evaluates on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import TensorDataset

from raynas.errors import ConfigError

__all__ = ["Data", "available", "load"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Data:
    """Train and validation splits as tensor data sets (images NCHW float32, labels int64)."""

    name: str
    train: TensorDataset
    val: TensorDataset
    num_classes: int
    in_channels: int
    image_size: int


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


def _digits(*, seed: int, val_fraction: float, data_dir: str | None, download: bool, size: int | None) -> Data:
    """scikit-learn's handwritten digits (1,797 8x8 images, shipped inside the package)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32) / 16.0
    x = (x - 0.3) / 0.4  # roughly zero mean, unit variance over the set
    return _split(x[:, None, :, :], bunch.target, val_fraction, seed, "digits", 10)


def _synthetic(*, seed: int, val_fraction: float, data_dir: str | None, download: bool, size: int | None) -> Data:
    """Learnable random data: each class is a fixed random pattern plus noise (for tests)."""
    n = size or 256
    rng = np.random.default_rng(seed)
    num_classes, channels, side = 10, 1, 8
    prototypes = rng.normal(size=(num_classes, channels, side, side)).astype(np.float32)
    labels = rng.integers(num_classes, size=n)
    x = prototypes[labels] + 0.5 * rng.normal(size=(n, channels, side, side)).astype(np.float32)
    return _split(x, labels, val_fraction, seed, "synthetic", num_classes)


_TORCHVISION = {
    # name: (torchvision class, number of classes, per-channel mean, std)
    "cifar10": ("CIFAR10", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ("CIFAR100", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "mnist": ("MNIST", 10, (0.1307,), (0.3081,)),
    "fashionmnist": ("FashionMNIST", 10, (0.2860,), (0.3530,)),
}


def _torchvision_loader(name: str) -> Callable[..., Data]:
    cls_name, num_classes, mean, std = _TORCHVISION[name]

    def load_set(*, seed: int, val_fraction: float, data_dir: str | None, download: bool, size: int | None) -> Data:
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
        return Data(
            name=name,
            train=TensorDataset(torch.from_numpy(np.ascontiguousarray(xt)), torch.from_numpy(yt)),
            val=TensorDataset(torch.from_numpy(np.ascontiguousarray(xv)), torch.from_numpy(yv)),
            num_classes=num_classes,
            in_channels=xt.shape[1],
            image_size=xt.shape[-1],
        )

    return load_set


_LOADERS: dict[str, Callable[..., Data]] = {
    "digits": _digits,
    "synthetic": _synthetic,
    **{name: _torchvision_loader(name) for name in _TORCHVISION},
}


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(_LOADERS)


def load(
    name: str = "digits",
    *,
    seed: int = 0,
    val_fraction: float = 1 / 3,
    data_dir: str | None = None,
    download: bool = False,
    size: int | None = None,
) -> Data:
    """Load a data set with a fixed, seeded train/validation split.

    Args:
        name: one of :func:`available`.
        seed: seeds the split (and the synthetic data).
        val_fraction: share of ``digits``/``synthetic`` kept for validation; the
            torchvision sets use their own test split for validation.
        data_dir: where torchvision sets live (default ``~/.cache/raynas/data``).
        download: let torchvision fetch a missing set.
        size: number of examples for ``synthetic``; a cap on the training set otherwise.
    """
    if name not in _LOADERS:
        raise ConfigError(f"unknown data set {name!r}; available: {', '.join(available())}")
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 20):
        raise ConfigError(f"size must be an int >= 20 or None, got {size!r}")
    data = _LOADERS[name](seed=seed, val_fraction=val_fraction, data_dir=data_dir, download=download, size=size)
    logger.debug("loaded %s: %d train, %d val", name, len(data.train), len(data.val))
    return data
