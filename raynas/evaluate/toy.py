"""A deterministic, cheap evaluator for smoke tests, examples and overhead measurements."""

from __future__ import annotations

import math
import random
import time
from typing import Any, Iterator, Mapping

from raynas.checks import check_float, check_int

__all__ = ["ToyEvaluator"]


class ToyEvaluator:
    """Scores an architecture by a fixed smooth function of its choice indices.

    ``accuracy`` is in [0, 100]: higher when numeric choices sit near the middle of
    their range, so the optimum is interior and strategies have something to find.
    Optionally sleeps ``delay_s`` per call to model evaluation cost.

    With ``chunks=N`` it follows the chunk protocol of :mod:`raynas.tune.fidelity`
    (``evaluate_chunks``): after chunk ``k`` of ``N`` it reports the true accuracy plus a
    seeded, per-architecture error of ``noise * (1 - k/N)`` standard deviations (none after
    the last chunk), sleeping ``delay_s / N`` per chunk, as a model of a validation pass
    that an early-stopping scheduler may cut short.

    Args:
        space: the search space the architectures come from.
        delay_s: seconds slept per (whole) evaluation.
        chunks: results per evaluation through ``evaluate_chunks`` (1: one).
        noise: accuracy points of error after the first chunks (scaled by the unseen share).
        seed: seeds that error.
    """

    def __init__(self, space: Any, *, delay_s: float = 0.0, chunks: int = 1, noise: float = 0.0, seed: int = 0):
        check_float(None, "delay_s", delay_s, low=0.0)
        check_int(None, "chunks", chunks, low=1)
        check_float(None, "noise", noise, low=0.0)
        self.space = space
        self.delay_s = float(delay_s)
        self.num_chunks = chunks
        self.noise = float(noise)
        self.seed = seed

    def _metrics(self, arch: Mapping[str, Any]) -> dict[str, float]:
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

    def __call__(self, arch: Mapping[str, Any]) -> dict[str, float]:
        arch = self.space.canonical(arch)
        if self.delay_s:
            time.sleep(self.delay_s)
        return self._metrics(arch)

    def evaluate_chunks(self, arch: Mapping[str, Any]) -> Iterator[dict[str, float]]:
        """The metrics after each of ``chunks`` chunks, each with ``fraction_evaluated``."""
        arch = self.space.canonical(arch)
        exact = self._metrics(arch)
        key = ",".join(f"{k}={arch[k]}" for k in sorted(arch))
        rng = random.Random(f"{self.seed}/{key}")
        for k in range(1, self.num_chunks + 1):
            if self.delay_s:
                time.sleep(self.delay_s / self.num_chunks)
            fraction = k / self.num_chunks
            error = rng.gauss(0.0, 1.0) * self.noise * (1.0 - fraction)
            yield {**exact, "accuracy": exact["accuracy"] + error, "fraction_evaluated": fraction}
