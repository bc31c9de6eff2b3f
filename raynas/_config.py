"""Helpers for frozen, validated config dataclasses."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

from raynas.errors import ConfigError

T = TypeVar("T")


def from_dict(cls: type[T], values: Mapping[str, Any]) -> T:
    """Build the dataclass ``cls`` from ``values``, rejecting unknown keys with the valid ones listed."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} key(s) {unknown}; valid keys: {names}")
    return cls(**values)
