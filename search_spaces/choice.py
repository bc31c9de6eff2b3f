"""A plain categorical space with no supernet, for table and black-box evaluators."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from search_spaces._base import SearchSpace

__all__ = ["ChoiceSpace"]


class ChoiceSpace(SearchSpace):
    """Categorical choices only; every strategy works on it with any evaluator.

    Args:
        choices: ordered mapping of key -> tuple of allowed values.
        name: a name for logs and results.
        flops, params: optional cost functions ``arch -> float`` so FLOPs/params
            constraints can be applied.
        blocks: optional key groups for block-wise strategies.

    Example::

        space = ChoiceSpace({"lr": (0.1, 0.01), "act": ("relu", "gelu")})
    """

    def __init__(
        self,
        choices: Mapping[str, Sequence[Any]],
        *,
        name: str = "choice",
        flops: Callable[[Mapping[str, Any]], float] | None = None,
        params: Callable[[Mapping[str, Any]], float] | None = None,
        blocks: Sequence[Sequence[str]] | None = None,
    ):
        super().__init__(choices, name=name, kwargs={"choices": {k: tuple(v) for k, v in choices.items()}})
        self._flops = flops
        self._params = params
        if blocks is not None:
            flat = [k for group in blocks for k in group]
            if sorted(flat) != sorted(self.keys):
                raise ValueError(f"blocks must partition the keys {self.keys}, got {[list(g) for g in blocks]}")
            self._blocks = [list(g) for g in blocks]
        else:
            self._blocks = [[k] for k in self.keys]

    def blocks(self) -> list[list[str]]:
        return [list(g) for g in self._blocks]

    def flops(self, arch: Mapping[str, Any]) -> float:
        if self._flops is None:
            return super().flops(arch)
        return float(self._flops(self.validate(arch)))

    def params(self, arch: Mapping[str, Any]) -> float:
        if self._params is None:
            return super().params(arch)
        return float(self._params(self.validate(arch)))
