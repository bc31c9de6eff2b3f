"""What every benchmark records about the machine it ran on (its results files name both)."""

from __future__ import annotations

import os
import platform

__all__ = ["load_average", "machine"]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or ``"n/a"`` where the system has none."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def machine() -> str:
    """Host, platform, CPU count and Python version."""
    return f"{platform.node()}, {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
