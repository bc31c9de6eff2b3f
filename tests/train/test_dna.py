"""DNA block-wise training: per-block losses, the block-loss table, resume, the teacher's checks."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

import search_spaces
import strategies
from raynas.block_table import BlockTable, block_candidates, candidate_costs
from raynas.data import load
from raynas.errors import ConfigError, InvalidCheckpoint
from raynas.nn import Supernet, recalibrate_bn
from raynas.train import TrainConfig, train
from raynas.train.dna import BlockTeacher, check_teacher, teacher_features, train_block, train_dna
from search_spaces import MobileNetSpace, StageSpec
from strategies.dna import DNAStrategy

SMALL = {"resolutions": [6, 8]}  # tiny at 6 and 8 px: the same structure, a fraction of the cost


def _config(**overrides) -> TrainConfig:
    values = {"space": "tiny", "space_kwargs": SMALL, "dataset": "digits", "method": "dna", "epochs": 3,
              "batch_size": 64, "lr": 0.25, "dna_candidates": 8, "teacher": None, **overrides}
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    """An untrained tiny supernet (6 and 8 px): a fixed random teacher is enough to test the mechanics."""
    torch.manual_seed(0)
    net = search_spaces.get("tiny", **SMALL).build_supernet(num_classes=10)
    return str(net.save(tmp_path_factory.mktemp("teacher") / "supernet.pt"))


@pytest.fixture(scope="module")
def features(teacher_file):
    data = load("digits", seed=0)
    calibration = [data.train.tensors[0][:64]]
    teacher = BlockTeacher.from_supernet(teacher_file, calibration=calibration)
    train_x, val_x = data.train.tensors[0], data.val.tensors[0][:128]
    return {"teacher": teacher, "train": [train_x] + teacher_features(teacher, train_x),
            "val": [val_x] + teacher_features(teacher, val_x)}


def _train(features, config, index, checkpoint):
    return train_block(config, index, train_inputs=features["train"][index], train_targets=features["train"][index + 1],
                       val_inputs=features["val"][index], val_targets=features["val"][index + 1],
                       checkpoint=checkpoint, num_classes=10)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_per_block_training_loss_decreases(features, tmp_path, index):
    result = _train(features, _config(epochs=4), index, tmp_path / "block.pt")
    losses = [row["loss"] for row in result["history"]]
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert losses[-1] < 0.9 * losses[0] and losses[1] < losses[0]
    assert result["done"] and len(result["scores"]) == 8


def test_block_table_normalisation_matches_a_hand_computation(features, tmp_path, teacher_file):
    """Last block (stage 3 + head): loss = validation MSE / variance of the teacher's logits."""
    config = _config(epochs=1)
    result = _train(features, config, 2, tmp_path / "block.pt")
    space = search_spaces.get("tiny", **SMALL)
    net = space.build_supernet(num_classes=10)
    net.load_state_dict(torch.load(tmp_path / "block.pt", weights_only=True)["state_dict"], strict=False)
    teacher_logits = features["val"][3].numpy().astype(np.float64)
    variance = float(np.mean((teacher_logits - teacher_logits.mean()) ** 2))
    assert result["teacher_variance"] == pytest.approx(variance, rel=1e-6)
    inputs = features["train"][2]
    picks = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(config.seed))
    calibration = [inputs[picks[i : i + 64]] for i in range(0, 256, 64)]
    for score in result["scores"][:3]:
        arch = space.canonical({**space.smallest(), **score["arch"]})
        net.set_active(arch)

        class Stage3(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, x):
                return self.net.forward_head(self.net.forward_stage(2, x))

        block = Stage3()
        recalibrate_bn(block, calibration)
        block.eval()
        with torch.no_grad():
            out = block(features["val"][2]).numpy().astype(np.float64)
        mse = float(np.mean((out - teacher_logits) ** 2))
        assert score["mse"] == pytest.approx(mse, rel=1e-4)
        assert score["loss"] == pytest.approx(mse / variance, rel=1e-4)


def _small_space(**kwargs):
    stage = dict(depths=(1, 2), kernel_sizes=(3, 5), expand_ratios=(2,), activation="relu", se=False)
    return MobileNetSpace([StageSpec(widths=(8,), stride=1, **stage), StageSpec(widths=(16,), stride=2, **stage)],
                          resolutions=(8,), in_channels=1, stem_widths=(8,), stem_stride=1, head_widths=(32,),
                          name="dna-small")


def test_block_table_has_one_entry_per_candidate_when_enumerated(tmp_path):
    search_spaces.register("dna-small", _small_space, overwrite=True)
    try:
        space = search_spaces.get("dna-small")
        torch.manual_seed(0)
        teacher = BlockTeacher.from_supernet(space.build_supernet(num_classes=10))
        data = load("digits", seed=0)
        x, vx = data.train.tensors[0][:128], data.val.tensors[0][:64]
        feats, val = [x] + teacher_features(teacher, x), [vx] + teacher_features(teacher, vx)
        config = _config(space="dna-small", space_kwargs={}, epochs=1, dna_candidates=1000)
        blocks = []
        for index in range(2):
            result = train_block(config, index, train_inputs=feats[index], train_targets=feats[index + 1],
                                 val_inputs=val[index], val_targets=val[index + 1],
                                 checkpoint=tmp_path / f"b{index}.pt", num_classes=10)
            blocks.append([(s["arch"], s["loss"]) for s in result["scores"]])
        table = BlockTable.from_losses(space, blocks)
        for index, block in enumerate(table.blocks):
            every = block_candidates(space, index)
            assert len(every) == 2 + 2 * 2  # depth 1: 2 kernels; depth 2: 2 x 2
            assert [c["arch"] for c in block] == every
            assert [c["flops"] for c in block] == candidate_costs(space, index, every, space.flops)
            assert [c["params"] for c in block] == candidate_costs(space, index, every, space.params)
        table.check(space)
    finally:
        search_spaces.unregister("dna-small")


def test_a_stopped_block_resumes_from_its_checkpoint_to_the_same_result(features, tmp_path):
    whole = _train(features, _config(epochs=3), 1, tmp_path / "whole.pt")
    first = _train(features, _config(epochs=3, stop_after_epoch=1), 1, tmp_path / "split.pt")
    assert not first["done"] and len(first["history"]) == 1
    rest = _train(features, _config(epochs=3), 1, tmp_path / "split.pt")
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("epoch_time_s", "resumed_from_epoch")}  # noqa: E731
                          for r in rows]
    assert strip(rest["history"]) == strip(whole["history"])
    assert rest["scores"] == whole["scores"]


# -- the teacher ------------------------------------------------------------------------------------
class _UserTeacher(nn.Module):
    """A user's own three-block model for 1-channel images."""

    def __init__(self, widths=(16, 24, 40)):
        super().__init__()
        self.first = nn.Sequential(nn.Conv2d(1, widths[0], 3, padding=1), nn.ReLU())
        self.second = nn.Sequential(nn.Conv2d(widths[0], widths[1], 3, stride=2, padding=1), nn.ReLU())
        self.third = nn.Sequential(nn.Conv2d(widths[1], widths[2], 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(widths[2], 10)

    def forward(self, x):
        x = self.third(self.second(self.first(x)))
        return self.fc(x.mean([2, 3]))


def test_a_users_module_with_named_block_boundaries_is_a_teacher():
    net = search_spaces.get("tiny", **SMALL).build_supernet(num_classes=10)
    teacher = BlockTeacher(_UserTeacher(), ["first", "second", "fc"])
    outputs = check_teacher(teacher, net, torch.randn(4, 1, 8, 8))
    assert [tuple(o.shape) for o in outputs] == [(4, 16, 8, 8), (4, 24, 4, 4), (4, 10)]


def test_a_teacher_that_does_not_fit_the_space_is_refused_naming_block_and_shapes():
    net = search_spaces.get("tiny", **SMALL).build_supernet(num_classes=10)
    x = torch.randn(4, 1, 8, 8)
    with pytest.raises(ConfigError, match=r"teacher block 0 .*teacher's output has shape \(12, 8, 8\), the space's "
                                          r"block gives \(16, 8, 8\)"):
        check_teacher(BlockTeacher(_UserTeacher(widths=(12, 24, 40)), ["first", "second", "fc"]), net, x)
    with pytest.raises(ConfigError, match=r"teacher block 1 .*teacher's output has shape \(24, 8, 8\), the space's "
                                          r"block gives \(24, 4, 4\)"):
        odd = _UserTeacher()
        odd.second[0].stride = (1, 1)
        check_teacher(BlockTeacher(odd, ["first", "second", "fc"]), net, x)
    with pytest.raises(ConfigError, match=r"teacher has 2 blocks \(boundaries \['first', 'fc'\]\), space 'tiny' has 3"):
        check_teacher(BlockTeacher(_UserTeacher(), ["first", "fc"]), net, x)
    with pytest.raises(ConfigError, match="no submodule named 'nope' in the teacher"):
        BlockTeacher(_UserTeacher(), ["first", "nope", "fc"])
    with pytest.raises(ConfigError, match="DNA needs a MobileNet-family supernet"):
        BlockTeacher.from_supernet(search_spaces.get("nb201").build_supernet(num_classes=10))


def test_dna_needs_a_teacher_and_a_blockwise_space(tmp_path):
    with pytest.raises(ConfigError, match=r"method 'dna' needs a teacher: TrainConfig.teacher \(--teacher\) is None"):
        train_dna(_config(), tmp_path / "a")
    with pytest.raises(InvalidCheckpoint, match="does not exist"):
        train_dna(_config(teacher=str(tmp_path / "missing.pt")), tmp_path / "b")
    assert not (tmp_path / "b").exists()
    with pytest.raises(ConfigError, match="teacher applies to method 'dna' only"):
        TrainConfig(method="sandwich", teacher="x.pt")
    with pytest.raises(ConfigError, match="dna_candidates must be an int >= 1, got 0"):
        _config(dna_candidates=0)


# -- the Ray job -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dna_run(ray_session, teacher_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("dna") / "run"
    config = _config(epochs=2, num_workers=2, dna_candidates=6, teacher=teacher_file)
    return out, train(config, out)


def test_blocks_train_as_parallel_ray_tasks_and_write_the_table(dna_run):
    out, result = dna_run
    assert sorted(p.name for p in (out / "blocks").iterdir()) == ["block_0.pt", "block_1.pt", "block_2.pt"]
    assert [(row["block"], row["epoch"]) for row in result.history] == [(b, e) for e in (1, 2) for b in range(3)]
    table = BlockTable.load(out)
    space = search_spaces.get("tiny", **SMALL)
    table.check(space)
    assert [len(b) for b in table.blocks] == [len(block_candidates(space, i, max_candidates=6, seed=i))
                                              for i in range(3)]
    assert Supernet.read_checkpoint(out)["meta"]["block_table"] == json.loads((out / "block_table.json").read_text())
    net = Supernet.load(out)  # the assembled student: every block's weights
    for index in range(3):
        block = torch.load(out / "blocks" / f"block_{index}.pt", weights_only=True)["state_dict"]
        assert all(torch.equal(net.state_dict()[k], v) for k, v in block.items())
    searcher = strategies.get("dna", space=space, block_losses=out, top_k=5)
    assert searcher.suggest("t0") == searcher.strategy.ranked()[0][1]


@pytest.mark.slow
def test_cli_search_with_dna_proposes_the_table_order(dna_run, tmp_path):
    from raynas.cli.main import main
    from raynas.tune.search import read_history

    out, _ = dna_run
    ranked = DNAStrategy(search_spaces.get("tiny", **SMALL), block_losses=out, top_k=3).ranked()
    assert main(["search", "--strategy", "dna", "--checkpoint", str(out), "--budget", "3", "--concurrency", "1",
                 "--quiet", "--out", str(tmp_path / "search")]) == 0
    rows = read_history(tmp_path / "search" / "history.csv")
    assert [row["arch"] for row in rows] == [arch for _, arch in ranked]


def _block_task_pids():
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if title.startswith("ray::") and ("raynas_dna_block" in title or "_block_task" in title):
            pids.append(int(entry))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the block task processes through /proc")
def test_a_killed_block_resumes_on_its_own(ray_session, teacher_file, tmp_path):
    config = _config(epochs=12, num_workers=1, dna_candidates=4, teacher=teacher_file, max_failures=1)
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(result=train(config, tmp_path / "dna")))
    thread.start()
    checkpoint = tmp_path / "dna" / "blocks" / "block_0.pt"
    killed = None
    deadline = time.monotonic() + 240
    while thread.is_alive() and killed is None and time.monotonic() < deadline:
        if checkpoint.exists() and _block_task_pids():
            killed = _block_task_pids()[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.1)
    thread.join(timeout=600)
    assert killed is not None, "the run ended before a block could be killed; make it longer"
    history = outcome["result"].history
    assert [(row["block"], row["epoch"]) for row in history] == [(b, e) for e in range(1, 13) for b in range(3)]
    assert max(row["resumed_from_epoch"] for row in history if row["block"] == 0) >= 1  # continued, not restarted
