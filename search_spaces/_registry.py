"""The registry of search spaces: ``get(name, **kw)``, ``available()``, ``register(name, factory)``."""

from __future__ import annotations

from typing import Any, Callable

from raynas.errors import ConfigError
from raynas.registry import Registry

__all__ = ["get", "available", "register", "unregister"]

_REGISTRY = Registry("search space", {
    "tiny": "search_spaces.tiny:TinySpace",
    "nb201": "search_spaces.nb201:NB201Space",
    "ofa-mbv3": "search_spaces.ofa_mbv3:OFAMobileNetV3Space",
    "ofa-proxyless": "search_spaces.ofa_proxyless:OFAProxylessSpace",
    "bignas-mbv2": "search_spaces.bignas_mbv2:BigNASMobileNetV2Space",
})


def register(name: str, factory: Callable[..., Any], *, overwrite: bool = False) -> None:
    """Make ``factory(**kw)`` reachable as ``search_spaces.get(name, **kw)``.

    The factory must return a :class:`~search_spaces.SearchSpace`; ``get`` sets its ``name``
    to ``name`` and its ``kwargs`` to ``kw``, which is what a checkpoint records to rebuild
    it. Give the factory a ``num_classes`` argument when supernets are built with another
    number of classes than the space's default (``build_supernet(num_classes=...)`` records
    it among the space's arguments).
    """
    _REGISTRY.register(name, factory, overwrite=overwrite)


def unregister(name: str) -> None:
    """Remove a space added with :func:`register` (built-in spaces stay)."""
    _REGISTRY.unregister(name)


def available() -> list[str]:
    """Names accepted by :func:`get`, sorted."""
    return _REGISTRY.available()


def get(name: str, **kwargs: Any):
    """Build the space registered as ``name`` with ``kwargs``.

    Raises:
        ConfigError: unknown name (the message lists the available ones) or bad arguments.
    """
    factory = _REGISTRY.factory(name)
    try:
        space = factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"search space {name!r} rejected arguments {sorted(kwargs)}: {exc}") from exc
    if getattr(space, "name", None) != name:
        space.name = name
    if _REGISTRY.is_user(name) or not getattr(space, "kwargs", None):
        # A user's factory is rebuilt with what it was called with, not its space class's arguments.
        space.kwargs = dict(kwargs)
    return space
