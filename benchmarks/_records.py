"""What every benchmark records about the machine it ran on (its results files name both)."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from collections.abc import Sequence

__all__ = ["command_line", "load_average", "machine"]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, or ``"n/a"`` where the system has none."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def machine() -> str:
    """Host, platform, CPU count and Python version."""
    return f"{platform.node()}, {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def command_line(script: str, argv: Sequence[str] | None = None) -> str:
    """``python benchmarks/<script> <argv>`` quoted for a POSIX shell, so the line in a results file
    reruns as written (an argument with spaces, such as a ``--rerun`` label, keeps its quotes);
    ``argv`` defaults to ``sys.argv[1:]``."""
    return shlex.join(["python", f"benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)])
