"""Random search: uniform feasible samples, without repeats while the space allows."""

from __future__ import annotations

from typing import Any

from raynas.checks import check_bool
from raynas.constraints import Constraints
from strategies._base import FINISHED, Strategy

__all__ = ["RandomStrategy"]


class RandomStrategy(Strategy):
    """Uniform random feasible architectures.

    Args:
        space: the search space.
        seed: seeds the strategy's own ``random.Random``.
        constraints: only architectures meeting them are proposed.
        dedupe: skip architectures already proposed (canonical form). When a space of at
            most ``strategies._base.ENUMERATE_LIMIT`` architectures has no unproposed
            feasible one left, ``ask`` returns ``FINISHED``; a larger space falls back to a
            repeat after ``max_retries`` draws.
        max_retries: draws per proposal before that fallback.
    """

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        constraints: Constraints | None = None,
        dedupe: bool = True,
        max_retries: int = 1000,
    ):
        super().__init__(space, seed=seed, constraints=constraints, max_retries=max_retries)
        self.dedupe = check_bool(type(self).__name__, "dedupe", dedupe)

    def _ask(self) -> Any:
        arch = self._sample(dedupe=self.dedupe)
        return FINISHED if arch is None else arch

    def _tell(self, arch: dict[str, Any], score: float | None) -> None:
        pass  # random search learns nothing
