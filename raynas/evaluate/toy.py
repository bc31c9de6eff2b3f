"""A deterministic, cheap evaluator for smoke tests, examples and overhead measurements."""

from __future__ import annotations

import math
import time
from typing import Any, Mapping

__all__ = ["ToyEvaluator"]


class ToyEvaluator:
    """Scores an architecture by a fixed smooth function of its choice indices.

    ``accuracy`` is in [0, 100]: higher when numeric choices sit near the middle of
    their range, so the optimum is interior and strategies have something to find.
    Optionally sleeps ``delay_s`` per call to model evaluation cost.

    Args:
        space: the search space the architectures come from.
        delay_s: seconds slept per evaluation.
    """

    def __init__(self, space: Any, *, delay_s: float = 0.0):
        if isinstance(delay_s, bool) or not isinstance(delay_s, (int, float)) or not delay_s >= 0:
            raise ValueError(f"delay_s must be a number >= 0, got {delay_s!r}")
        self.space = space
        self.delay_s = float(delay_s)

    def __call__(self, arch: Mapping[str, Any]) -> dict[str, float]:
        arch = self.space.canonical(arch)
        if self.delay_s:
            time.sleep(self.delay_s)
        total, weight = 0.0, 0.0
        for i, (key, values) in enumerate(self.space.choices.items()):
            if len(values) < 2:
                continue
            position = values.index(arch[key]) / (len(values) - 1)  # in [0, 1]
            w = 1.0 + (i % 3)
            total += w * (1.0 - (position - 0.6) ** 2 / 0.36)
            weight += w
        accuracy = 100.0 * total / weight if weight else 100.0
        metrics = {"accuracy": accuracy, "loss": -math.log(max(accuracy, 1e-6) / 100.0 + 1e-9)}
        try:
            metrics["flops"] = float(self.space.flops(arch))
        except NotImplementedError:
            pass
        return metrics
