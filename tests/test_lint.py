"""pyflakes over the package, the examples and the benchmarks: no unused import or variable, no
undefined name, no f-string without placeholders (tests may import for side effects)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("raynas", "search_spaces", "strategies", "benchmarks", "examples")


@pytest.mark.parametrize("folder", FOLDERS)
def test_pyflakes_finds_nothing(folder):
    from pyflakes.api import checkPath
    from pyflakes.reporter import Reporter

    out = io.StringIO()
    reporter = Reporter(out, out)
    found = sum(checkPath(str(path), reporter) for path in sorted((REPO / folder).rglob("*.py")))
    assert found == 0, out.getvalue()
