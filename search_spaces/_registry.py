"""The registry of search spaces: ``get(name, **kw)``, ``available()``, ``register(name, factory)``."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from raynas.errors import ConfigError

__all__ = ["get", "available", "register"]

# name -> "module:attribute" for built-ins (imported on first use) or a factory callable.
_BUILTIN: dict[str, str] = {
    "tiny": "search_spaces.tiny:TinySpace",
    "nb201": "search_spaces.nb201:NB201Space",
}
_USER: dict[str, Callable[..., Any]] = {}


def register(name: str, factory: Callable[..., Any], *, overwrite: bool = False) -> None:
    """Make ``factory(**kw)`` reachable as ``search_spaces.get(name, **kw)``.

    The factory must return a :class:`~search_spaces.SearchSpace` whose ``name`` is ``name``
    (so checkpoints can rebuild it); ``get`` sets it if the factory did not.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"space name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory for space {name!r} must be callable, got {factory!r}")
    if (name in _BUILTIN or name in _USER) and not overwrite:
        raise ValueError(f"space {name!r} is already registered; pass overwrite=True to replace it")
    _USER[name] = factory


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
    if not getattr(space, "kwargs", None):
        space.kwargs = dict(kwargs)
    return space
