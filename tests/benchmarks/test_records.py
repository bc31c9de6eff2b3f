"""benchmarks/_records.py: the command line a results file records reruns as written."""

from __future__ import annotations

import importlib
import shlex
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def records(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # how the benchmark scripts import it
    return importlib.import_module("_records")


def test_command_line_keeps_the_quotes_an_argument_needs(records):
    argv = ["--seeds", "100", "--rerun", "default (tune, cifar10)", "local:step='best'", "--out", "a b/c.md"]
    line = records.command_line("nb201_strategies.py", argv)
    assert shlex.split(line) == ["python", "benchmarks/nb201_strategies.py", *argv]
    assert "'default (tune, cifar10)'" in line  # what a plain " ".join lost
    assert records.command_line("dna.py", []) == "python benchmarks/dna.py"


def test_command_line_defaults_to_the_arguments_the_script_was_run_with(records, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks/gpu.py", "--parts", "diagnose", "--out", "g.md"])
    assert records.command_line("gpu.py") == "python benchmarks/gpu.py --parts diagnose --out g.md"
