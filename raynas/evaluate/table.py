"""Tabular-benchmark evaluation: look an architecture up in a table such as NAS-Bench-201.

A :class:`TableEvaluator` is a picklable callable ``arch -> dict of metrics`` for
comparing search strategies without training anything. The table is a CSV with an
``arch`` column (the benchmark's string, e.g. ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``)
and one column per measurement (plain or gzip-compressed, ``.csv.gz``); it is read once per
process, on first use. The NAS-Bench-201 table ships inside the package
(``raynas/data/nb201/``, with its licences and provenance), so ``nb201_table_path()`` works
after a plain install, from any directory.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping

from raynas.errors import ConfigError, InvalidArchitecture

__all__ = ["TableEvaluator", "nb201_table_path"]

logger = logging.getLogger(__name__)

_ENV = "RAYNAS_NB201"
_ARCH_COLUMN = "arch"
_TEST_SUFFIX = "_test_200ep"

# (resolved path, mtime_ns, size) -> (columns, {arch string: row of floats}); one per process.
_CACHE: dict[tuple[str, int, int], tuple[tuple[str, ...], dict[str, tuple[float, ...]]]] = {}


def nb201_table_path() -> Path:
    """Where the NAS-Bench-201 table is: ``$RAYNAS_NB201`` when set (a file of the user's own),
    else the copy packaged with raynas (``raynas/data/nb201/nb201.csv.gz``; see the README there
    for its sources and licences)."""
    env = os.environ.get(_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1] / "data" / "nb201" / "nb201.csv.gz"


def _open_text(path: Path) -> io.TextIOBase:
    """``path`` as text, decompressing a ``.gz`` file."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), newline="")
    return open(path, newline="")


def _identity(path: Path) -> tuple[str, int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"benchmark table not found at {str(path)!r}; pass its path or set ${_ENV} to the NAS-Bench-201 CSV"
        ) from exc
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def _read_header(path: Path) -> tuple[str, ...]:
    _identity(path)
    with _open_text(path) as f:
        header = next(csv.reader(f), None)
    if not header or header[0] != _ARCH_COLUMN:
        raise ConfigError(f"benchmark table {str(path)!r} must start with an {_ARCH_COLUMN!r} column, got {header!r}")
    return tuple(header)


def _load(path: Path) -> tuple[tuple[str, ...], dict[str, tuple[float, ...]]]:
    ident = _identity(path)
    if ident not in _CACHE:
        with _open_text(path) as f:
            reader = csv.reader(f)
            header = tuple(next(reader))
            rows: dict[str, tuple[float, ...]] = {}
            for line, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    raise ConfigError(f"{str(path)!r} line {line}: {len(row)} fields, expected {len(header)}")
                try:
                    rows[row[0]] = tuple(float(x) for x in row[1:])
                except ValueError as exc:
                    raise ConfigError(f"{str(path)!r} line {line}: {exc}") from exc
        logger.debug("loaded %d rows from %s", len(rows), path)
        _CACHE[ident] = (header[1:], rows)
    return _CACHE[ident]


class TableEvaluator:
    """``arch -> {"accuracy": signal, "test_accuracy": final test value, "flops", "params"}``.

    Args:
        path: the table (CSV); ``None`` means :func:`nb201_table_path`.
        signal: the column reported as ``accuracy`` (what a search optimises), e.g.
            ``"cifar10_val_12ep"``; ``test_accuracy`` is the same data set's
            ``*_test_200ep`` column (what the found cell is finally worth).
        space: converts architecture dicts to the table's strings (``space.to_string``) and
            gives ``flops``/``params`` when it defines them; ``None`` means the ``nb201`` space.

    Raises:
        ConfigError: the file is missing, or ``signal`` (or its test column) is not a column;
            the message lists the valid columns.

    Example::

        evaluator = TableEvaluator(signal="cifar10_val_12ep")
        evaluator(arch)["accuracy"]; evaluator.optimum
    """

    def __init__(self, path: str | os.PathLike | None = None, signal: str = "cifar10_val_12ep", space: Any = None):
        self.path = Path(path) if path is not None else nb201_table_path()
        columns = _read_header(self.path)[1:]
        if not isinstance(signal, str) or signal not in columns:
            raise ConfigError(f"unknown signal column {signal!r} in {str(self.path)!r}; valid columns: {list(columns)}")
        test_column = signal.split("_", 1)[0] + _TEST_SUFFIX
        if test_column not in columns:
            raise ConfigError(
                f"signal {signal!r} needs the matching test column {test_column!r}, missing from "
                f"{str(self.path)!r}; valid columns: {list(columns)}"
            )
        self.signal = signal
        self.test_column = test_column
        self.columns = columns
        self._space = space

    # -- the table -----------------------------------------------------------------------------
    @property
    def space(self) -> Any:
        if self._space is None:
            import search_spaces

            self._space = search_spaces.get("nb201")
        return self._space

    def _rows(self) -> dict[str, tuple[float, ...]]:
        columns, rows = _load(self.path)
        if columns != self.columns:
            raise ConfigError(f"{str(self.path)!r} changed its columns since this evaluator was built: {list(columns)}")
        return rows

    def _string(self, arch: Mapping[str, Any] | str) -> str:
        if isinstance(arch, str):
            return arch
        to_string = getattr(self.space, "to_string", None)
        if to_string is None:
            raise ConfigError(f"space {getattr(self.space, 'name', self.space)!r} has no to_string(); cannot look archs up")
        return to_string(arch)

    def lookup(self, arch: Mapping[str, Any] | str) -> dict[str, float]:
        """Every column of ``arch``'s row.

        Raises:
            InvalidArchitecture: ``arch`` is not in the table.
        """
        text = self._string(arch)
        row = self._rows().get(text)
        if row is None:
            raise InvalidArchitecture(f"architecture {text!r} is not in the table {str(self.path)!r}")
        return dict(zip(self.columns, row))

    def __call__(self, arch: Mapping[str, Any] | str) -> dict[str, float]:
        row = self.lookup(arch)
        out = {"accuracy": row[self.signal], "test_accuracy": row[self.test_column]}
        if not isinstance(arch, str):
            for name in ("flops", "params"):
                try:
                    out[name] = float(getattr(self.space, name)(arch))
                except (NotImplementedError, AttributeError):
                    pass
        return out

    def best(self, column: str | None = None, *, by: str | None = None) -> float:
        """The largest value of ``column`` (default: the test column), or with ``by``, the value of
        ``column`` in the row where ``by`` is largest (ties: the best ``column``)."""
        column = column or self.test_column
        for name in (column, by):
            if name is not None and name not in self.columns:
                raise ConfigError(f"unknown column {name!r}; valid columns: {list(self.columns)}")
        i = self.columns.index(column)
        rows = self._rows().values()
        if by is None:
            return max(row[i] for row in rows)
        j = self.columns.index(by)
        return max(rows, key=lambda row: (row[j], row[i]))[i]

    @property
    def optimum(self) -> float:
        """The table's best test value: the reference for regret."""
        return self.best()

    def regret(self, test_value: float) -> float:
        """``optimum - test_value``."""
        if not isinstance(test_value, (int, float)) or not math.isfinite(test_value):
            raise ValueError(f"test_value must be a finite number, got {test_value!r}")
        return self.optimum - float(test_value)

    def __len__(self) -> int:
        return len(self._rows())

    def __repr__(self) -> str:
        return f"TableEvaluator({str(self.path)!r}, signal={self.signal!r})"
