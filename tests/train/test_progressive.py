"""Progressive shrinking: the phase schedule, the per-phase samplers, phase switches and LR restarts."""

from __future__ import annotations

import math
import random

import pytest
import torch

import search_spaces
from raynas import ConfigError
from raynas.train import PHASES, PhaseSampler, Progressive, TrainConfig, phase_epochs, phase_schedule
from raynas.train.progressive import OFA_PHASE_EPOCHS, key_dimension, phase_at


def test_default_phase_lengths_are_ofa_proportions():
    assert PHASES == ("full", "kernel", "depth1", "depth2", "width1", "width2")
    assert phase_epochs(TrainConfig(method="progressive", epochs=590)) == OFA_PHASE_EPOCHS
    assert phase_epochs(TrainConfig(method="progressive", epochs=1180)) == tuple(2 * n for n in OFA_PHASE_EPOCHS)
    assert phase_epochs(TrainConfig(method="progressive", epochs=20)) == (6, 4, 1, 4, 1, 4)


@pytest.mark.parametrize("epochs", range(6, 80, 7))
def test_scaled_phase_lengths_sum_to_the_budget_with_one_epoch_each_at_least(epochs):
    lengths = phase_epochs(TrainConfig(method="progressive", epochs=epochs))
    assert sum(lengths) == epochs and min(lengths) >= 1
    ideal = [w * epochs / sum(OFA_PHASE_EPOCHS) for w in OFA_PHASE_EPOCHS]
    assert all(abs(n - i) < 1.0 or n == 1 for n, i in zip(lengths, ideal))


def test_progressive_needs_an_epoch_per_phase_or_explicit_lengths():
    with pytest.raises(ConfigError, match="epochs must be >= 6 for method 'progressive'"):
        TrainConfig(method="progressive", epochs=5)
    with pytest.raises(ConfigError, match="phase_epochs must sum to epochs"):
        TrainConfig(method="progressive", epochs=5, phase_epochs=(1, 1, 1, 1, 1, 1))
    with pytest.raises(ConfigError, match="phase_epochs must be 6 ints"):
        TrainConfig(method="progressive", epochs=5, phase_epochs=(1, 1, 1, 2))
    with pytest.raises(ConfigError, match="applies to method 'progressive' only"):
        TrainConfig(method="sandwich", epochs=6, phase_epochs=(1, 1, 1, 1, 1, 1))
    space = search_spaces.get("tiny")
    with pytest.raises(ConfigError, match="distils from the full network"):
        Progressive(TrainConfig(method="progressive", epochs=2, phase_epochs=(0, 1, 0, 0, 0, 1)), space)


def test_phases_switch_at_the_right_epochs():
    config = TrainConfig(method="progressive", epochs=9, phase_epochs=(2, 1, 0, 2, 3, 1))
    schedule = phase_schedule(config)
    assert [(p.name, p.start, p.end) for p in schedule] == [
        ("full", 0, 2), ("kernel", 2, 3), ("depth2", 3, 5), ("width1", 5, 8), ("width2", 8, 9)]
    assert [phase_at(config, e).name for e in range(9)] == \
        ["full", "full", "kernel", "depth2", "depth2", "width1", "width1", "width1", "width2"]


def test_the_method_enters_each_phase_once_with_teacher_and_channel_sorting(monkeypatch):
    config = TrainConfig(method="progressive", epochs=7, phase_epochs=(2, 1, 1, 1, 1, 1),
                         space_kwargs={"resolutions": [6, 8]})
    torch.manual_seed(0)
    net = search_spaces.get("tiny", resolutions=[6, 8]).build_supernet(num_classes=10)
    method = Progressive(config, net.space)
    sorts = []
    monkeypatch.setattr(net, "sort_channels", lambda: sorts.append(method.phase.name))
    starts, teachers = [], []
    for epoch in range(7):
        starts.append(method.on_epoch_start(epoch, net))
        teachers.append(method.teacher is not None)
    assert starts == [True, False, True, True, True, True, True]  # the loop then resets momentum
    assert teachers == [False, False, True, True, True, True, True]
    assert sorts == ["width1"]  # once, before the first width phase
    assert method.epoch_info() == {"phase": "width2"}


def _values_seen(sampler, n=300, seed=0):
    rng = random.Random(seed)
    seen: dict[str, set] = {k: set() for k in sampler.space.choices}
    for _ in range(n):
        arch = sampler(rng)
        for k, v in arch.items():
            seen[k].add(v)
    return seen


@pytest.mark.parametrize("phase", PHASES)
def test_phase_samplers_vary_only_the_phase_dimensions(phase):
    space = search_spaces.get("tiny")
    seen = _values_seen(PhaseSampler(space, phase))
    elastic = {
        "full": {"resolution"},
        "kernel": {"resolution", "kernel"},
        "depth1": {"resolution", "kernel", "depth"},
        "depth2": {"resolution", "kernel", "depth"},
        "width1": {"resolution", "kernel", "depth", "width"},
        "width2": {"resolution", "kernel", "depth", "width"},
    }[phase]
    largest = space.largest()
    for key, values in seen.items():
        dimension = key_dimension(key)
        choices = space.choices[key]
        if dimension not in elastic:
            if key.endswith((".kernel", ".expand")) and any(len(seen[k]) > 1 for k in seen if k.endswith(".depth")):
                continue  # inactive blocks are canonicalised to the smallest value
            assert values == {largest[key]}, (phase, key, values)
        elif dimension == "depth" and phase == "depth1":
            assert values == set(choices[-2:]), (key, values)
        elif dimension == "width" and phase == "width1":
            assert values <= set(choices[-2:]) | {choices[0]} and set(choices[-2:]) <= values
        else:
            assert values == set(choices), (phase, key, values)


def test_unknown_key_kinds_stay_largest_until_the_last_phase():
    space = search_spaces.ChoiceSpace({"resolution": (8, 12), "op": ("a", "b", "c"), "x.kernel": (3, 5)})
    assert _values_seen(PhaseSampler(space, "width1"))["op"] == {"c"}
    assert _values_seen(PhaseSampler(space, "width2"))["op"] == {"a", "b", "c"}
    assert _values_seen(PhaseSampler(space, "kernel"))["x.kernel"] == {3, 5}


def test_each_phase_restarts_the_learning_rate_schedule():
    config = TrainConfig(method="progressive", epochs=6, phase_epochs=(2, 1, 0, 1, 0, 2), elastic_lr_scale=0.4,
                         lr_floor=0.05, lr_decay_fraction=1.0)
    method = Progressive(config, search_spaces.get("tiny"))
    per_epoch = 10
    values = [method.lr_multiplier(s, per_epoch) for s in range(6 * per_epoch + 1)]
    starts = [0, 20, 30, 40]
    assert values[0] == 1.0
    assert all(math.isclose(values[s], 0.4) for s in starts[1:])
    for a, b in zip(starts, starts[1:] + [60]):  # exponential decay inside every phase
        segment = values[a:b]
        assert all(x > y for x, y in zip(segment, segment[1:]))
        ratios = [y / x for x, y in zip(segment, segment[1:])]
        assert max(ratios) - min(ratios) < 1e-9
    assert math.isclose(values[19], 0.05 ** (19 / 20))
    assert math.isclose(values[60], 0.4 * 0.05 ** (19 / 20))  # past the end: the last value of the last phase
