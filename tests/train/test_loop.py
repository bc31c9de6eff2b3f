"""The training loop in-process (no Ray): resume equals an uninterrupted run; non-finite steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import raynas.data
from raynas.train import train_in_process, train_standalone
from raynas.train.loop import STATE_FILE, SUPERNET_FILE


def _final_tensors(directory) -> dict[str, torch.Tensor]:
    last = sorted(directory.glob("checkpoint_*"))[-1]
    weights = torch.load(last / SUPERNET_FILE, weights_only=True)["state_dict"]
    state = torch.load(last / STATE_FILE, weights_only=True)
    momentum = {f"momentum.{i}": s["momentum_buffer"] for i, s in state["optimizer"]["state"].items()}
    return {**weights, **momentum}


@pytest.mark.parametrize(
    "overrides,stop",
    [
        ({"method": "sandwich", "epochs": 2, "num_random": 1}, 1),
        ({"method": "uniform", "sampling": "flops", "epochs": 2}, 1),
        # stops after width1: resumes with the saved teacher, sorted channels and phase
        ({"method": "progressive", "epochs": 3, "phase_epochs": (1, 0, 0, 0, 1, 1)}, 2),
    ],
    ids=["sandwich", "uniform-flops", "progressive"],
)
def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(fast_config, tmp_path, overrides, stop):
    config = fast_config(**overrides)
    full = train_in_process(config, tmp_path / "full")
    first = train_in_process(fast_config(**overrides, stop_after_epoch=stop), tmp_path / "split")
    assert [row["epoch"] for row in first] == list(range(1, stop + 1))
    resumed = train_in_process(config, tmp_path / "split", resume=True)
    assert [row["epoch"] for row in resumed] == [row["epoch"] for row in full]
    a, b = _final_tensors(tmp_path / "full"), _final_tensors(tmp_path / "split")
    assert a.keys() == b.keys() and len(a) > 100
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]
    assert resumed[-1]["val_accuracy_largest"] == full[-1]["val_accuracy_largest"]


def test_progressive_history_records_the_phases(fast_config, tmp_path):
    history = train_in_process(fast_config(method="progressive", epochs=3, phase_epochs=(1, 0, 1, 0, 0, 1)),
                               tmp_path / "run")
    assert [row["phase"] for row in history] == ["full", "depth1", "width2"]


def test_resume_needs_a_checkpoint(fast_config, tmp_path):
    with pytest.raises(ValueError, match="no checkpoint_"):
        train_in_process(fast_config(), tmp_path, resume=True)


def _poisoned(bad_rows: slice):
    """``raynas.data.load`` whose synthetic training images at ``bad_rows`` are NaN."""
    real = raynas.data.load

    def load(name, **kw):
        data = real(name, **kw)
        x, y = (t.clone() for t in data.train.tensors)
        x[bad_rows] = float("nan")
        return type(data)(data.name, TensorDataset(x, y), data.val, data.num_classes, data.in_channels,
                          data.image_size)

    return load


def test_a_nan_batch_is_skipped_and_counted(fast_config, tmp_path, monkeypatch):
    monkeypatch.setattr(raynas.data, "load", _poisoned(slice(0, 1)))
    history = train_in_process(fast_config(method="uniform", epochs=2), tmp_path)
    assert [row["skipped_steps"] for row in history] == [1, 1]  # the batch holding image 0, every epoch
    weights = torch.load(sorted(tmp_path.glob("checkpoint_*"))[-1] / SUPERNET_FILE, weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for k, v in weights.items() if "running" not in k)


def test_skipped_steps_leave_the_weights_as_they_were(fast_config, tmp_path, monkeypatch):
    import search_spaces

    monkeypatch.setattr(raynas.data, "load", _poisoned(slice(None)))
    config = fast_config(method="sandwich", epochs=1, max_nonfinite_steps=100)
    history = train_in_process(config, tmp_path)
    assert history[0]["skipped_steps"] > 0
    torch.manual_seed(config.seed)
    fresh = search_spaces.get(config.space, **config.space_kwargs).build_supernet(num_classes=10)
    fresh.zero_init_residual()
    trained = torch.load(sorted(tmp_path.glob("checkpoint_*"))[-1] / SUPERNET_FILE, weights_only=True)["state_dict"]
    params = dict(fresh.named_parameters())
    assert all(torch.equal(trained[k], p.detach()) for k, p in params.items())


def test_too_many_non_finite_steps_in_a_row_name_the_step_and_subnet(fast_config, tmp_path, monkeypatch):
    monkeypatch.setattr(raynas.data, "load", _poisoned(slice(None)))
    with pytest.raises(FloatingPointError, match=r"2 non-finite steps in a row .* epoch 1, step 2 of 2: "
                                                 r"non-finite loss nan for subnet \{'resolution'"):
        train_in_process(fast_config(method="uniform", epochs=1, max_nonfinite_steps=1), tmp_path)


def test_standalone_training_is_seeded_and_reports_metrics(fast_config):
    import search_spaces

    config = fast_config(epochs=1)
    arch = search_spaces.get(config.space, **config.space_kwargs).smallest()
    state = torch.random.get_rng_state()
    first = train_standalone(config, arch, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's random state is left alone
    again = train_standalone(config, arch, seed=3)
    assert 0.0 <= first["accuracy"] <= 100.0 and np.isfinite(first["loss"]) and first["flops"] > 0
    assert (first["accuracy"], first["loss"]) == (again["accuracy"], again["loss"])


def test_a_workers_own_error_is_raised_instead_of_rays_wrapper():
    from ray.train import WorkerGroupError

    from raynas import ConfigError
    from raynas.train.job import worker_error

    bad = ConfigError("data set 'cifar10' not found; download it with --download")
    assert worker_error(WorkerGroupError("boom", {1: bad, 0: RuntimeError("lost")})) is bad
    assert worker_error(WorkerGroupError("boom", {0: RuntimeError("lost")})) is None
    assert worker_error(RuntimeError("not from workers")) is None


def test_mixed_precision_choices(fast_config):
    from raynas import ConfigError
    from raynas.train import Precision

    assert Precision.for_config(fast_config(), torch.device("cpu")).dtype is None
    with pytest.raises(ConfigError, match="amp is supported on 'cuda' and 'cpu' devices, got 'meta'"):
        Precision.for_config(fast_config(amp=True), torch.device("meta"))
