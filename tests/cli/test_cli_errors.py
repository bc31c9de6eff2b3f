"""The CLI turns bad input into one line on stderr and exit code 2."""

import pytest

from raynas.cli.main import main


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("raynas: error:"), err
    assert "\n" not in err, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "--space", "nope", "--out", "X"], "unknown search space 'nope'"),
        (["train", "--dataset", "imagenet21k", "--out", "X"], "unknown data set 'imagenet21k'"),
        (["train", "--epochs", "0", "--out", "X"], "expected a positive integer, got '0'"),
        (["train", "--workers", "-2", "--out", "X"], "expected a positive integer"),
        (["train", "--method", "magic", "--out", "X"], "method must be one of"),
        (["search", "--checkpoint", "X", "--budget", "0", "--out", "Y"], "expected a positive integer"),
        (["bogus"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert needle in _one_line_error(capsys)
    assert not (tmp_path / "X").exists()  # nothing was created


def test_search_missing_checkpoint(capsys, tmp_path):
    assert main(["search", "--checkpoint", str(tmp_path / "none"), "--strategy", "random",
                 "--out", str(tmp_path / "out")]) == 2
    assert "none" in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()
