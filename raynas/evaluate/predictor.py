"""``PredictorEvaluator``: accuracy from a fitted predictor, latency from a lookup table, no supernet.

A drop-in evaluator for ``raynas.search`` and every strategy: ``arch -> {"accuracy":
predicted, "flops", "params", "latency_ms"}`` (``latency_ms`` when a table is given). It
costs well under a millisecond per architecture, so a search can afford thousands of
trials; re-check the best predicted candidates on the supernet afterwards
(:func:`raynas.predictor.verify_top`, CLI ``--verify-top K``).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from raynas.errors import ConfigError

__all__ = ["PredictorEvaluator"]


class PredictorEvaluator:
    """Evaluate architectures with an accuracy predictor and, optionally, a latency table.

    Args:
        predictor: an :class:`raynas.predictor.AccuracyPredictor`, or the path of a file
            written by ``AccuracyPredictor.save`` / ``raynas predictor fit``.
        latency_table: a :class:`raynas.latency.LatencyTable`, a path to one (loaded with
            no device check; check it yourself with ``LatencyTable.load(expect_device=...)``),
            or ``None`` (no ``latency_ms`` metric).
    """

    def __init__(self, predictor: Any, latency_table: Any = None):
        if isinstance(predictor, (str, os.PathLike)):
            from raynas.predictor import AccuracyPredictor

            predictor = AccuracyPredictor.load(predictor)
        if not hasattr(predictor, "predict_many") or not hasattr(predictor, "space"):
            raise ConfigError(f"predictor must be an AccuracyPredictor or the path of one, got {type(predictor).__name__}")
        if isinstance(latency_table, (str, os.PathLike)):
            from raynas.latency import LatencyTable

            latency_table = LatencyTable.load(latency_table)
        if latency_table is not None and not hasattr(latency_table, "predict"):
            raise ConfigError(f"latency_table must be a LatencyTable, a path to one, or None, got "
                              f"{type(latency_table).__name__}")
        self.predictor = predictor.eval()
        self.latency_table = latency_table
        if latency_table is not None and getattr(latency_table, "space", predictor.space.name) != predictor.space.name:
            raise ConfigError(f"latency table is for space {latency_table.space!r}, the predictor for "
                              f"{predictor.space.name!r}")

    @property
    def space(self) -> Any:
        return self.predictor.space

    def __call__(self, arch: Mapping[str, Any]) -> dict[str, float]:
        space = self.predictor.space
        arch = space.canonical(arch)
        metrics = {
            "accuracy": float(self.predictor.predict(arch)),
            "flops": float(space.flops(arch)),
            "params": float(space.params(arch)),
        }
        if self.latency_table is not None:
            metrics["latency_ms"] = float(space.latency(arch, self.latency_table))
        return metrics

    def __repr__(self) -> str:
        return (f"PredictorEvaluator(space={self.predictor.space.name!r}, "
                f"latency_table={'none' if self.latency_table is None else repr(self.latency_table)})")
