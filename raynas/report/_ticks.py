"""Axis ticks that read as plain numbers, for the PNG plots and the HTML report alike."""

from __future__ import annotations

import math

__all__ = ["linear_ticks", "log_ticks", "tick_label"]


def tick_label(value: float) -> str:
    """``0.01``, ``0.5``, ``2``, ``150``, ``1e+06``: up to 4 significant digits, no float noise."""
    if value == 0:
        return "0"
    return f"{float(f'{value:.12g}'):.4g}"


def linear_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """About ``target`` evenly spaced round ticks (steps of 1, 2 or 5 times a power of ten)
    from at or below ``low`` to at or above ``high``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"tick range must be finite, got [{low}, {high}]")
    if high < low:
        low, high = high, low
    if high == low:
        pad = abs(low) * 0.05 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(target, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(float(f"{value:.12g}"))
        value += step
    return ticks


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks of a log axis from at or below ``low`` to at or above ``high`` (both > 0):
    1, 2 and 5 times the powers of ten over up to three decades, the powers alone beyond."""
    if not (low > 0 and high > 0 and math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"a log axis needs a positive finite range, got [{low}, {high}]")
    if high < low:
        low, high = high, low
    first, last = math.floor(math.log10(low) + 1e-9), math.ceil(math.log10(high) - 1e-9)
    if last == first:
        last += 1
    subs = (1, 2, 5) if last - first <= 3 else (1,)
    candidates = sorted({float(f"{m * 10.0 ** e:.12g}") for e in range(first, last + 1) for m in subs})
    below = [t for t in candidates if t <= low * (1 + 1e-9)]
    above = [t for t in candidates if t >= high * (1 - 1e-9)]
    start, stop = (below[-1] if below else candidates[0]), (above[0] if above else candidates[-1])
    ticks = [t for t in candidates if start <= t <= stop]
    return ticks if len(ticks) >= 2 else [start, stop * 10]
