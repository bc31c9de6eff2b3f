"""A Ray Train run of the sandwich rule, and the supernet evaluator on its checkpoint."""

import math

import pytest
import torch

import raynas
from raynas.nn import Supernet
from raynas.train import TrainConfig, train


@pytest.fixture(scope="module")
def trained(ray_session, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    config = TrainConfig(dataset="synthetic", epochs=1, num_workers=2, batch_size=32, seed=0)
    return train(config, out)


def test_two_worker_epoch_produces_a_loadable_checkpoint(trained):
    assert trained.checkpoint.exists()
    assert [row["epoch"] for row in trained.history] == [1]
    assert math.isfinite(trained.history[0]["loss_largest"])
    net = Supernet.load(trained.checkpoint)
    assert net.space.name == "tiny"
    arch = net.space.smallest()
    net.set_active(arch)
    net.eval()
    x = torch.randn(2, 1, 8, 8)
    assert torch.isfinite(net(x)).all()
    assert (trained.out_dir / "train_history.csv").exists()
    assert (trained.out_dir / "train_config.json").exists()


def test_training_changed_the_weights(trained):
    trained_net = Supernet.load(trained.checkpoint)
    torch.manual_seed(0)
    fresh = trained_net.space.build_supernet(num_classes=10)
    changed = [name for name, p in trained_net.state_dict().items()
               if p.dtype.is_floating_point and not torch.equal(p, fresh.state_dict()[name])]
    assert changed


def test_refuses_to_overwrite_a_finished_run(trained):
    before = trained.checkpoint.read_bytes()
    with pytest.raises(raynas.ConfigError, match="already holds results"):
        train(TrainConfig(dataset="synthetic", epochs=1), trained.out_dir)
    assert trained.checkpoint.read_bytes() == before


def test_supernet_evaluator_reports_accuracy_flops_params(trained):
    evaluator = raynas.SupernetEvaluator(trained.checkpoint, dataset="synthetic", calibration_batches=2, batch_size=32)
    space = evaluator.space
    arch = space.largest()
    metrics = evaluator(arch)
    assert 0.0 <= metrics["accuracy"] <= 100.0 and math.isfinite(metrics["loss"])
    assert metrics["flops"] == space.flops(arch) and metrics["params"] == space.params(arch)
    assert evaluator(arch) == metrics  # deterministic: same calibration batches


def test_search_on_the_trained_supernet(trained, tmp_path):
    evaluator = raynas.SupernetEvaluator(trained.checkpoint, dataset="synthetic", calibration_batches=2, batch_size=32)
    space = evaluator.space
    result = raynas.search(space, evaluator, strategy="random", num_samples=4, max_concurrent=2, out_dir=tmp_path / "s")
    assert len(result.history) == 4
    for row in result.history:
        space.validate(row["arch"])
        assert row["status"] == "ok" and math.isfinite(row["accuracy"])
