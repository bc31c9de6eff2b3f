"""Tests here run torch on one thread: tiny tensors gain nothing from more, and on a busy
two-core machine extra threads slow them down many times over."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Every module here runs torch on one thread (``one_torch_thread`` in tests/conftest.py)."""
