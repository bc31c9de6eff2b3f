"""The :class:`Supernet` base class: the active subnet, extraction, checkpoints."""

from __future__ import annotations

import os
from typing import Any, Mapping

import torch
from torch import nn

from raynas.checks import check_positive_int
from raynas.checkpoint import load_supernet, read_checkpoint, write_checkpoint
from raynas.nn.bn import bn_layers

__all__ = ["Supernet"]


class Supernet(nn.Module):
    """A weight-sharing network over every architecture of ``space``.

    Subclasses implement :meth:`_activate` (apply a canonical architecture to the layers),
    :meth:`forward`, :meth:`extract`, :meth:`sort_channels` and :meth:`zero_init_residual`.
    Only :meth:`set_active` changes which subnet runs.

    Args:
        space: the search space (anything with ``canonical``, ``name`` and ``kwargs``).
        num_classes: outputs of the classifier.
    """

    def __init__(self, space: Any, num_classes: int = 10):
        super().__init__()
        check_positive_int(None, "num_classes", num_classes)
        self.space = space
        self.num_classes = num_classes
        self._active_arch: dict[str, Any] | None = None

    # -- the active subnet -------------------------------------------------------------------
    def set_active(self, arch: Mapping[str, Any]) -> None:
        """Make ``arch`` the subnet that :meth:`forward` runs (validated through the space)."""
        arch = self.space.canonical(arch)
        self._activate(arch)
        self._active_arch = arch

    @property
    def active_arch(self) -> dict[str, Any]:
        """The canonical architecture :meth:`forward` runs now (a copy)."""
        if self._active_arch is None:
            raise RuntimeError(f"{type(self).__name__} has no active architecture; call set_active(arch) first")
        return dict(self._active_arch)

    def _activate(self, arch: dict[str, Any]) -> None:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extract(self, arch: Mapping[str, Any] | None = None) -> nn.Module:
        """A standalone module with copied weights computing ``arch`` (default: the active one)."""
        raise NotImplementedError

    def sort_channels(self) -> None:
        """Reorder elastic channels by importance without changing the largest subnet's function."""
        raise NotImplementedError

    def zero_init_residual(self) -> None:
        """Zero the last BatchNorm scale of every residual block."""
        raise NotImplementedError

    def bn_layers(self) -> list[nn.modules.batchnorm._BatchNorm]:
        """Every BatchNorm layer tracking running statistics, in module order (see :func:`raynas.nn.recalibrate_bn`)."""
        return bn_layers(self)

    # -- checkpoints (the file format and the rebuild live in raynas.checkpoint) -------------
    def save(self, path: str | os.PathLike, **meta: Any) -> str:
        """Write the supernet and ``meta`` to one torch file; return the file written.

        When ``path`` is a directory the file is ``path/supernet.pt``. ``meta`` may hold only
        plain values (str, int, float, bool, None, tensors, lists, tuples, dicts).
        """
        return write_checkpoint(self, path, meta)

    @staticmethod
    def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
        """The checked contents of a supernet checkpoint file, or :class:`InvalidCheckpoint`."""
        return read_checkpoint(path, map_location)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: Any = "cpu") -> "Supernet":
        """Rebuild the supernet from a checkpoint file alone and load its weights.

        The space is rebuilt by the name and arguments the file records (see
        :func:`raynas.checkpoint.open_checkpoint`); the loaded checkpoint's ``meta`` is
        available as ``net.checkpoint_meta``.

        Raises:
            InvalidCheckpoint: missing, truncated or corrupt file, not a raynas checkpoint,
                unknown space, or weights that do not match the rebuilt supernet.
        """
        return load_supernet(path, map_location, expect=cls)
