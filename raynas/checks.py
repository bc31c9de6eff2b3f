"""Argument checks, one place for every rule: ``check_int``, ``check_float``, ``check_bool``,
``check_choice`` and the ``positive`` shorthands.

Each returns the value (an ``int``/``float`` for the numeric checks) or raises
:class:`raynas.ConfigError` (a ``ValueError``) whose message names the parameter, the rule,
the value received and, for choices, the valid ones, e.g.
``"EvolutionStrategy.population_size must be an int >= 2, got 1"``.

``owner`` names what takes the parameter (a class, a strategy, a command); ``None`` leaves
the parameter's name alone. This module imports nothing of the project but its errors, so
every layer (strategies, spaces, configs) may use it.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

from raynas.errors import ConfigError

__all__ = [
    "check_int",
    "check_float",
    "check_bool",
    "check_choice",
    "check_positive_int",
    "check_positive_float",
    "label",
]


def label(owner: str | None, name: str) -> str:
    """``"owner.name"``, or ``name`` when there is no owner."""
    return f"{owner}.{name}" if owner else name


def _num(x: Any) -> str:
    return str(x) if isinstance(x, numbers.Integral) else f"{x:g}"


def _bounds(low: Any, high: Any, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {_num(low)}"
    return f"{'<' if high_open else '<='} {_num(high)}"


def check_int(owner: str | None, name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (either bound optional); bools are not ints."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{label(owner, name)} must be an int, got {value!r} ({type(value).__name__})")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{label(owner, name)} must be an int {_bounds(low, high, False, False)}, got {value!r}")
    return value


def check_float(
    owner: str | None,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` within the bounds (each optional, closed unless ``*_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ConfigError(f"{label(owner, name)} must be a finite number, got {value!r}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:  # the rule's text is built only for the error (forward passes call this)
        raise ConfigError(f"{label(owner, name)} must be a number {_bounds(low, high, low_open, high_open)}, "
                          f"got {value!r}")
    return value


def check_bool(owner: str | None, name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{label(owner, name)} must be True or False, got {value!r}")
    return value


def check_choice(owner: str | None, name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``; the error lists them."""
    choices = list(choices)
    try:
        valid = value in choices
    except TypeError:  # an unhashable value against a set-like
        valid = False
    if not valid:
        raise ConfigError(f"{label(owner, name)} must be one of {choices}, got {value!r}")
    return value


def check_positive_int(owner: str | None, name: str, value: Any, *, allow_zero: bool = False) -> int:
    """``value`` as an int >= 1 (>= 0 with ``allow_zero``)."""
    return check_int(owner, name, value, low=0 if allow_zero else 1)


def check_positive_float(owner: str | None, name: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (>= 0 with ``allow_zero``)."""
    return check_float(owner, name, value, low=0.0, low_open=not allow_zero)
