"""Latency tests run torch on one thread (timings and tiny tensors both prefer it on a busy machine)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Every module here runs torch on one thread (``one_torch_thread`` in tests/conftest.py)."""


@pytest.fixture(scope="session")
def synthetic_entries():
    """``synthetic_entries(space)``: a made-up table's entries (see :func:`make_synthetic_entries`)."""
    return make_synthetic_entries


def make_synthetic_entries(space) -> dict[str, float]:
    """A made-up but plausible table: cost grows with resolution, width, kernel and expand ratio."""
    from raynas.latency import space_layers

    entries = {}
    for layer in space_layers(space):
        if layer.kind == "block":
            cost = layer.resolution**2 * layer.in_channels * layer.expand_ratio * (1 + layer.kernel_size**2 / 9)
        else:
            cost = layer.resolution**2 * (layer.in_channels + layer.out_channels)
        entries[layer.key] = 0.01 + cost * 1e-5
    return entries
