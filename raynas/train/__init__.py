"""Supernet training: methods, the per-worker loop, and the Ray Train job."""

from raynas.train.config import TrainConfig
from raynas.train.job import TrainResult, train
from raynas.train.methods import METHODS, TrainingMethod, get_method

__all__ = ["TrainConfig", "TrainResult", "train", "TrainingMethod", "METHODS", "get_method"]
