import math

import pytest

from raynas import ConfigError
from raynas.train import TrainConfig
from raynas.train.loop import lr_multiplier


def test_from_dict_rejects_unknown_keys_and_lists_valid_ones():
    with pytest.raises(ConfigError, match="unknown TrainConfig key.*'epoch'.*valid keys.*epochs"):
        TrainConfig.from_dict({"epoch": 3})


@pytest.mark.parametrize("field,value", [("epochs", 0), ("batch_size", -1), ("lr", 0.0), ("num_workers", 0),
                                         ("method", "magic"), ("lr_floor", 1.5), ("dropout", 1.0)])
def test_invalid_values_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**{field: value})


def test_round_trip():
    cfg = TrainConfig(epochs=3, space_kwargs={"in_channels": 3})
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_lr_decays_exponentially_to_a_constant_floor():
    cfg = TrainConfig(epochs=10, lr_floor=0.05, lr_decay_fraction=0.8)
    total, per_epoch = 100, 10
    values = [lr_multiplier(s, total, cfg, per_epoch) for s in range(total)]
    assert values[0] == 1.0
    assert all(a >= b for a, b in zip(values, values[1:]))  # monotone
    assert math.isclose(values[80], 0.05) and math.isclose(values[-1], 0.05)  # floor from 80% on
    # exponential: constant ratio between equally spaced steps before the floor
    ratios = [values[i + 10] / values[i] for i in range(0, 70, 10)]
    assert max(ratios) - min(ratios) < 1e-9
