"""`raynas train` flags: bad combinations fail in one line, before Ray starts, and create nothing."""

import pytest

from raynas.cli.main import main


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train"], "give --out DIR (a new run) or --resume DIR"),
        (["train", "--resume", "A", "--out", "B"], "name different folders"),
        (["train", "--resume", "A"], "cannot resume: 'A' holds no previous run"),
        (["train", "--out", "X", "--method", "progressive", "--epochs", "3"], "epochs must be >= 6"),
        (["train", "--out", "X", "--method", "progressive", "--epochs", "6", "--phase-epochs", "1", "2"],
         "expected 6 arguments"),
        (["train", "--out", "X", "--method", "progressive", "--epochs", "6", "--phase-epochs", "1", "1", "1", "1", "1",
          "2"], "phase_epochs must sum to epochs"),
        (["train", "--out", "X", "--sampling", "flops"], "applies to method 'uniform' only"),
        (["train", "--out", "X", "--sampling", "bins"], "invalid choice: 'bins'"),
        (["train", "--out", "X", "--logger", "wandb"], "unknown logger 'wandb'; valid loggers: tensorboard, mlflow"),
        (["train", "--out", "X", "--working-dir", "nope"], "runtime_env working_dir 'nope' is not a folder"),
        (["train", "--out", "X", "--runtime-env", "nope.json"], "--runtime-env 'nope.json': cannot read it"),
        (["train", "--out", "X", "--epochs", "4", "--stop-after-epoch", "5"], "stop_after_epoch must be <= epochs"),
    ],
)
def test_bad_train_flags(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raynas: error:") and "\n" not in err, err
    assert needle in err
    assert not any(tmp_path.iterdir())  # nothing was created
