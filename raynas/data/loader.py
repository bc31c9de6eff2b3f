"""Streaming data loaders: images read by ``DataLoader`` workers, one shard per Ray Train worker,
batches prepared at the resolution the training method asks for.

:class:`ResolutionBatchSampler` turns a sampler's indices into batches of keys. A data set
that prepares images at a resolution (:class:`raynas.data.FolderDataset`) gets
``(index, resolution)`` keys: the resolution of batch ``b`` of epoch ``e`` is drawn from
``random.Random(f"{seed}/{e}/{b}")``, so every DDP rank draws the same one (once-for-all's
"one resolution per batch, the same on every rank"), or it is fixed. In-memory data sets get
plain indices; the network resizes them.

:class:`StreamingLoader` wraps the ``DataLoader`` (``DistributedSampler`` shard, ``set_epoch``
every epoch, persistent workers, ``pin_memory`` on CUDA), drops and counts unreadable
images, and measures how long the consumer waited for each batch.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler
from torch.utils.data._utils.collate import default_collate

from raynas.errors import ConfigError

__all__ = ["ResolutionBatchSampler", "StreamingLoader", "collate_skipping"]

logger = logging.getLogger(__name__)


class ResolutionBatchSampler(Sampler):
    """Batches of keys from ``sampler``: plain indices (``resolutions=None``) or
    ``(index, resolution)`` with one resolution per batch.

    Args:
        sampler: yields indices (e.g. a ``DistributedSampler``); its ``set_epoch`` is forwarded.
        batch_size, drop_last: as ``torch.utils.data.BatchSampler``.
        resolutions: None, one int (every batch), or a sequence to draw one from per batch,
            seeded by ``(seed, epoch, batch index)`` and so equal on every rank.
    """

    def __init__(self, sampler: Any, batch_size: int, *, drop_last: bool = False,
                 resolutions: int | Sequence[int] | None = None, seed: int = 0):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0
        self.resolutions: int | tuple[int, ...] | None = None
        self.set_resolutions(resolutions)

    def set_resolutions(self, resolutions: int | Sequence[int] | None) -> None:
        if resolutions is None or isinstance(resolutions, int) and not isinstance(resolutions, bool):
            self.resolutions = resolutions
            return
        values = tuple(resolutions)
        if not values or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in values):
            raise ConfigError(f"resolutions must be None, a positive int or a sequence of them, got {resolutions!r}")
        self.resolutions = values

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def resolution(self, batch: int) -> int | None:
        """The resolution of batch ``batch`` of the current epoch (None: native)."""
        if self.resolutions is None or isinstance(self.resolutions, int):
            return self.resolutions
        return random.Random(f"{self.seed}/{self.epoch}/{batch}").choice(self.resolutions)

    def __iter__(self) -> Iterator[list]:
        batch: list[int] = []
        number = 0
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield self._keys(batch, number)
                batch, number = [], number + 1
        if batch and not self.drop_last:
            yield self._keys(batch, number)

    def _keys(self, batch: list[int], number: int) -> list:
        resolution = self.resolution(number)
        return list(batch) if resolution is None else [(index, resolution) for index in batch]

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def collate_skipping(items: list) -> tuple[Any, Any, int]:
    """``(images, labels, skipped)``: the batch without the unreadable images (``None`` items)."""
    kept = [item for item in items if item is not None]
    skipped = len(items) - len(kept)
    if not kept:
        return None, None, skipped
    images, labels = default_collate(kept)
    return images, labels, skipped


class StreamingLoader:
    """Iterate ``(images, labels)`` batches of ``dataset``, this rank's shard only.

    Args:
        dataset: a map-style data set (a :class:`raynas.data.FolderDataset` takes
            ``(index, resolution)`` keys).
        batch_size: images per batch on this rank.
        shuffle: reshuffle every epoch (call :meth:`set_epoch`); ``seed`` seeds it.
        rank, world_size: this worker's shard of a ``DistributedSampler``.
        workers: ``DataLoader`` worker processes (0: read in this process); kept alive
            between epochs.
        resolutions: see :class:`ResolutionBatchSampler` (None for in-memory data).
        pin_memory: page-locked batches for a fast copy to CUDA.
        indices: read only these images (a fixed subset), in this order unless shuffled.

    ``skipped`` counts unreadable images dropped since construction; ``wait_s`` the seconds
    the consumer waited for batches; ``batches`` the batches delivered.
    """

    def __init__(self, dataset: Any, *, batch_size: int, shuffle: bool = False, seed: int = 0, rank: int = 0,
                 world_size: int = 1, workers: int = 0, resolutions: int | Sequence[int] | None = None,
                 drop_last: bool = False, pin_memory: bool = False, indices: Sequence[int] | None = None,
                 prefetch_factor: int = 2):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ConfigError(f"loader workers must be an int >= 0, got {workers!r}")
        source = dataset if indices is None else _Subset(dataset, list(indices))
        sampler = DistributedSampler(source, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed,
                                     drop_last=False)
        self.batch_sampler = ResolutionBatchSampler(sampler, batch_size, drop_last=drop_last,
                                                    resolutions=resolutions, seed=seed)
        self.dataset = source
        self.loader = DataLoader(source, batch_sampler=self.batch_sampler, num_workers=workers,
                                 collate_fn=collate_skipping, pin_memory=pin_memory,
                                 persistent_workers=workers > 0,
                                 prefetch_factor=prefetch_factor if workers > 0 else None)
        self.skipped = 0
        self.wait_s = 0.0
        self.batches = 0

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)

    def set_resolutions(self, resolutions: int | Sequence[int] | None) -> None:
        self.batch_sampler.set_resolutions(resolutions)

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        iterator = iter(self.loader)
        while True:
            started = time.perf_counter()
            try:
                images, labels, skipped = next(iterator)
            except StopIteration:
                return
            self.wait_s += time.perf_counter() - started
            self.skipped += skipped
            if images is None:
                raise ConfigError(f"every image of a batch of {skipped} was unreadable (skip_corrupt); "
                                  "check the data folder")
            self.batches += 1
            yield images, labels


class _Subset(torch.utils.data.Dataset):
    """``dataset`` restricted to ``indices``; passes ``(index, resolution)`` keys through."""

    def __init__(self, dataset: Any, indices: list[int]):
        self.dataset = dataset
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: Any):
        if isinstance(key, tuple):
            return self.dataset[(self.indices[key[0]], key[1])]
        return self.dataset[self.indices[key]]
