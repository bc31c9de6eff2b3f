"""Describing the device a latency table was measured on, and comparing two descriptions."""

from __future__ import annotations

import os
import platform
from typing import Any, Mapping

from raynas.errors import ConfigError

__all__ = ["describe_device", "device_differences", "IDENTITY_FIELDS", "DEVICES"]

DEVICES = ("cpu", "cuda")

#: Fields that make two descriptions "the same device"; a field missing on either side is skipped.
IDENTITY_FIELDS = ("kind", "name", "torch", "threads")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def describe_device(device: str = "cpu", *, threads: int | None = None) -> dict[str, Any]:
    """A JSON-ready description of ``device`` (``"cpu"`` or ``"cuda"``) on this machine.

    ``name`` is the CPU model or the CUDA device name; ``threads`` (the torch intra-op
    threads the timings used) is included only when given, because it is a measurement
    setting rather than a property of the machine.
    """
    import torch

    if device not in DEVICES:
        raise ConfigError(f"device must be one of {list(DEVICES)}, got {device!r}")
    cpu = _cpu_model()
    info: dict[str, Any] = {
        "kind": device,
        "name": cpu,
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_device": None,
        "cuda_version": torch.version.cuda,
    }
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was asked for, but torch.cuda.is_available() is False on this machine")
        info["cuda_device"] = torch.cuda.get_device_name(torch.cuda.current_device())
        info["name"] = info["cuda_device"]
    if threads is not None:
        info["threads"] = int(threads)
    return info


def device_differences(recorded: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """``"field: recorded != expected"`` for each identity field on which the two differ."""
    out = []
    for field in IDENTITY_FIELDS:
        if field in recorded and field in expected and recorded[field] != expected[field]:
            out.append(f"{field}: table {recorded[field]!r} != expected {expected[field]!r}")
    return out
