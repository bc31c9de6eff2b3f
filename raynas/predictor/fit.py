"""Fitting an :class:`AccuracyPredictor` on (architecture, accuracy) pairs, and scoring it."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from raynas.checks import check_int, check_positive_float, check_positive_int
from raynas._config import from_dict
from raynas.errors import ConfigError
from raynas.predictor.model import AccuracyPredictor, _check_json

__all__ = ["PredictorConfig", "fit_predictor", "score_predictor"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictorConfig:
    """How the predictor is built and trained.

    Args:
        hidden_size: units per hidden layer (once-for-all: 400).
        num_layers: hidden layers (once-for-all: 3).
        epochs: passes over the training pairs.
        batch_size: pairs per step.
        lr: Adam learning rate (cosine-decayed to 0 over the run).
        weight_decay: Adam L2 weight decay. 3e-2 was chosen by 2-fold cross-validation on 300
            supernet-evaluated pairs of ``tiny`` (Kendall tau 0.555 vs 0.517 at 1e-4; see
            ``benchmarks/results/predictor.md``): with a few hundred pairs the 400-wide MLP
            otherwise fits its training pairs exactly.
        seed: seeds the initial weights and the shuffling.
    """

    hidden_size: int = 400
    num_layers: int = 3
    epochs: int = 200
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 3e-2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "epochs", "batch_size"):
            check_positive_int("PredictorConfig", name, getattr(self, name))
        check_positive_float("PredictorConfig", "lr", self.lr)
        check_positive_float("PredictorConfig", "weight_decay", self.weight_decay, allow_zero=True)
        check_int("PredictorConfig", "seed", self.seed)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PredictorConfig":
        return from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _targets(values: Sequence[float]) -> np.ndarray:
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 1 or not np.all(np.isfinite(y)):
        raise ConfigError("targets must be a flat sequence of finite numbers")
    return y


def fit_predictor(
    space: Any,
    archs: Sequence[Mapping[str, Any]],
    targets: Sequence[float],
    config: PredictorConfig = PredictorConfig(),
    *,
    meta: Mapping[str, Any] | None = None,
) -> AccuracyPredictor:
    """Train an :class:`AccuracyPredictor` on ``(archs[i], targets[i])`` with MSE and Adam.

    Targets are standardised for training; the predictor maps back to their scale. The
    returned predictor's ``meta`` holds the config, the number of pairs, the target
    statistics, the final training RMSE and the fitting time, plus ``meta``.
    """
    y = _targets(targets)
    if len(archs) != len(y):
        raise ConfigError(f"archs and targets must have the same length, got {len(archs)} and {len(y)}")
    if len(y) < 2:
        raise ConfigError(f"fitting a predictor needs at least 2 pairs, got {len(y)}")
    started = time.monotonic()
    mean, scale = float(y.mean()), float(y.std())
    scale = scale if scale > 1e-12 else 1.0
    generator = torch.Generator().manual_seed(config.seed)
    predictor = AccuracyPredictor(space, hidden_size=config.hidden_size, num_layers=config.num_layers,
                                  target_mean=mean, target_scale=scale, generator=generator)
    x = predictor.encode(archs)
    z = torch.from_numpy((y - mean) / scale).float()
    optimizer = torch.optim.Adam(predictor.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(y) / config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * steps_per_epoch)
    predictor.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = F.mse_loss(predictor.mlp(x[batch]).squeeze(-1), z[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    predictor.eval()
    with torch.no_grad():
        train_rmse = float(torch.sqrt(F.mse_loss(predictor(x).double(), torch.from_numpy(y))))
    predictor.meta = {
        **predictor.meta,
        "config": config.to_dict(),
        "num_pairs": len(y),
        "target_mean": mean,
        "target_std": scale,
        "train_rmse": train_rmse,
        "fit_seconds": round(time.monotonic() - started, 3),
        "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **dict(meta or {}),
    }
    predictor.meta = _check_json(predictor.meta, "meta")
    logger.info("fitted predictor on %d pairs in %.1fs (train RMSE %.3f)", len(y), time.monotonic() - started,
                train_rmse)
    return predictor


def score_predictor(predictor: Any, archs: Sequence[Mapping[str, Any]], targets: Sequence[float]) -> dict[str, float]:
    """Kendall tau, Spearman rho, RMSE and MAE of ``predictor`` (anything with ``predict_many``) on held-out pairs."""
    from scipy import stats

    y = _targets(targets)
    if len(archs) != len(y) or len(y) < 2:
        raise ConfigError(f"scoring needs >= 2 pairs and one target per arch, got {len(archs)} archs, {len(y)} targets")
    pred = np.asarray(predictor.predict_many(archs), dtype=np.float64)
    return {
        "kendall_tau": float(stats.kendalltau(pred, y).statistic),
        "spearman": float(stats.spearmanr(pred, y).statistic),
        "rmse": float(np.sqrt(np.mean((pred - y) ** 2))),
        "mae": float(np.mean(np.abs(pred - y))),
        "num_pairs": len(y),
    }
