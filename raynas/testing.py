"""What the contract suites raise: :mod:`strategies.testing` (every strategy) and
:mod:`search_spaces.testing` (every space and supernet) share these two exceptions."""

from __future__ import annotations

__all__ = ["ContractError", "NotApplicable"]


class ContractError(AssertionError):
    """A strategy or a space broke its contract; the message says how."""


class NotApplicable(Exception):
    """The check does not apply to this strategy or space (the message says why)."""
