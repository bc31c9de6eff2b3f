"""A registry of named factories, the one that ``search_spaces`` and ``strategies`` use.

It knows nothing of what the factories build: built-in entries are ``"module:attribute"``
strings imported on first use (so listing names imports nothing heavy), user entries are
callables added with :meth:`Registry.register`. This module imports nothing of the project
but its errors.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

from raynas.errors import ConfigError

__all__ = ["Registry"]


class Registry:
    """Names -> factories of one kind of thing (``"search space"``, ``"strategy"``).

    Args:
        kind: what the entries are, used in messages.
        builtins: name -> ``"module:attribute"`` of the factories shipped with the project.
    """

    def __init__(self, kind: str, builtins: Mapping[str, str]):
        self.kind = kind
        self._builtin = dict(builtins)
        self._user: dict[str, Callable[..., Any]] = {}

    def register(self, name: str, factory: Callable[..., Any], *, overwrite: bool = False) -> None:
        """Make ``factory`` reachable as ``name``; an existing name needs ``overwrite=True``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if not callable(factory):
            raise TypeError(f"factory for {self.kind} {name!r} must be callable, got {factory!r}")
        if name in self and not overwrite:
            raise ValueError(f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it")
        self._user[name] = factory

    def unregister(self, name: str) -> None:
        """Remove an entry added with :meth:`register` (built-ins stay)."""
        if name not in self._user:
            if name in self._builtin:
                raise ValueError(f"{self.kind} {name!r} is built in and cannot be unregistered")
            raise ValueError(f"{self.kind} {name!r} is not registered; added with register(): {sorted(self._user)}")
        del self._user[name]

    def available(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(set(self._builtin) | set(self._user))

    def is_user(self, name: str) -> bool:
        """Whether ``name`` was added (or overridden) with :meth:`register`."""
        return name in self._user

    def __contains__(self, name: object) -> bool:
        return name in self._builtin or name in self._user

    def factory(self, name: str) -> Callable[..., Any]:
        """The factory registered as ``name`` (a user's entry wins over a built-in one).

        Raises:
            ConfigError: ``name`` is not a registered name; the message lists :meth:`available`.
        """
        if not isinstance(name, str) or name not in self:
            raise ConfigError(f"unknown {self.kind} {name!r}; available: {', '.join(self.available())}")
        if name in self._user:
            return self._user[name]
        module, attr = self._builtin[name].split(":")
        return getattr(importlib.import_module(module), attr)
