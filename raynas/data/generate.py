"""Write a small image folder (``ROOT/train/<class>/*.png``, ``ROOT/val/<class>/*.png``) from
scikit-learn's embedded digits: for tests, examples and benchmarks, with no download."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["write_digits_folder"]


def write_digits_folder(root: str | os.PathLike, *, train_images: int = 1200, val_images: int = 597,
                        size: int = 32, seed: int = 0, fmt: str = "png") -> Path:
    """Write digits as ``size`` x ``size`` RGB images into ``root``; return ``root``.

    Images ``0 .. train_images-1`` of a seeded permutation of the 1,797 digits go to
    ``train/``, the next ``val_images`` to ``val/``; beyond 1,797 the digits repeat with a
    different colour and a one-pixel shift, so every file differs. Class folders are
    ``0`` .. ``9``.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.images))
    base = Path(root)
    total = train_images + val_images
    for i in range(total):
        k = int(order[i % len(order)])
        glyph = digits.images[k] / 16.0  # 8x8 in [0, 1]
        if i >= len(order):
            glyph = np.roll(glyph, shift=(int(rng.integers(-1, 2)), int(rng.integers(-1, 2))), axis=(0, 1))
        colour = rng.uniform(0.4, 1.0, size=3) if i >= len(order) else np.array([1.0, 1.0, 1.0])
        rgb = (glyph[:, :, None] * colour[None, None, :] * 255).astype(np.uint8)
        image = Image.fromarray(rgb, mode="RGB").resize((size, size), Image.BILINEAR)
        split = "train" if i < train_images else "val"
        folder = base / split / str(int(digits.target[k]))
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i:06d}.{fmt}")
    return base
