"""Image folders through the CLI: train (2 Ray Train workers) -> search -> export on a generated
folder, where the exported model's accuracy on val/ equals what the search reported; and every
bad folder, image or channel count is one line, exit 2, before Ray starts, with nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from raynas.cli.main import main
from raynas.data.generate import write_digits_folder
from raynas.errors import ConfigError

SPACE = ["--space", "tiny", "--space-option", "in_channels=3", "--space-option", "resolutions=[12,16]"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_digits_folder(tmp_path_factory.mktemp("folder") / "digits", train_images=240, val_images=120,
                               size=20)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("raynas: error:") and "\n" not in err and "Traceback" not in err, err
    return err


def test_train_search_export_on_a_folder(folder, tmp_path, ray_session, capsys):
    from torchvision.datasets import ImageFolder

    from raynas.data.transforms import eval_transform
    from raynas.nn import Supernet

    train_dir, search_dir, model = tmp_path / "sn", tmp_path / "search", tmp_path / "subnet.pt"
    assert main(["train", *SPACE, "--dataset", "folder", "--data-dir", str(folder), "--method", "uniform",
                 "--epochs", "1", "--batch-size", "32", "--workers", "2", "--loader-workers", "1", "--lr", "0.1",
                 "--out", str(train_dir), "-q"]) == 0
    meta = Supernet.read_checkpoint(train_dir)
    assert meta["space_kwargs"]["in_channels"] == 3 and meta["space_kwargs"]["resolutions"] == [12, 16]
    assert meta["meta"]["train_config"]["data_dir"] == str(folder)
    history = (train_dir / "train_history.csv").read_text()
    assert "data_wait_share" in history and "skipped_images" in history
    # search and export take the data set and its folder from the checkpoint
    assert main(["search", "--checkpoint", str(train_dir), "--strategy", "random", "--budget", "3",
                 "--concurrency", "2", "--out", str(search_dir), "-q"]) == 0
    best = json.loads((search_dir / "best.json").read_text())
    assert main(["export", "--checkpoint", str(train_dir), "--arch", str(search_dir / "best.json"),
                 "--out", str(model), "-q"]) == 0
    capsys.readouterr()
    resolution = best["arch"]["resolution"]
    images = ImageFolder(str(folder / "val"), transform=eval_transform(resolution))
    scripted = torch.jit.load(str(model))
    correct = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(images, batch_size=64):
            assert x.shape[-1] == resolution
            correct += int((scripted(x).argmax(dim=1) == y).sum())
    accuracy = 100.0 * correct / len(images)
    reported = best["metrics"]["accuracy"] if "metrics" in best else best["accuracy"]
    assert accuracy == pytest.approx(reported, abs=1e-9), (accuracy, best)


def _break(root: Path, case: str) -> tuple[Path, str]:
    if case == "missing root":
        return root.parent / "nowhere", "does not exist"
    if case == "no train":
        shutil.rmtree(root / "train")
        return root, "has no train/ folder"
    if case == "no val":
        shutil.rmtree(root / "val")
        return root, "has no val/ folder"
    if case == "empty class":
        for f in (root / "train" / "5").iterdir():
            f.unlink()
        return root, str(root / "train" / "5")
    if case == "classes differ":
        (root / "val" / "9").rename(root / "val" / "nine")
        return root, "class folders differ"
    if case == "corrupt image":
        (root / "val" / "2" / "bad.png").write_bytes(b"not a png at all")
        return root, str(root / "val" / "2" / "bad.png")
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing root", "no train", "no val", "empty class", "classes differ",
                                  "corrupt image"])
def test_bad_folders_fail_before_ray_with_nothing_written(folder, tmp_path, capsys, case):
    import ray

    root = tmp_path / "data"
    shutil.copytree(folder, root)
    root, needle = _break(root, case)
    out = tmp_path / "out"
    started = ray.is_initialized()
    assert main(["train", *SPACE, "--dataset", "folder", "--data-dir", str(root), "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert needle in err
    assert not out.exists() and ray.is_initialized() == started
    if case == "corrupt image":
        assert "--skip-corrupt" in err


def test_skip_corrupt_counts_and_non_images_are_ignored(folder, tmp_path, caplog):
    from raynas.data import load

    root = tmp_path / "data"
    shutil.copytree(folder, root)
    (root / "val" / "2" / "bad.png").write_bytes(b"not a png at all")
    (root / "val" / "2" / "labels.csv").write_text("a,b\n")
    data = load("folder", data_dir=str(root), check_images=True, skip_corrupt=True)
    assert data.corrupt == (str(root / "val" / "2" / "bad.png"),)
    assert len(data.val) == 120  # the corrupt image left out, the csv ignored
    assert "skipping 1 unreadable image" in caplog.text


@pytest.mark.parametrize("argv,needle", [
    (["--space", "tiny", "--dataset", "folder"], "has 3-channel images but space 'tiny' takes in_channels=1; "
                                                 "build the space with in_channels=3 (--space-option in_channels=3"),
    (["--space", "ofa-mbv3", "--dataset", "digits"], "has 1-channel images but space 'ofa-mbv3' takes in_channels=3"),
    ([*SPACE, "--dataset", "folder", "--download"], "cannot be downloaded"),
    ([*SPACE, "--dataset", "imagenet21k"], "unknown data set 'imagenet21k'"),
    (["--space", "tiny", "--space-option", "in_channels"], "expected KEY=VALUE"),
    (["--space", "tiny", "--space-option", "depth=9"], "search space 'tiny' rejected arguments ['depth']"),
    ([*SPACE, "--dataset", "digits", "--augment", "standard"], "does not apply to the in-memory data set 'digits'"),
    ([*SPACE, "--dataset", "folder", "--loader-workers", "-1"], "expected an integer >= 0"),
])
def test_bad_data_flags(folder, tmp_path, capsys, argv, needle):
    argv = [a if a != "--dataset" else a for a in argv]
    if "folder" in argv and "--data-dir" not in argv:
        argv += ["--data-dir", str(folder)]
    out = tmp_path / "out"
    assert main(["train", *argv, "--out", str(out)]) == 2
    assert needle in _one_line_error(capsys)
    assert not out.exists()


def test_python_api_rejects_bad_data_before_ray(tmp_path):
    import ray

    from raynas.data import from_datasets
    from raynas.train import TrainConfig, train

    pair = torch.utils.data.TensorDataset(torch.randn(20, 3, 8, 8), torch.randint(0, 2, (20,)))
    with pytest.raises(ConfigError, match="dataset must be a data set name.*from_datasets"):
        TrainConfig(dataset=pair)
    with pytest.raises(ConfigError, match="unknown data set|dataset must be one of"):
        TrainConfig(dataset="imagenet21k")
    started = ray.is_initialized()
    with pytest.raises(ConfigError, match="must be 'custom'"):
        train(TrainConfig(), tmp_path / "a", data=from_datasets(pair, pair, 2))
    with pytest.raises(ConfigError, match="takes its data as Dataset objects"):
        train(TrainConfig(dataset="custom"), tmp_path / "b")
    with pytest.raises(ConfigError, match="3-channel images but space 'tiny' takes in_channels=1"):
        train(TrainConfig(dataset="custom"), tmp_path / "c", data=from_datasets(pair, pair, 2))
    assert not any(tmp_path.iterdir()) and ray.is_initialized() == started
