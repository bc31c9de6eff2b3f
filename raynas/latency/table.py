"""The latency lookup table: milliseconds per layer configuration, measured on one device.

``space.latency(arch, table)`` calls :meth:`LatencyTable.predict`, which sums the entries
of the subnet's stem, blocks and head and adds the table's constant ``overhead_ms`` (the
part of a whole-network forward that per-layer timings do not see: the network's own
Python ``forward``, module-container dispatch, the caller's timing loop).

The file is plain JSON with the device description inside, so a table measured on one
machine can be read anywhere; :meth:`LatencyTable.load` refuses or warns about a table
from another device than the one expected.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Mapping

from raynas.errors import RaynasError
from raynas.latency._device import describe_device, device_differences
from raynas.latency._layers import LayerConfig, subnet_layers
from raynas._io import atomic_write

__all__ = ["LatencyTable", "LatencyTableError", "DeviceMismatch", "TABLE_FORMAT", "TABLE_VERSION", "ON_MISMATCH"]

logger = logging.getLogger(__name__)

TABLE_FORMAT = "raynas.latency-table"
TABLE_VERSION = 1
ON_MISMATCH = ("error", "warn", "ignore")


class LatencyTableError(RaynasError):
    """A latency table is unreadable, is for another space, or lacks an entry a subnet needs."""


class DeviceMismatch(LatencyTableError):
    """A latency table was measured on another device than the one expected."""


def _finite_ms(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LatencyTableError(f"{name} must be a finite number of milliseconds, got {value!r}")
    return float(value)


class LatencyTable:
    """Per-layer latencies (ms) of one space on one device.

    Args:
        entries: ``{layer key: milliseconds}``, keys as :attr:`LayerConfig.key` spells them.
        space: the space's registry name.
        space_kwargs: the arguments that rebuild the space (for the record).
        device: the device description (:func:`raynas.latency.describe_device`).
        settings: how the entries were measured (batch size, threads, warm-up, repeats, ...).
        overhead_ms: constant added to every prediction (may be negative when per-layer
            timings overstate a whole-network forward).
        spread: optional ``{layer key: (p25, p75)}`` of the timing samples.
    """

    def __init__(
        self,
        entries: Mapping[str, float],
        *,
        space: str,
        space_kwargs: Mapping[str, Any] | None = None,
        device: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        overhead_ms: float = 0.0,
        spread: Mapping[str, Any] | None = None,
        created: str | None = None,
    ):
        if not isinstance(entries, Mapping) or not entries:
            raise LatencyTableError(f"entries must be a non-empty mapping of layer key -> ms, got {entries!r}")
        if not isinstance(space, str) or not space:
            raise LatencyTableError(f"space must be a space name, got {space!r}")
        self.entries = {str(k): _finite_ms(f"entries[{k!r}]", v) for k, v in entries.items()}
        self.space = space
        self.space_kwargs = dict(space_kwargs or {})
        self.device = dict(device or {})
        self.settings = dict(settings or {})
        self.overhead_ms = _finite_ms("overhead_ms", overhead_ms)
        self.spread = {str(k): list(v) for k, v in (spread or {}).items()}
        self.created = created or time.strftime("%Y-%m-%dT%H:%M:%S%z")

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return (f"LatencyTable(space={self.space!r}, entries={len(self.entries)}, "
                f"device={self.device.get('name')!r}, overhead_ms={self.overhead_ms:.4g})")

    # -- prediction ----------------------------------------------------------------------------
    def _check_space(self, space: Any) -> None:
        name = getattr(space, "name", None)
        if name != self.space:
            raise LatencyTableError(
                f"latency table was measured for space {self.space!r}, cannot predict for space {name!r}; "
                f"measure one with `raynas latency measure --space {name}`"
            )

    def lookup(self, layer: LayerConfig) -> float:
        """The entry for ``layer``, or :class:`LatencyTableError` naming the missing key."""
        try:
            return self.entries[layer.key]
        except KeyError:
            raise LatencyTableError(
                f"latency table (space {self.space!r}, {len(self.entries)} entries) has no entry {layer.key!r}; "
                f"it was measured for space arguments {self.space_kwargs}; re-measure it for this space"
            ) from None

    def breakdown(self, space: Any, arch: Mapping[str, Any]) -> list[tuple[str, float]]:
        """``(layer key, ms)`` for every layer of ``arch``, in forward order (without the overhead)."""
        self._check_space(space)
        return [(layer.key, self.lookup(layer)) for layer in subnet_layers(space, arch)]

    def predict(self, space: Any, arch: Mapping[str, Any], *, overhead: bool = True) -> float:
        """Predicted latency of ``arch`` in ms: the sum of its layers' entries, plus ``overhead_ms``."""
        total = sum(ms for _, ms in self.breakdown(space, arch))
        return total + self.overhead_ms if overhead else total

    # -- devices -------------------------------------------------------------------------------
    def check_device(self, expect_device: str | Mapping[str, Any], on_mismatch: str = "error") -> list[str]:
        """Compare the table's device with ``expect_device``; return the differences.

        ``expect_device`` is a description dict, or ``"current"`` (this machine, the table's
        device kind), ``"cpu"`` or ``"cuda"`` (this machine's device of that kind).
        ``on_mismatch``: ``"error"`` raises :class:`DeviceMismatch`, ``"warn"`` logs a
        warning, ``"ignore"`` only returns the differences.
        """
        if on_mismatch not in ON_MISMATCH:
            raise LatencyTableError(f"on_mismatch must be one of {list(ON_MISMATCH)}, got {on_mismatch!r}")
        if isinstance(expect_device, str):
            kind = self.device.get("kind", "cpu") if expect_device == "current" else expect_device
            expected = describe_device(kind, threads=self.settings.get("threads"))
        elif isinstance(expect_device, Mapping):
            expected = dict(expect_device)
        else:
            raise LatencyTableError(
                f"expect_device must be 'current', 'cpu', 'cuda' or a device description dict, got {expect_device!r}"
            )
        differences = device_differences(self.device, expected)
        if differences:
            message = (f"latency table for space {self.space!r} was measured on another device "
                       f"({'; '.join(differences)}); its predictions may not hold here")
            if on_mismatch == "error":
                raise DeviceMismatch(message + "; pass on_mismatch='warn' (CLI: --on-device-mismatch warn) to use it")
            if on_mismatch == "warn":
                logger.warning("%s", message)
        return differences

    # -- files ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TABLE_FORMAT,
            "version": TABLE_VERSION,
            "space": self.space,
            "space_kwargs": self.space_kwargs,
            "device": self.device,
            "settings": self.settings,
            "created": self.created,
            "overhead_ms": self.overhead_ms,
            "entries": dict(sorted(self.entries.items())),
            "spread": dict(sorted(self.spread.items())),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "latency table") -> "LatencyTable":
        if not isinstance(data, Mapping) or data.get("format") != TABLE_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise LatencyTableError(f"{source} is not a raynas latency table: expected format {TABLE_FORMAT!r}, "
                                    f"found {found!r}")
        if data.get("version") != TABLE_VERSION:
            raise LatencyTableError(f"{source} has version {data.get('version')!r}; this raynas reads {TABLE_VERSION}")
        for key, kind in (("space", str), ("entries", dict), ("device", dict)):
            if not isinstance(data.get(key), kind):
                raise LatencyTableError(f"{source}: field {key!r} must be a {kind.__name__}, "
                                        f"got {type(data.get(key)).__name__}")
        return cls(data["entries"], space=data["space"], space_kwargs=data.get("space_kwargs"),
                   device=data["device"], settings=data.get("settings"), overhead_ms=data.get("overhead_ms", 0.0),
                   spread=data.get("spread"), created=data.get("created"))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the table as JSON (atomically); return the path."""
        target = Path(path)
        with atomic_write(target, "w") as f:
            json.dump(self.to_dict(), f, indent=1)
            f.write("\n")
        return target

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        expect_device: str | Mapping[str, Any] | None = None,
        on_mismatch: str = "error",
    ) -> "LatencyTable":
        """Read a table written by :meth:`save`.

        Args:
            expect_device: ``None`` (no check), ``"current"``, ``"cpu"``, ``"cuda"`` or a
                device description; see :meth:`check_device`.
            on_mismatch: ``"error"`` (raise :class:`DeviceMismatch`), ``"warn"`` or ``"ignore"``.
        """
        if on_mismatch not in ON_MISMATCH:
            raise LatencyTableError(f"on_mismatch must be one of {list(ON_MISMATCH)}, got {on_mismatch!r}")
        source = os.fspath(path)
        try:
            with open(source) as f:
                data = json.load(f)
        except FileNotFoundError:
            raise LatencyTableError(f"latency table {source!r} does not exist; "
                                    "make one with `raynas latency measure`") from None
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LatencyTableError(f"latency table {source!r} could not be read as JSON: {exc}") from exc
        table = cls.from_dict(data, source=f"latency table {source!r}")
        if expect_device is not None:
            table.check_device(expect_device, on_mismatch)
        return table
