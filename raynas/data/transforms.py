"""Image transforms for ImageNet-style data: the evaluation transform and the normalisation constants.

The evaluation transform is the one once-for-all evaluates with (resize the shorter side
to ``ceil(R / 0.875)`` with bilinear interpolation, centre crop ``R x R``, scale to
``[0, 1]``, normalise with the ImageNet mean and std), so a subnet evaluated here sees the
images OFA's published accuracies were measured on. It takes PIL images (resized by PIL,
as OFA does) or image tensors.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torchvision.transforms import v2

from raynas.errors import ConfigError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "EVAL_CROP_FRACTION", "eval_resize_size", "eval_transform"]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Per-channel mean of ImageNet training images (RGB, values in [0, 1])."""

IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Per-channel standard deviation of ImageNet training images (RGB, values in [0, 1])."""

EVAL_CROP_FRACTION = 0.875
"""The centre crop keeps this fraction of the resized shorter side (224 of 256)."""


def _check_resolution(resolution: int) -> None:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ConfigError(f"resolution must be a positive int, got {resolution!r}")


def eval_resize_size(resolution: int, crop_fraction: float = EVAL_CROP_FRACTION) -> int:
    """The shorter side images are resized to before the centre crop: ``ceil(resolution / crop_fraction)``."""
    _check_resolution(resolution)
    if not isinstance(crop_fraction, (int, float)) or isinstance(crop_fraction, bool) or not 0 < crop_fraction <= 1:
        raise ConfigError(f"crop_fraction must be a number in (0, 1], got {crop_fraction!r}")
    return int(math.ceil(resolution / crop_fraction))


def eval_transform(
    resolution: int,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    crop_fraction: float = EVAL_CROP_FRACTION,
) -> v2.Compose:
    """Resize to :func:`eval_resize_size`, centre crop ``resolution``, float32 in [0, 1], normalise.

    Returns a ``torchvision.transforms.v2.Compose`` mapping a PIL image (or a uint8 image
    tensor) to a normalised ``(C, resolution, resolution)`` float32 tensor.
    """
    size = eval_resize_size(resolution, crop_fraction)
    return v2.Compose(
        [
            v2.Resize(size, interpolation=v2.InterpolationMode.BILINEAR, antialias=True),
            v2.CenterCrop(resolution),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(mean), std=list(std)),
        ]
    )
