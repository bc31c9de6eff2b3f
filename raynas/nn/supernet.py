"""The :class:`Supernet` base class: the active subnet, extraction, checkpoints."""

from __future__ import annotations

import importlib
import os
from typing import Any, Mapping

import torch
from torch import nn

from raynas.errors import ConfigError, InvalidCheckpoint
from raynas.nn.bn import bn_layers
from raynas._io import atomic_write

__all__ = ["Supernet", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CHECKPOINT_FILENAME"]

CHECKPOINT_FORMAT = "raynas.supernet"
CHECKPOINT_VERSION = 1
CHECKPOINT_FILENAME = "supernet.pt"

_PLAIN = (str, int, float, bool, type(None))


def _check_plain(value: Any, where: str) -> None:
    """Raise ``TypeError`` unless ``value`` is built from plain, weights-only-loadable types."""
    if isinstance(value, _PLAIN) or isinstance(value, torch.Tensor):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where} has a key of type {type(key).__name__}; only str/int keys can be stored")
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise TypeError(
        f"{where} is a {type(value).__name__}; checkpoints store only str, int, float, bool, None, "
        "tensors, lists, tuples and dicts"
    )


def _checkpoint_file(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    return os.path.join(path, CHECKPOINT_FILENAME) if os.path.isdir(path) else path


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
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be an int >= 1, got {num_classes!r}")
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

    # -- checkpoints -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, **meta: Any) -> str:
        """Write the supernet and ``meta`` to one torch file; return the file written.

        When ``path`` is a directory the file is ``path/supernet.pt``. ``meta`` may hold only
        plain values (str, int, float, bool, None, tensors, lists, tuples, dicts).
        """
        _check_plain(meta, "meta")
        _check_plain(dict(self.space.kwargs), "space.kwargs")
        payload = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "space": self.space.name,
            "space_kwargs": dict(self.space.kwargs),
            "num_classes": self.num_classes,
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "meta": dict(meta),
        }
        target = _checkpoint_file(path)
        with atomic_write(target) as f:
            torch.save(payload, f)
        return target

    @staticmethod
    def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
        """The checked contents of a supernet checkpoint file, or :class:`InvalidCheckpoint`."""
        target = _checkpoint_file(path)
        if not os.path.exists(target):
            where = f" (no {CHECKPOINT_FILENAME} in directory {os.fspath(path)!r})" if target != os.fspath(path) else ""
            raise InvalidCheckpoint(f"supernet checkpoint {target!r} does not exist{where}")
        try:
            payload = torch.load(target, map_location=map_location, weights_only=True)
        except Exception as exc:  # torch raises many types for bad files
            raise InvalidCheckpoint(
                f"supernet checkpoint {target!r} could not be read (truncated, corrupt, or not a weights-only "
                f"torch file): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
            raise InvalidCheckpoint(
                f"{target!r} is not a raynas supernet checkpoint: expected format {CHECKPOINT_FORMAT!r}, found {found!r}"
            )
        if payload.get("version") != CHECKPOINT_VERSION:
            raise InvalidCheckpoint(
                f"supernet checkpoint {target!r} has version {payload.get('version')!r}; "
                f"this raynas reads version {CHECKPOINT_VERSION}"
            )
        for key, kind in (("space", str), ("space_kwargs", dict), ("num_classes", int), ("state_dict", dict)):
            if not isinstance(payload.get(key), kind):
                raise InvalidCheckpoint(
                    f"supernet checkpoint {target!r}: field {key!r} must be a {kind.__name__}, "
                    f"got {type(payload.get(key)).__name__}"
                )
        payload.setdefault("meta", {})
        if not isinstance(payload["meta"], dict):
            raise InvalidCheckpoint(f"supernet checkpoint {target!r}: field 'meta' must be a dict")
        payload["path"] = target
        return payload

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: Any = "cpu") -> "Supernet":
        """Rebuild the supernet from a checkpoint file alone and load its weights.

        The space comes from ``search_spaces.get(space, **space_kwargs)``; the loaded
        checkpoint's ``meta`` is available as ``net.checkpoint_meta``.

        Raises:
            InvalidCheckpoint: missing, truncated or corrupt file, not a raynas checkpoint,
                unknown space, or weights that do not match the rebuilt supernet.
        """
        payload = cls.read_checkpoint(path, map_location)
        target = payload["path"]
        registry = importlib.import_module("search_spaces")
        try:
            space = registry.get(payload["space"], **payload["space_kwargs"])
        except Exception as exc:  # a registered factory may raise anything on bad arguments
            raise InvalidCheckpoint(
                f"supernet checkpoint {target!r}: cannot rebuild its space {payload['space']!r}: {exc}"
            ) from exc
        try:
            net = space.build_supernet(payload["num_classes"])
        except NotImplementedError as exc:
            raise InvalidCheckpoint(f"supernet checkpoint {target!r}: space {payload['space']!r} has no supernet") from exc
        except Exception as exc:
            raise InvalidCheckpoint(
                f"supernet checkpoint {target!r}: cannot build the supernet of space {payload['space']!r}: {exc}"
            ) from exc
        if not isinstance(net, cls):
            raise InvalidCheckpoint(
                f"supernet checkpoint {target!r} holds a {type(net).__name__}, not a {cls.__name__}"
            )
        state = payload["state_dict"]
        expected = net.state_dict()
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        if missing or unexpected:
            raise InvalidCheckpoint(
                f"supernet checkpoint {target!r} does not match space {payload['space']!r}: "
                f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected keys {unexpected[:3]}"
            )
        for key, value in state.items():
            if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape:
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise InvalidCheckpoint(
                    f"supernet checkpoint {target!r} does not match space {payload['space']!r}: "
                    f"{key!r} has shape {got}, the rebuilt supernet expects {tuple(expected[key].shape)}"
                )
        net.load_state_dict(state)
        net.checkpoint_meta = dict(payload["meta"])
        return net.to(map_location) if isinstance(map_location, (str, torch.device)) else net
