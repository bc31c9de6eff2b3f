"""Image transforms (torchvision.transforms v2): the evaluation transform, the normalisation
constants, and the training recipes per data-set family.

The evaluation transform is the one once-for-all evaluates with (resize the shorter side
to ``ceil(R / 0.875)`` with bilinear interpolation, centre crop ``R x R``, scale to
``[0, 1]``, normalise with the ImageNet mean and std), so a subnet evaluated here sees the
images OFA's published accuracies were measured on. It takes PIL images (resized by PIL,
as OFA does) or image tensors.

A :class:`Recipe` is a small picklable object; ``recipe(resolution)`` builds the transform
that prepares a PIL image at that resolution. Families:

- ``folder`` (any image folder) and ``imagenet``: training ``RandomResizedCrop(R)`` +
  horizontal flip (``imagenet`` adds once-for-all's colour jitter: brightness 32/255,
  saturation 0.5); evaluation :func:`eval_transform`. ImageNet's mean and std.
- ``cifar``: training random crop of the native 32 px with 4-pixel padding + horizontal flip;
  the network resizes to the subnet's resolution (in-memory data).
- ``mnist``: training random crop with 2-pixel padding (no flip: digits are not symmetric).

``augment`` (``--augment``): ``none`` (training images prepared like evaluation ones),
``standard`` (the family's recipe above), ``autoaugment`` (standard + AutoAugment's ImageNet
policy, its CIFAR-10 policy for ``cifar``), ``randaugment`` (standard + RandAugment, 2 ops,
magnitude 9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torchvision.transforms import v2

from raynas.errors import ConfigError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "EVAL_CROP_FRACTION", "eval_resize_size", "eval_transform",
           "AUGMENTS", "FAMILIES", "Recipe"]

AUGMENTS = ("none", "standard", "autoaugment", "randaugment")
"""Training recipes (``--augment``)."""

FAMILIES = ("folder", "imagenet", "cifar", "mnist")
"""Data-set families with their own recipe."""

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


@dataclass(frozen=True)
class Recipe:
    """``recipe(resolution)``: the transform preparing one PIL image for training (``train=True``,
    with ``augment``) or evaluation."""

    family: str = "folder"
    train: bool = False
    augment: str = "none"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"Recipe.family must be one of {list(FAMILIES)}, got {self.family!r}")
        if self.augment not in AUGMENTS:
            raise ConfigError(f"augment must be one of {list(AUGMENTS)}, got {self.augment!r}")

    def __call__(self, resolution: int) -> Callable:
        augmenting = self.train and self.augment != "none"
        if self.family in ("folder", "imagenet") and not augmenting:
            return eval_transform(int(resolution), mean=self.mean, std=self.std)
        steps = self._geometry(int(resolution)) if augmenting else []
        if augmenting and self.augment == "autoaugment":
            policy = v2.AutoAugmentPolicy.CIFAR10 if self.family == "cifar" else v2.AutoAugmentPolicy.IMAGENET
            steps.append(v2.AutoAugment(policy))
        elif augmenting and self.augment == "randaugment":
            steps.append(v2.RandAugment(num_ops=2, magnitude=9))
        return v2.Compose(steps + [v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
                                   v2.Normalize(mean=list(self.mean), std=list(self.std))])

    def _geometry(self, resolution: int) -> list:
        if self.family in ("folder", "imagenet"):
            steps = [v2.RandomResizedCrop(resolution, antialias=True), v2.RandomHorizontalFlip()]
            if self.family == "imagenet":
                steps.append(v2.ColorJitter(brightness=32 / 255, saturation=0.5))
            return steps
        if self.family == "cifar":  # in-memory sets keep their native size; the network resizes
            return [v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()]
        return [v2.RandomCrop(28, padding=2)]
