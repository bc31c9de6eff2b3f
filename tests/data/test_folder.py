"""Image folders: the layout checks (every bad input names the path), conversions, corrupt images,
streaming loaders at the requested resolutions, fixed calibration/validation subsets, Dataset pairs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from raynas.data import (CorruptImage, EvalData, StreamingLoader, from_datasets, load, scan_folder)
from raynas.data.generate import write_digits_folder
from raynas.data.loader import ResolutionBatchSampler
from raynas.errors import ConfigError


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_digits_folder(tmp_path_factory.mktemp("digits") / "root", train_images=100, val_images=50, size=20)


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_layout_is_read(folder):
    index = scan_folder(folder, check_images=True)
    assert index.classes == tuple(str(d) for d in range(10))
    assert len(index.train) == 100 and len(index.val) == 50
    data = load("folder", data_dir=str(folder))
    assert data.num_classes == 10 and data.in_channels == 3 and data.resizes
    image, label = data.val[(3, 16)]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert label == index.val.label(3)


@pytest.mark.parametrize("case", ["missing_root", "root_is_file", "no_train", "no_val", "empty_class",
                                  "classes_differ", "no_classes"])
def test_bad_layouts_name_the_path(folder, tmp_path, case):
    root = _copy(folder, tmp_path)
    if case == "missing_root":
        root, expected = tmp_path / "nowhere", "does not exist"
    elif case == "root_is_file":
        (tmp_path / "file").write_text("x")
        root, expected = tmp_path / "file", "is not a folder"
    elif case == "no_train":
        shutil.rmtree(root / "train")
        expected = "has no train/ folder"
    elif case == "no_val":
        shutil.rmtree(root / "val")
        expected = "has no val/ folder"
    elif case == "empty_class":
        (root / "val" / "3" / "extra").mkdir()
        for f in (root / "val" / "3").glob("*.png"):
            f.unlink()
        expected = "holds no image files"
    elif case == "classes_differ":
        shutil.move(str(root / "val" / "7"), str(root / "val" / "seven"))
        expected = "class folders differ"
    else:
        shutil.rmtree(root / "train")
        (root / "train").mkdir()
        expected = "holds no class folders"
    with pytest.raises(ConfigError, match=expected) as info:
        load("folder", data_dir=str(root))
    assert str(root if case not in ("empty_class", "classes_differ") else root / "val") in str(info.value)
    assert "\n" not in str(info.value)


def test_non_images_ignored_and_odd_images_converted(folder, tmp_path):
    root = _copy(folder, tmp_path)
    (root / "train" / "0" / "notes.txt").write_text("not an image")
    (root / "train" / "README").write_text("beside the classes")
    Image.new("L", (30, 17), 128).save(root / "train" / "1" / "gray.png")
    Image.new("RGBA", (9, 40), (10, 20, 30, 0)).save(root / "train" / "2" / "alpha.png")
    Image.new("P", (25, 25)).save(root / "train" / "3" / "palette.gif.png")
    index = scan_folder(root, check_images=True)
    assert index.ignored == 2 and len(index.train) == 103
    data = load("folder", data_dir=str(root), augment="none")
    paths = [index.train.path(i) for i in range(len(index.train))]
    for name in ("gray.png", "alpha.png", "palette.gif.png"):
        i = next(k for k, p in enumerate(paths) if p.endswith(name))
        image, _ = data.train[(i, 12)]
        assert image.shape == (3, 12, 12)  # 3 channels, cropped to a square, not squashed
    # the 9x40 image: resized so its shorter side is ceil(12/0.875), then centre-cropped
    i = next(k for k, p in enumerate(paths) if p.endswith("alpha.png"))
    assert torch.allclose(data.train[(i, 12)][0][0], data.train[(i, 12)][0][0, :1].expand(12, 12))


def test_corrupt_image_named_or_skipped_and_counted(folder, tmp_path):
    root = _copy(folder, tmp_path)
    bad = root / "train" / "4" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(CorruptImage, match="broken.png.*--skip-corrupt"):
        load("folder", data_dir=str(root), check_images=True)
    data = load("folder", data_dir=str(root), check_images=True, skip_corrupt=True)
    assert data.corrupt == (str(bad),) and len(data.train) == 100
    # found while reading (no header check): raised naming the file, from a loader worker too
    data = load("folder", data_dir=str(root), augment="none")
    with pytest.raises(CorruptImage, match="broken.png") as info:
        for _ in StreamingLoader(data.train, batch_size=64, workers=1, resolutions=8):
            pass
    assert "Traceback" not in str(info.value)
    data = load("folder", data_dir=str(root), augment="none", skip_corrupt=True)
    loader = StreamingLoader(data.train, batch_size=64, resolutions=8)
    assert sum(len(y) for _, y in loader) == 100 and loader.skipped == 1


def test_resolution_per_batch_is_seeded_and_equal_on_every_rank():
    def keys(rank):
        sampler = torch.utils.data.DistributedSampler(range(40), num_replicas=2, rank=rank, shuffle=True, seed=3)
        batches = ResolutionBatchSampler(sampler, 5, resolutions=(8, 12, 16), seed=3)
        out = []
        for epoch in range(3):
            batches.set_epoch(epoch)
            out.append([[r for _, r in b] for b in batches])
        return out

    rank0, rank1 = keys(0), keys(1)
    per_batch = [[b[0] for b in epoch] for epoch in rank0]
    assert per_batch == [[b[0] for b in epoch] for epoch in rank1]  # same resolution on both ranks
    assert all(len(set(b)) == 1 for epoch in rank0 for b in epoch)  # one resolution per batch
    assert len({r for epoch in per_batch for r in epoch}) > 1  # and it varies


def test_streaming_loader_shards_and_prepares_resolutions(folder):
    data = load("folder", data_dir=str(folder))
    seen = []
    for rank in range(2):
        loader = StreamingLoader(data.train, batch_size=16, shuffle=True, seed=0, rank=rank, world_size=2,
                                 resolutions=(12, 16, 20), workers=0)
        loader.set_epoch(1)
        shapes = [(x.shape[-1], x.shape[-2]) for x, _ in loader]
        seen.append(shapes)
        assert all(w == h for w, h in shapes) and {w for w, _ in shapes} <= {12, 16, 20}
    assert [s[0] for s in seen[0]] == [s[0] for s in seen[1]]
    assert len(loader) == 4  # 50 images per rank in batches of 16


def test_eval_data_fixed_subsets(folder):
    data = load("folder", data_dir=str(folder))
    first = EvalData(data, calib_images=30, val_images=20, batch_size=8, seed=1)
    again = EvalData(data, calib_images=30, val_images=20, batch_size=8, seed=1)
    assert first.calib_indices == again.calib_indices and first.val_indices == again.val_indices
    calib = first.calibration(12)
    assert [b.shape for b in calib] == [(8, 3, 12, 12)] * 3 + [(6, 3, 12, 12)]
    assert all(torch.equal(a, b) for a, b in zip(calib, again.calibration(12)))
    val = list(first.validation(16))
    assert sum(len(y) for _, y in val) == 20 and val[0][0].shape[-1] == 16
    assert list(first.validation(20))[0][0].shape[-1] == 20
    with pytest.raises(ConfigError, match="val_images"):
        EvalData(data, val_images=0)


def test_dataset_pair_and_bad_names():
    images = torch.randn(30, 3, 10, 10)
    labels = torch.randint(0, 4, (30,))
    pair = torch.utils.data.TensorDataset(images, labels)
    data = from_datasets(pair, pair, 4)
    assert data.in_channels == 3 and data.image_size == 10 and data.name == "custom" and not data.resizes
    with pytest.raises(ConfigError, match="num_classes"):
        from_datasets(pair, pair, 0)
    with pytest.raises(ConfigError, match="must be square"):
        from_datasets(torch.utils.data.TensorDataset(torch.randn(3, 3, 8, 10), labels[:3]), pair, 4)
    with pytest.raises(ConfigError, match="unknown data set 'nope'"):
        load("nope")
    with pytest.raises(ConfigError, match="from_datasets"):
        load(pair)
    with pytest.raises(ConfigError, match="give data_dir"):
        load("folder")
    with pytest.raises(ConfigError, match="augment must be one of"):
        load("digits", augment="mixup")
    with pytest.raises(ConfigError, match="does not apply to the in-memory"):
        load("digits", augment="standard")
