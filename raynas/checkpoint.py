"""The one checkpoint loader: a supernet file -> its space, supernet, data set and metadata.

A checkpoint records the space by registry name and arguments, so the file alone rebuilds
it: :func:`open_checkpoint` reads and checks the file and rebuilds the space through
``search_spaces.get``; :meth:`Checkpoint.supernet` builds the supernet and loads its weights.
:meth:`raynas.Supernet.save` and :meth:`raynas.Supernet.load` are thin names over
:func:`write_checkpoint` and :func:`load_supernet`; the layers never import the space registry.
Files are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from raynas._io import atomic_write
from raynas.errors import InvalidCheckpoint

__all__ = [
    "CHECKPOINT_FILENAME",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "checkpoint_file",
    "load_supernet",
    "open_checkpoint",
    "read_checkpoint",
    "space_from_record",
    "write_checkpoint",
]

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


def checkpoint_file(path: str | os.PathLike) -> str:
    """The checkpoint file: ``path`` itself, or ``path/supernet.pt`` when ``path`` is a folder."""
    path = os.fspath(path)
    return os.path.join(path, CHECKPOINT_FILENAME) if os.path.isdir(path) else path


def space_from_record(name: Any, kwargs: Any, *, source: str) -> Any:
    """The space a file recorded as ``name`` and ``kwargs``, through the search-space registry.

    ``source`` names the file in the error (e.g. ``"supernet checkpoint 'x.pt'"``).

    Raises:
        InvalidCheckpoint: the registry cannot build it (unknown name, bad arguments).
    """
    import search_spaces

    try:
        return search_spaces.get(name, **kwargs)
    except Exception as exc:  # a registered factory may raise anything on bad arguments
        raise InvalidCheckpoint(f"{source}: cannot rebuild its space {name!r}: {exc}") from exc


def write_checkpoint(net: Any, path: str | os.PathLike, meta: Mapping[str, Any]) -> str:
    """Write ``net`` (a :class:`raynas.Supernet`) and ``meta`` to one torch file; return the file."""
    _check_plain(dict(meta), "meta")
    _check_plain(dict(net.space.kwargs), "space.kwargs")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "space": net.space.name,
        "space_kwargs": dict(net.space.kwargs),
        "num_classes": net.num_classes,
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "meta": dict(meta),
    }
    target = checkpoint_file(path)
    with atomic_write(target) as f:
        torch.save(payload, f)
    return target


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The checked contents of a supernet checkpoint file (plus ``"path"``), or :class:`InvalidCheckpoint`."""
    target = checkpoint_file(path)
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


@dataclass(frozen=True)
class Checkpoint:
    """A read supernet checkpoint: its file, rebuilt space, classes and metadata (weights not loaded)."""

    path: str
    space: Any
    num_classes: int
    meta: dict[str, Any]
    state_dict: dict[str, Any]

    @property
    def dataset(self) -> str | None:
        """The data set the supernet was trained on, as its training config recorded it, or as an
        imported supernet records it (``meta["dataset"]``, e.g. ``"imagenet"`` for once-for-all's);
        ``None`` when neither says."""
        config = self.meta.get("train_config")
        if isinstance(config, dict) and config.get("dataset"):
            return config["dataset"]
        dataset = self.meta.get("dataset")
        return dataset if isinstance(dataset, str) else None

    def supernet(self, map_location: Any = "cpu", *, expect: type | None = None) -> Any:
        """Build the space's supernet and load the checkpoint's weights into it.

        ``expect``: the class the supernet must be an instance of (``Supernet.load``'s ``cls``).
        """
        name = self.space.name
        try:
            net = self.space.build_supernet(self.num_classes)
        except NotImplementedError as exc:
            raise InvalidCheckpoint(f"supernet checkpoint {self.path!r}: space {name!r} has no supernet") from exc
        except Exception as exc:
            raise InvalidCheckpoint(
                f"supernet checkpoint {self.path!r}: cannot build the supernet of space {name!r}: {exc}"
            ) from exc
        if expect is not None and not isinstance(net, expect):
            raise InvalidCheckpoint(f"supernet checkpoint {self.path!r} holds a {type(net).__name__}, "
                                    f"not a {expect.__name__}")
        _check_weights(self.path, name, self.state_dict, net.state_dict())
        net.load_state_dict(self.state_dict)
        net.checkpoint_meta = dict(self.meta)
        return net.to(map_location) if isinstance(map_location, (str, torch.device)) else net


def _check_weights(path: str, space: str, state: dict[str, Any], expected: dict[str, torch.Tensor]) -> None:
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise InvalidCheckpoint(
            f"supernet checkpoint {path!r} does not match space {space!r}: "
            f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected keys {unexpected[:3]}"
        )
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise InvalidCheckpoint(
                f"supernet checkpoint {path!r} does not match space {space!r}: "
                f"{key!r} has shape {got}, the rebuilt supernet expects {tuple(expected[key].shape)}"
            )


def open_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> Checkpoint:
    """Read and check ``path`` (a file or a ``raynas train --out`` folder) and rebuild its space.

    Raises:
        InvalidCheckpoint: missing, truncated or corrupt file, not a raynas checkpoint, or a
            space the registry cannot rebuild.
    """
    payload = read_checkpoint(path, map_location)
    target = payload["path"]
    space = space_from_record(payload["space"], payload["space_kwargs"], source=f"supernet checkpoint {target!r}")
    return Checkpoint(path=target, space=space, num_classes=payload["num_classes"], meta=dict(payload["meta"]),
                      state_dict=payload["state_dict"])


def load_supernet(path: str | os.PathLike, map_location: Any = "cpu", *, expect: type | None = None) -> Any:
    """Rebuild the supernet from a checkpoint file alone and load its weights.

    The loaded checkpoint's ``meta`` is available as ``net.checkpoint_meta``.

    Raises:
        InvalidCheckpoint: missing, truncated or corrupt file, not a raynas checkpoint, unknown
            space, a supernet of another class than ``expect``, or weights that do not match.
    """
    return open_checkpoint(path, map_location).supernet(map_location, expect=expect)
