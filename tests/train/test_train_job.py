"""Ray Train runs of the sandwich rule (2 workers, stopped and resumed), and the supernet
evaluator on the checkpoint."""

import json
import logging
import math
import re
import struct

import pytest
import torch

import raynas
from raynas.nn import Supernet
from raynas.train import TrainConfig, train, train_in_process
from raynas.train.job import RUN_FILE

SMALL = {"dataset": "synthetic", "space_kwargs": {"resolutions": [6, 8]}, "batch_size": 32, "seed": 0}


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def stopped_and_resumed(ray_session, tmp_path_factory):
    from raynas.loggers import TrainingLogger

    out = tmp_path_factory.mktemp("train") / "run"
    config = TrainConfig(**SMALL, epochs=2, num_workers=2, num_random=1)
    progress = logging.getLogger("raynas.train.progress")
    lines, level = _Lines(), progress.level
    progress.addHandler(lines)
    progress.setLevel(logging.INFO)
    received = []
    tensorboard = TrainingLogger(["tensorboard"], tensorboard_dir=out.parent / "tb")
    try:
        first = train(TrainConfig.from_dict({**config.to_dict(), "stop_after_epoch": 1}), out,
                      on_epoch=lambda m: (received.append(m), tensorboard.log(m)))
        run = json.loads((out / RUN_FILE).read_text())
        # Settings other than stop_after_epoch come from the saved run, whatever is asked.
        resumed = train(TrainConfig(dataset="synthetic", epochs=5, lr=0.5), out, resume=True,
                        on_epoch=lambda m: (received.append(m), tensorboard.log(m)))
    finally:
        tensorboard.close()
        progress.removeHandler(lines)
        progress.setLevel(level)
    return first, resumed, run, {"lines": lines.lines, "received": received, "tensorboard": out.parent / "tb"}


@pytest.fixture(scope="module")
def trained(stopped_and_resumed):
    return stopped_and_resumed[1]


def test_the_driver_logs_one_line_per_epoch(stopped_and_resumed):
    lines = stopped_and_resumed[3]["lines"]
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 2, lines  # epoch 1 in the first run, epoch 2 in the resumed one
    pattern = (r"epoch (\d)/2: loss \d[\d.e+-]*, largest \d+\.\d%, smallest \d+\.\d%, \d+(m\d\ds)?s? elapsed, "
               r"~\d+(m\d\ds)?s? left")
    assert [re.fullmatch(pattern, line).group(1) for line in epoch_lines] == ["1", "2"], epoch_lines


def test_every_epoch_reaches_the_driver_and_the_training_logger(stopped_and_resumed):
    resumed, extra = stopped_and_resumed[1], stopped_and_resumed[3]
    received = extra["received"]
    assert [int(m["epoch"]) for m in received] == [1, 2]
    for got, recorded in zip(received, resumed.history):
        assert got["val_accuracy_largest"] == pytest.approx(recorded["val_accuracy_largest"])
    from tensorboardX.proto import event_pb2

    scalars = {}
    for path in extra["tensorboard"].glob("events.out.tfevents.*"):
        data = path.read_bytes()
        while data:
            (length,) = struct.unpack("<Q", data[:8])
            event = event_pb2.Event.FromString(data[12:12 + length])
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
            data = data[12 + length + 4:]
    assert sorted(scalars["val_accuracy_largest"]) == [1, 2]
    assert scalars["val_accuracy_smallest"][2] == pytest.approx(resumed.history[1]["val_accuracy_smallest"])


def test_a_stopped_run_resumes_from_its_checkpoint(stopped_and_resumed):
    first, resumed, run, _ = stopped_and_resumed
    assert first.epochs_done == 1 and [row["epoch"] for row in first.history] == [1]
    assert resumed.epochs_done == 2 and [row["epoch"] for row in resumed.history] == [1, 2]
    assert resumed.history[0] == first.history[0]  # the first epoch came from the checkpoint
    assert json.loads((resumed.out_dir / RUN_FILE).read_text()) == run
    saved = json.loads((resumed.out_dir / "train_config.json").read_text())
    assert saved["epochs"] == 2 and saved["lr"] == TrainConfig.lr and saved["num_workers"] == 2


def test_two_worker_epoch_produces_a_loadable_checkpoint(trained):
    assert trained.checkpoint.exists()
    assert [row["epoch"] for row in trained.history] == [1, 2]
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


def _weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.slow
def test_ray_resume_equals_uninterrupted_with_two_workers(ray_session, tmp_path):
    config = TrainConfig(**SMALL, method="progressive", epochs=3, phase_epochs=(1, 1, 0, 0, 0, 1), num_workers=2)
    full = train(config, tmp_path / "full")
    train(TrainConfig.from_dict({**config.to_dict(), "stop_after_epoch": 2}), tmp_path / "split")
    split = train(config, tmp_path / "split", resume=True)
    a, b = _weights(full.checkpoint), _weights(split.checkpoint)
    assert [k for k in a if not torch.equal(a[k], b[k])] == []


@pytest.mark.slow
def test_one_worker_ray_train_computes_what_train_in_process_computes(ray_session, tmp_path):
    config = TrainConfig(**SMALL, method="uniform", epochs=2)
    job = train(config, tmp_path / "ray")
    train_in_process(config, tmp_path / "local")
    a = _weights(job.checkpoint)
    b = _weights(sorted((tmp_path / "local").glob("checkpoint_*"))[-1] / "supernet.pt")
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
