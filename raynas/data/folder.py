"""Image folders in torchvision's ``ImageFolder`` layout, ``train/`` and ``val/`` below one root.

::

    ROOT/train/<class>/<image>      ROOT/val/<class>/<image>

(the ImageNet layout). :func:`scan_folder` checks the layout and lists the images once;
:class:`FolderDataset` reads and decodes one image per ``__getitem__``, so a data set is
never held whole in memory, and prepares it at the resolution its key asks for (see
:class:`raynas.data.ResolutionBatchSampler`).

Rules, each broken one a :class:`raynas.ConfigError` naming the path:

- ``ROOT``, ``ROOT/train`` and ``ROOT/val`` must exist;
- ``train/`` and ``val/`` hold the same class folders, and no class folder is empty;
- files whose extension is not an image's (torchvision's ``IMG_EXTENSIONS``) are ignored
  and counted;
- an image that cannot be read raises :class:`CorruptImage` naming the file, or, with
  ``skip_corrupt=True``, is skipped and counted;
- grayscale, palette and RGBA images are converted to RGB (alpha dropped); every image has 3
  channels; images of any size and aspect ratio are cropped and resized by the recipe
  (:mod:`raynas.data.transforms`), never squashed.

The image list is kept as one byte buffer plus offsets (not a Python list of strings), so
``DataLoader`` worker processes do not copy it page by page as they touch it.
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from raynas.errors import ConfigError

__all__ = ["IMAGE_EXTENSIONS", "CorruptImage", "FolderIndex", "FolderDataset", "Samples", "scan_folder", "read_image"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""The extensions read as images (torchvision's ``IMG_EXTENSIONS``); other files are ignored."""

LAYOUT = "ROOT/train/<class>/<image> and ROOT/val/<class>/<image>"
_SKIP_HINT = "pass --skip-corrupt (skip_corrupt=True) to skip and count unreadable images instead"


class CorruptImage(ConfigError):
    """An image file cannot be read or decoded; the message names the file."""

    def __init__(self, message: str):
        # A DataLoader worker's error comes back as "Caught CorruptImage in DataLoader worker ...
        # Original Traceback ...": keep the original one-line message.
        found = re.findall(r"CorruptImage: (.+)$", message.strip())
        super().__init__(found[-1] if message.startswith("Caught ") and found else message)


class Samples:
    """A compact, read-only list of ``(path, label)``: one byte buffer of UTF-8 paths, offsets, labels."""

    def __init__(self, root: str, paths: Iterable[str], labels: Iterable[int]):
        encoded = [p.encode("utf-8", "surrogateescape") for p in paths]
        self.root = root
        self._buffer = np.frombuffer(b"".join(encoded), dtype=np.uint8) if encoded else np.zeros(0, np.uint8)
        self._offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=self._offsets[1:])
        self.targets = np.asarray(list(labels), dtype=np.int64)
        if len(self.targets) != len(encoded):
            raise ValueError(f"{len(encoded)} paths but {len(self.targets)} labels")

    def __len__(self) -> int:
        return len(self.targets)

    def relative(self, index: int) -> str:
        start, end = self._offsets[index], self._offsets[index + 1]
        return self._buffer[start:end].tobytes().decode("utf-8", "surrogateescape")

    def path(self, index: int) -> str:
        return os.path.join(self.root, self.relative(index))

    def label(self, index: int) -> int:
        return int(self.targets[index])

    def select(self, indices: Iterable[int]) -> "Samples":
        keep = [int(i) for i in indices]
        return Samples(self.root, [self.relative(i) for i in keep], self.targets[keep] if keep else [])

    def without(self, paths: set[str]) -> "Samples":
        return self.select(i for i in range(len(self)) if self.path(i) not in paths)


@dataclass(frozen=True)
class FolderIndex:
    """The checked layout of an image folder."""

    root: str
    classes: tuple[str, ...]
    train: Samples
    val: Samples
    ignored: int = 0  # non-image files
    corrupt: tuple[str, ...] = ()  # unreadable images found by the header check (skipped)


def _list_split(split_dir: Path) -> tuple[list[str], dict[str, list[str]], int]:
    """Class names, the image files (relative to ``split_dir``'s parent) of each, and the ignored files."""
    classes, images, ignored = [], {}, 0
    for entry in sorted(os.scandir(split_dir), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=True):
            classes.append(entry.name)
            found: list[str] = []
            for folder, dirs, files in os.walk(entry.path, followlinks=True):
                dirs.sort()
                for name in sorted(files):
                    if name.lower().endswith(IMAGE_EXTENSIONS):
                        found.append(os.path.relpath(os.path.join(folder, name), split_dir.parent))
                    else:
                        ignored += 1
            images[entry.name] = found
        else:
            ignored += 1  # a file beside the class folders
    return classes, images, ignored


def _check_header(path: str) -> str | None:
    """None if PIL identifies ``path`` as an image, else the reason it cannot."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.size  # noqa: B018 - parsed with the header
        return None
    except Exception as exc:  # PIL raises many types for bad files
        return f"{type(exc).__name__}: {exc}"


def scan_folder(root: str | os.PathLike, *, check_images: bool = False, skip_corrupt: bool = False,
                threads: int = 8) -> FolderIndex:
    """Check the layout below ``root`` and list its images.

    ``check_images=True`` also opens every image's header (in ``threads`` threads): an
    unreadable one raises :class:`CorruptImage` naming it, or with ``skip_corrupt=True`` is
    left out and counted. Images whose pixel data are damaged past the header are found
    when read (:class:`FolderDataset`).
    """
    if not isinstance(root, (str, os.PathLike)) or not os.fspath(root):
        raise ConfigError(f"data_dir must be the path of an image folder ({LAYOUT}), got {root!r}")
    base = Path(root).expanduser()
    if not base.exists():
        raise ConfigError(f"data_dir {str(base)!r} does not exist; an image folder has {LAYOUT}")
    if not base.is_dir():
        raise ConfigError(f"data_dir {str(base)!r} is not a folder; an image folder has {LAYOUT}")
    splits: dict[str, tuple[list[str], dict[str, list[str]], int]] = {}
    for split in ("train", "val"):
        folder = base / split
        if not folder.is_dir():
            present = sorted(e.name for e in os.scandir(base))[:10]
            raise ConfigError(f"data_dir {str(base)!r} has no {split}/ folder (it holds {present}); an image folder "
                              f"has {LAYOUT}")
        classes, images, ignored = _list_split(folder)
        if not classes:
            raise ConfigError(f"{str(folder)!r} holds no class folders; an image folder has {LAYOUT}")
        for name in classes:
            if not images[name]:
                raise ConfigError(f"class folder {str(folder / name)!r} holds no image files (extensions "
                                  f"{', '.join(IMAGE_EXTENSIONS)}); add images or remove the folder")
        splits[split] = (classes, images, ignored)
    train_classes, val_classes = splits["train"][0], splits["val"][0]
    if train_classes != val_classes:
        only_train = sorted(set(train_classes) - set(val_classes))
        only_val = sorted(set(val_classes) - set(train_classes))
        raise ConfigError(f"class folders differ between {str(base / 'train')!r} and {str(base / 'val')!r}: only in "
                          f"train/: {only_train[:10]}, only in val/: {only_val[:10]}; both need the same classes")
    classes = tuple(train_classes)
    tables = {}
    for split, (_, images, _) in splits.items():
        paths = [p for name in classes for p in images[name]]
        labels = [label for label, name in enumerate(classes) for _ in images[name]]
        tables[split] = Samples(str(base), paths, labels)
    ignored = splits["train"][2] + splits["val"][2]
    if ignored:
        logger.info("%s: ignored %d non-image file(s)", base, ignored)
    corrupt: list[str] = []
    if check_images:
        everything = [t.path(i) for t in tables.values() for i in range(len(t))]
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            reasons = list(pool.map(_check_header, everything, chunksize=256))
        bad = [(path, reason) for path, reason in zip(everything, reasons) if reason is not None]
        if bad and not skip_corrupt:
            path, reason = bad[0]
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise CorruptImage(f"image file {path!r} cannot be read ({reason}){more}; {_SKIP_HINT}")
        if bad:
            corrupt = [path for path, _ in bad]
            logger.warning("%s: skipping %d unreadable image(s), e.g. %s", base, len(bad), corrupt[:3])
            drop = set(corrupt)
            tables = {split: table.without(drop) for split, table in tables.items()}
            for split, table in tables.items():
                counts = np.bincount(table.targets, minlength=len(classes))
                if (counts == 0).any():
                    empty = classes[int(np.argmin(counts))]
                    raise ConfigError(f"class folder {str(base / split / empty)!r} holds no readable image after "
                                      f"skipping {len(bad)} unreadable one(s)")
    return FolderIndex(str(base), classes, tables["train"], tables["val"], ignored, tuple(corrupt))


def read_image(path: str):
    """The image at ``path`` as an RGB ``PIL.Image`` (grayscale, palette and RGBA converted)."""
    from PIL import Image

    with open(path, "rb") as f:
        image = Image.open(f)
        if image.mode in ("P", "PA", "LA"):  # through RGBA: palette transparency converts without a warning
            image = image.convert("RGBA")
        return image.convert("RGB")


class FolderDataset(torch.utils.data.Dataset):
    """The images of one split, read and decoded one at a time.

    A key is an index, or ``(index, resolution)``: the image is prepared at that resolution
    by ``recipe(resolution)`` (a transform, built once per resolution and process); a plain
    index uses :attr:`resolution`. Returns ``(image tensor CHW, label)``, or ``None`` for an
    unreadable image when ``skip_corrupt`` (the loader drops and counts it).
    """

    def __init__(self, samples: Samples, recipe: Callable[[int], Callable], *, resolution: int = 224,
                 skip_corrupt: bool = False, classes: tuple[str, ...] = ()):
        self.samples = samples
        self.recipe = recipe
        self.resolution = resolution
        self.skip_corrupt = skip_corrupt
        self.classes = classes
        self._transforms: dict[int, Callable] = {}

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> np.ndarray:
        return self.samples.targets

    def with_recipe(self, recipe: Callable[[int], Callable]) -> "FolderDataset":
        """The same images prepared by another recipe."""
        return FolderDataset(self.samples, recipe, resolution=self.resolution, skip_corrupt=self.skip_corrupt,
                             classes=self.classes)

    def transform(self, resolution: int) -> Callable:
        if resolution not in self._transforms:
            self._transforms[resolution] = self.recipe(resolution)
        return self._transforms[resolution]

    def __getitem__(self, key: Any):
        index, resolution = key if isinstance(key, tuple) else (key, self.resolution)
        path = self.samples.path(index)
        try:
            image = read_image(path)
        except Exception as exc:  # PIL and the OS raise many types for unreadable files
            if self.skip_corrupt:
                logger.warning("skipping unreadable image %s (%s: %s)", path, type(exc).__name__, exc)
                return None
            raise CorruptImage(f"image file {path!r} cannot be read ({type(exc).__name__}: {exc}); "
                               f"{_SKIP_HINT}") from None
        return self.transform(int(resolution))(image), self.samples.label(index)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_transforms": {}}
