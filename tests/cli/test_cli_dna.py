"""`raynas train --method dna` and `raynas search --strategy dna`: bad input is one line, exit 2."""

import pytest
import torch

import search_spaces
from raynas.cli.main import main


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    torch.manual_seed(0)
    net = search_spaces.get("tiny", resolutions=[6, 8]).build_supernet(num_classes=10)
    return str(net.save(tmp_path_factory.mktemp("teacher")))


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("raynas: error:") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("extra,needle", [
    ([], "method 'dna' needs a teacher: TrainConfig.teacher (--teacher) is None"),
    (["--teacher", "missing.pt"], "supernet checkpoint 'missing.pt' does not exist"),
    (["--teacher", "{teacher}", "--space", "nb201"], "method 'dna' needs a supernet that runs block by block"),
    (["--teacher", "{teacher}", "--dna-candidates", "0"], "--dna-candidates: expected a positive integer, got '0'"),
    (["--teacher", "{teacher}", "--amp"], "TrainConfig.amp is not supported by method 'dna'"),
])
def test_train_dna_bad_input(extra, needle, teacher, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--method", "dna", "--out", "X"] + [a.replace("{teacher}", teacher) for a in extra]
    assert main(argv) == 2
    assert needle in _one_line_error(capsys)
    assert not (tmp_path / "X").exists()


def test_teacher_with_another_method_is_refused(teacher, capsys, tmp_path):
    assert main(["train", "--method", "sandwich", "--teacher", teacher, "--out", str(tmp_path / "X")]) == 2
    assert "TrainConfig.teacher applies to method 'dna' only, got method 'sandwich'" in _one_line_error(capsys)


def test_search_dna_needs_a_block_table_in_the_checkpoint(teacher, capsys, tmp_path):
    assert main(["search", "--strategy", "dna", "--checkpoint", teacher, "--out", str(tmp_path / "Y")]) == 2
    assert "holds no block table; train it with `raynas train --method dna" in _one_line_error(capsys)
    assert not (tmp_path / "Y").exists()
