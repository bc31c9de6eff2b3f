"""Tests here run torch on one thread: tiny tensors gain nothing from more, and on a busy
two-core machine extra threads slow them down many times over."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
