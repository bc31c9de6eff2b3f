"""Resource constraints on architectures: FLOPs, parameters, latency."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from raynas.errors import ConfigError, InfeasibleConstraints

__all__ = ["Constraints"]


@dataclass(frozen=True)
class Constraints:
    """Upper bounds an architecture must meet. ``None`` means unconstrained.

    ``max_latency_ms`` needs a latency table (``latency_table``) or a space whose
    ``latency(arch, table)`` can predict it.
    """

    max_flops: float | None = None
    max_params: float | None = None
    max_latency_ms: float | None = None
    latency_table: Any = None

    def __post_init__(self) -> None:
        for name in ("max_flops", "max_params", "max_latency_ms"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"Constraints.{name} must be a positive finite number or None, got {value!r}")
        if self.max_latency_ms is not None and self.latency_table is None:
            raise ConfigError(
                "Constraints.max_latency_ms needs latency_table= (a table from `raynas latency measure`), got None"
            )

    @property
    def active(self) -> bool:
        """True when at least one bound is set."""
        return any(v is not None for v in (self.max_flops, self.max_params, self.max_latency_ms))

    def measures(self, space: Any, arch: Mapping[str, Any]) -> dict[str, float]:
        """The constrained quantities of ``arch``, only those that have a bound."""
        out: dict[str, float] = {}
        if self.max_flops is not None:
            out["flops"] = float(space.flops(arch))
        if self.max_params is not None:
            out["params"] = float(space.params(arch))
        if self.max_latency_ms is not None:
            out["latency_ms"] = float(space.latency(arch, self.latency_table))
        return out

    def violations(self, space: Any, arch: Mapping[str, Any]) -> list[str]:
        """Human-readable reasons ``arch`` breaks the constraints (empty when it meets them)."""
        bounds = {"flops": self.max_flops, "params": self.max_params, "latency_ms": self.max_latency_ms}
        return [
            f"{key} {value:.6g} > max_{key} {bounds[key]:.6g}"
            for key, value in self.measures(space, arch).items()
            if value > bounds[key]
        ]

    def satisfied(self, space: Any, arch: Mapping[str, Any]) -> bool:
        """Whether ``arch`` meets every bound."""
        return not self.violations(space, arch)

    def check_feasible(self, space: Any) -> None:
        """Raise :class:`InfeasibleConstraints` if even the smallest architecture breaks a bound.

        The spaces' costs grow with every choice, so the smallest architecture is the
        cheapest; the error names the smallest achievable value.
        """
        if not self.active:
            return
        smallest = space.smallest()
        bounds = {"flops": self.max_flops, "params": self.max_params, "latency_ms": self.max_latency_ms}
        for key, value in self.measures(space, smallest).items():
            if value > bounds[key]:
                raise InfeasibleConstraints(
                    f"no architecture of space {getattr(space, 'name', type(space).__name__)!r} satisfies "
                    f"max_{key}={bounds[key]:.6g}: the smallest achievable {key} is {value:.6g}"
                )

    def to_dict(self) -> dict[str, float | None]:
        return {"max_flops": self.max_flops, "max_params": self.max_params, "max_latency_ms": self.max_latency_ms}
