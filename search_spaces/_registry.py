"""The registry of search spaces: ``get(name, **kw)``, ``available()``, ``register(name, factory)``."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from raynas.errors import ConfigError

__all__ = ["get", "available", "register", "unregister"]

# name -> "module:attribute" for built-ins (imported on first use) or a factory callable.
_BUILTIN: dict[str, str] = {
    "tiny": "search_spaces.tiny:TinySpace",
    "nb201": "search_spaces.nb201:NB201Space",
    "ofa-mbv3": "search_spaces.ofa_mbv3:OFAMobileNetV3Space",
    "bignas-mbv2": "search_spaces.bignas_mbv2:BigNASMobileNetV2Space",
}
_USER: dict[str, Callable[..., Any]] = {}


def register(name: str, factory: Callable[..., Any], *, overwrite: bool = False) -> None:
    """Make ``factory(**kw)`` reachable as ``search_spaces.get(name, **kw)``.

    The factory must return a :class:`~search_spaces.SearchSpace`; ``get`` sets its ``name``
    to ``name`` and its ``kwargs`` to ``kw``, which is what a checkpoint records to rebuild
    it. Give the factory a ``num_classes`` argument when supernets are built with another
    number of classes than the space's default (``build_supernet(num_classes=...)`` records
    it among the space's arguments).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"space name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory for space {name!r} must be callable, got {factory!r}")
    if (name in _BUILTIN or name in _USER) and not overwrite:
        raise ValueError(f"space {name!r} is already registered; pass overwrite=True to replace it")
    _USER[name] = factory


def unregister(name: str) -> None:
    """Remove a space added with :func:`register` (built-in spaces stay)."""
    if name in _BUILTIN and name not in _USER:
        raise ValueError(f"space {name!r} is built in and cannot be unregistered")
    if name not in _USER:
        raise ValueError(f"space {name!r} is not registered; registered by users: {sorted(_USER)}")
    del _USER[name]


def available() -> list[str]:
    """Names accepted by :func:`get`, sorted."""
    return sorted(set(_BUILTIN) | set(_USER))


def get(name: str, **kwargs: Any):
    """Build the space registered as ``name`` with ``kwargs``.

    Raises:
        ConfigError: unknown name (the message lists the available ones) or bad arguments.
    """
    if name in _USER:
        factory = _USER[name]
    elif name in _BUILTIN:
        module, attr = _BUILTIN[name].split(":")
        factory = getattr(importlib.import_module(module), attr)
    else:
        raise ConfigError(f"unknown search space {name!r}; available: {', '.join(available())}")
    try:
        space = factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"search space {name!r} rejected arguments {sorted(kwargs)}: {exc}") from exc
    if getattr(space, "name", None) != name:
        space.name = name
    if name in _USER or not getattr(space, "kwargs", None):
        # A user's factory is rebuilt with what it was called with, not its space class's arguments.
        space.kwargs = dict(kwargs)
    return space
