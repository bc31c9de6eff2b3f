"""The pure ask/tell interface every strategy implements (no Ray, no torch).

A strategy always *maximises* a score; the Tune adapter flips the sign for ``mode="min"``.

- ``ask()`` returns a new architecture dict, ``None`` when it has nothing to propose
  until more results arrive, or ``FINISHED`` when it is exhausted.
- ``tell(arch, score)`` reports the result of an architecture it proposed; ``score``
  is ``None`` for a failed trial (error, NaN, missing metric).
- ``state_dict()`` / ``load_state_dict()`` capture everything, the random generator
  included, so a restored strategy continues the same sequence.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

from raynas.constraints import Constraints

__all__ = ["Strategy", "FINISHED"]


class _Finished:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FINISHED"

    def __reduce__(self):
        return (_Finished, ())


FINISHED = _Finished()


class Strategy:
    """Base class. Subclasses implement ``ask`` and ``tell`` and extend the state dict.

    Args:
        space: a ``search_spaces.SearchSpace``.
        seed: seeds ``self.rng`` (a ``random.Random``), the only randomness allowed.
        constraints: a :class:`raynas.Constraints`; proposals must satisfy it.
    """

    #: True when the strategy enumerates a finite set and then returns FINISHED.
    exhaustive: bool = False

    def __init__(self, space: Any, *, seed: int = 0, constraints: Constraints | None = None):
        self.space = space
        self.seed = seed
        self.constraints = constraints or Constraints()
        self.rng = random.Random(seed)

    def ask(self) -> Any:
        raise NotImplementedError

    def tell(self, arch: Mapping[str, Any], score: float | None) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.getstate()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng.setstate(state["rng"])
