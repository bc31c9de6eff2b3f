"""Latency lookup tables: measure every layer configuration of a space on a device, predict subnets by summing.

::

    from raynas.latency import LatencyTable, MeasureConfig, measure_table
    table = measure_table(space, MeasureConfig(device="cpu", threads=1))
    table.save("tiny-cpu.json")
    table = LatencyTable.load("tiny-cpu.json", expect_device="current", on_mismatch="error")
    space.latency(arch, table)          # ms: sum of the subnet's layer entries + the constant overhead

:mod:`raynas.latency.table` needs no torch; :mod:`raynas.latency.measure` (imported on
first use of its names) does.
"""

from __future__ import annotations

import importlib
from typing import Any

from raynas.latency._device import describe_device, device_differences
from raynas.latency._layers import LayerConfig, space_layers, subnet_layers
from raynas.latency.table import ON_MISMATCH, DeviceMismatch, LatencyTable, LatencyTableError

_LAZY = {
    "MeasureConfig": "raynas.latency.measure",
    "measure_table": "raynas.latency.measure",
    "measure_subnets": "raynas.latency.measure",
    "measure_table_and_subnets": "raynas.latency.measure",
    "time_callable": "raynas.latency.measure",
    "build_layer": "raynas.latency.measure",
    "summarize": "raynas.latency.measure",
    "percentile": "raynas.latency.measure",
}

__all__ = [
    "LatencyTable",
    "LatencyTableError",
    "DeviceMismatch",
    "ON_MISMATCH",
    "LayerConfig",
    "subnet_layers",
    "space_layers",
    "describe_device",
    "device_differences",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'raynas.latency' has no attribute {name!r}")
