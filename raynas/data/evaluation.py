"""The fixed images a subnet is evaluated on: BN re-calibration and validation at its resolution.

:class:`EvalData` picks a seeded subset of training images for BN re-calibration
(``calib_images``; once-for-all uses 2,000) and optionally a seeded subset of validation
images (``val_images``; once-for-all searches on 10,000), once. For image folders every
subnet's images are then prepared at that subnet's resolution (resize to ``ceil(R/0.875)``,
centre crop ``R``); in-memory tensors keep their native size and the network resizes them.
The same data, seed and sizes give the same images in the same batches, so a search's
evaluator and an export re-calibrate identically.

For multi-fidelity evaluation, :meth:`EvalData.validation_chunks` splits the validation
images into chunks of a fixed, seeded order (a permutation of the subset, so each chunk
is a sample of every class even when the folder lists images class by class): every
subnet sees the same images in the same order, and the images seen after ``k`` chunks
are the first ``k`` chunks.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import torch
from torch.utils.data import DataLoader, TensorDataset

from raynas.data._datasets import Data
from raynas.data.loader import StreamingLoader
from raynas.errors import ConfigError

__all__ = ["EvalData", "ValidationChunk"]

logger = logging.getLogger(__name__)


def _optional_count(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{name} must be an int >= 1 or None, got {value!r}")


@dataclass(frozen=True)
class ValidationChunk:
    """One chunk of the validation images: its batches and how far through the set it ends.

    ``fraction`` is the share of the validation images (of the subset) in this chunk and
    all chunks before it; the last chunk's is 1.0.
    """

    index: int
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
    fraction: float


class EvalData:
    """Calibration batches and validation batches of ``data`` at a resolution.

    Args:
        data: the data set.
        calib_images: training images for BN re-calibration (default
            ``calibration_batches * batch_size``), a seeded subset, in batches of ``batch_size``.
        val_images: a seeded subset of validation images (None: all of them).
        seed: seeds both subsets.
        workers: ``DataLoader`` workers reading image folders (0: in this process).
        cache_bytes: calibration batches kept in memory, per resolution, up to this many bytes
            (least recently used resolution dropped first; the current one always kept).
    """

    def __init__(self, data: Data, *, calib_images: int | None = None, calibration_batches: int = 4,
                 batch_size: int = 128, val_images: int | None = None, seed: int = 0, workers: int = 0,
                 cache_bytes: int = 1 << 30):
        _optional_count("calib_images", calib_images)
        _optional_count("val_images", val_images)
        for name, value in (("calibration_batches", calibration_batches), ("batch_size", batch_size)):
            _optional_count(name, value)
        self.data = data
        self.batch_size = batch_size
        self.workers = workers
        self.cache_bytes = cache_bytes
        calib_set = data.calibration_set
        wanted = calib_images if calib_images is not None else calibration_batches * batch_size
        order = torch.randperm(len(calib_set), generator=torch.Generator().manual_seed(seed))
        self.calib_indices = order[:wanted].tolist()
        if calib_images is not None and calib_images > len(calib_set):
            logger.warning("calib_images=%d but the training split holds %d images; using all of them",
                           calib_images, len(calib_set))
        self.val_indices: list[int] | None = None
        if val_images is not None:
            if val_images >= len(data.val):
                if val_images > len(data.val):
                    logger.warning("val_images=%d but the validation split holds %d images; using all of them",
                                   val_images, len(data.val))
            else:
                chosen = torch.randperm(len(data.val), generator=torch.Generator().manual_seed(seed))[:val_images]
                self.val_indices = sorted(chosen.tolist())
        self._calibration: OrderedDict[int | None, list[torch.Tensor]] = OrderedDict()
        self._val_loader: Any = None
        self._chunk_source: Any = None
        self.seed = seed

    @property
    def num_val_images(self) -> int:
        return len(self.data.val) if self.val_indices is None else len(self.val_indices)

    def _key(self, resolution: int | None) -> int | None:
        return int(resolution) if self.data.resizes and resolution is not None else None

    def calibration(self, resolution: int | None = None) -> list[torch.Tensor]:
        """The calibration images, as batches, prepared at ``resolution`` (image folders)."""
        key = self._key(resolution)
        if self.data.resizes and key is None:
            raise ConfigError(f"data set {self.data.name!r} prepares images at a resolution; give one")
        if key in self._calibration:
            self._calibration.move_to_end(key)
            return self._calibration[key]
        calib_set = self.data.calibration_set
        if isinstance(calib_set, TensorDataset):
            images = calib_set.tensors[0]
            ordered = torch.tensor(self.calib_indices, dtype=torch.long)
            batches = [images[ordered[i : i + self.batch_size]] for i in range(0, len(ordered), self.batch_size)]
        else:
            loader = StreamingLoader(calib_set, batch_size=self.batch_size, indices=self.calib_indices,
                                     workers=self.workers, resolutions=key)
            batches = [x for x, _ in loader]
            if loader.skipped:
                logger.warning("%d unreadable calibration image(s) skipped", loader.skipped)
        self._calibration[key] = batches
        used = sum(b.numel() * b.element_size() for v in self._calibration.values() for b in v)
        while len(self._calibration) > 1 and used > self.cache_bytes:
            _, dropped = self._calibration.popitem(last=False)
            used -= sum(b.numel() * b.element_size() for b in dropped)
        return batches

    def validation(self, resolution: int | None = None) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        """Validation batches ``(images, labels)`` prepared at ``resolution`` (image folders)."""
        key = self._key(resolution)
        if self.data.resizes and key is None:
            raise ConfigError(f"data set {self.data.name!r} prepares images at a resolution; give one")
        if self._val_loader is None:
            if isinstance(self.data.val, TensorDataset) and self.val_indices is None:
                self._val_loader = DataLoader(self.data.val, batch_size=self.batch_size, shuffle=False)
            else:
                self._val_loader = StreamingLoader(self.data.val, batch_size=self.batch_size,
                                                   indices=self.val_indices, workers=self.workers, resolutions=key)
        if isinstance(self._val_loader, StreamingLoader):
            self._val_loader.set_resolutions(key)
        return self._val_loader

    def validation_chunks(self, resolution: int | None = None, chunks: int = 1) -> Iterator[ValidationChunk]:
        """The validation images in ``chunks`` consecutive chunks of a fixed, seeded order.

        ``chunks=1``: one chunk of :meth:`validation` (the images in their plain order).
        Otherwise the validation images (the ``val_images`` subset, if any) are put in an
        order drawn from ``seed`` once, cut into batches of ``batch_size``, and the batches
        into ``chunks`` runs of (nearly) equal length. A chunk's batches are read when the
        caller iterates them; a caller that stops after chunk ``k`` reads no more images.

        Raises:
            ConfigError: ``chunks`` is not a positive int, or exceeds the number of
                validation batches (fewer images than chunks need).
        """
        if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
            raise ConfigError(f"chunks must be an int >= 1, got {chunks!r}")
        if chunks == 1:
            yield ValidationChunk(0, self.validation(resolution), 1.0)
            return
        key = self._key(resolution)
        if self.data.resizes and key is None:
            raise ConfigError(f"data set {self.data.name!r} prepares images at a resolution; give one")
        total = self.num_val_images
        num_batches = -(-total // self.batch_size)
        if chunks > num_batches:
            raise ConfigError(f"chunks={chunks} needs at least {chunks} validation batches, but {total} validation "
                              f"images in batches of {self.batch_size} make {num_batches}; use fewer chunks, a "
                              "smaller batch size or more validation images")
        ends = [round(k * num_batches / chunks) for k in range(1, chunks + 1)]
        batches = iter(self._chunk_batches(key))
        start = 0
        for index, end in enumerate(ends):
            count = end - start
            fraction = 1.0 if end == num_batches else min(end * self.batch_size, total) / total
            yield ValidationChunk(index, _take(batches, count), fraction)
            start = end

    def _chunk_order(self) -> list[int]:
        indices = list(range(len(self.data.val))) if self.val_indices is None else list(self.val_indices)
        # a seed of its own, so the order does not repeat the subset's draw
        order = torch.randperm(len(indices), generator=torch.Generator().manual_seed(self.seed * 7919 + 17))
        return [indices[i] for i in order.tolist()]

    def _chunk_batches(self, key: int | None) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        if self._chunk_source is None:
            order = self._chunk_order()
            val = self.data.val
            if isinstance(val, TensorDataset):
                images, labels = val.tensors[0], val.tensors[1]
                ordered = torch.tensor(order, dtype=torch.long)
                self._chunk_source = [(images[ordered[i : i + self.batch_size]], labels[ordered[i : i + self.batch_size]])
                                      for i in range(0, len(ordered), self.batch_size)]
            else:
                self._chunk_source = StreamingLoader(val, batch_size=self.batch_size, indices=order,
                                                     workers=self.workers, resolutions=key)
        if isinstance(self._chunk_source, StreamingLoader):
            self._chunk_source.set_resolutions(key)
        return self._chunk_source


def _take(iterator: Iterator[Any], count: int) -> Iterator[Any]:
    """The next ``count`` items of ``iterator`` (fewer if it ends)."""
    for _ in range(count):
        try:
            yield next(iterator)
        except StopIteration:
            return
