import pytest
import torch

from raynas import ConfigError
from raynas.data import available, load


def test_digits_split_is_fixed_and_disjoint():
    a, b = load("digits", seed=0), load("digits", seed=0)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    assert len(a.train) + len(a.val) == 1797
    assert a.in_channels == 1 and a.num_classes == 10 and a.image_size == 8
    c = load("digits", seed=1)
    assert not torch.equal(a.val.tensors[1], c.val.tensors[1])


def test_synthetic_is_seeded_and_sized():
    d = load("synthetic", size=120, seed=3)
    assert len(d.train) + len(d.val) == 120
    assert torch.equal(d.train.tensors[0], load("synthetic", size=120, seed=3).train.tensors[0])


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ConfigError, match="unknown data set 'imagenet21k'.*cifar10.*digits"):
        load("imagenet21k")


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "mnist", "fashionmnist"])
def test_missing_torchvision_set_says_how_to_get_it(tmp_path, name):
    assert name in available()
    with pytest.raises(ConfigError, match="--download"):
        load(name, data_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == [] or all(p.is_dir() for p in tmp_path.iterdir())


def test_bad_val_fraction():
    with pytest.raises(ConfigError, match="val_fraction"):
        load("digits", val_fraction=1.5)
