"""Errors raised by raynas. Every one is a ``ValueError`` so user code can catch them broadly."""

from __future__ import annotations

__all__ = [
    "RaynasError",
    "InvalidArchitecture",
    "InfeasibleConstraints",
    "InvalidCheckpoint",
    "ConfigError",
]


class RaynasError(ValueError):
    """Base class of raynas's own errors about user input."""


class InvalidArchitecture(RaynasError):
    """An architecture dict does not belong to its search space.

    The message names the key, the value received and the allowed values.
    """


class InfeasibleConstraints(RaynasError):
    """No architecture of the space satisfies the constraints.

    The message names the constraint and the smallest achievable value.
    """


class InvalidCheckpoint(RaynasError):
    """A checkpoint is missing, truncated, from another space, or not a raynas checkpoint."""


class ConfigError(RaynasError):
    """A configuration value is outside its valid range or an unknown key was given."""
