"""Torch on one thread (tiny tensors gain nothing from more on a busy two-core machine), and
the small, fast training set-up the method and loop tests share."""

from __future__ import annotations

import pytest

from raynas.train import TrainConfig

# tiny at 6 and 8 px instead of 12-20: the same structure at a fraction of the cost.
FAST = {"space": "tiny", "space_kwargs": {"resolutions": [6, 8]}, "dataset": "synthetic", "batch_size": 64}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Every module here runs torch on one thread (``one_torch_thread`` in tests/conftest.py)."""


@pytest.fixture
def fast_config():
    """``fast_config(**overrides)`` -> a TrainConfig on synthetic data and a small tiny space."""

    def make(**overrides) -> TrainConfig:
        return TrainConfig(**{**FAST, **overrides})

    return make
