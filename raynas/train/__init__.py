"""Supernet training: methods, the per-worker loop, and the Ray Train job."""

from raynas.train.config import METHOD_NAMES, PHASES, TrainConfig
from raynas.train.dna import BlockTeacher, train_dna
from raynas.train.job import train
from raynas.train.loop import train_in_process
from raynas.train.methods import (
    METHODS,
    FlopsBucketSampler,
    NonFiniteLoss,
    Precision,
    Progressive,
    Sandwich,
    TrainingMethod,
    Uniform,
    get_method,
)
from raynas.train.outputs import TrainResult
from raynas.train.progressive import PhaseSampler, phase_epochs, phase_schedule
from raynas.train.standalone import train_standalone

__all__ = [
    "TrainConfig",
    "TrainResult",
    "train",
    "train_in_process",
    "train_standalone",
    "train_dna",
    "BlockTeacher",
    "TrainingMethod",
    "Sandwich",
    "Progressive",
    "Uniform",
    "FlopsBucketSampler",
    "PhaseSampler",
    "Precision",
    "NonFiniteLoss",
    "METHODS",
    "METHOD_NAMES",
    "PHASES",
    "get_method",
    "phase_epochs",
    "phase_schedule",
]
