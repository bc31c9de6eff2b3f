"""Errors raised by raynas. Every one is a ``ValueError`` so user code can catch them broadly."""

from __future__ import annotations

__all__ = [
    "RaynasError",
    "InvalidArchitecture",
    "InfeasibleConstraints",
    "InvalidCheckpoint",
    "ConfigError",
    "ClusterError",
    "SearchFailed",
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


class ClusterError(RaynasError, ConnectionError):
    """A Ray cluster could not be reached or refused this client (e.g. token authentication).

    The message names the address and the likely cause. Also a ``ConnectionError``.
    """


class SearchFailed(RaynasError):
    """A search ended without a single successful trial.

    Attributes:
        history: one row per trial (``status``, ``error`` ...), as ``SearchResult.history``.
        result: the :class:`raynas.SearchResult`, for its paths and Tune result grid.
    """

    def __init__(self, message: str, history: list | None = None, result: object = None):
        super().__init__(message)
        self.history = list(history or [])
        self.result = result
