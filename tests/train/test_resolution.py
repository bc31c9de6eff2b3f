"""Image folders are read at the resolution the training method samples: one per batch, equal on
every DDP rank (progressive, uniform), or the largest, resized per subnet on the device (sandwich)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from raynas.data.generate import write_digits_folder
from raynas.train import TrainConfig, train_in_process
from raynas.train import methods, progressive

RESOLUTIONS = [8, 12, 16]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_digits_folder(tmp_path_factory.mktemp("res") / "root", train_images=96, val_images=40, size=16)


def _config(folder, method, **kw) -> TrainConfig:
    return TrainConfig(space="tiny", space_kwargs={"in_channels": 3, "resolutions": RESOLUTIONS}, dataset="folder",
                       data_dir=str(folder), method=method, epochs=1, batch_size=16, loader_workers=0,
                       val_images=16, calib_images=16, **kw)


def _record(monkeypatch, cls):
    seen: list[tuple[int, list[int]]] = []
    original = cls.step

    def step(self, net, x, y, rng):
        out = original(self, net, x, y, rng)
        seen.append((int(x.shape[-1]), [int(a["resolution"]) for a in self.step_archs]))
        return out

    monkeypatch.setattr(cls, "step", step)
    return seen


@pytest.mark.parametrize("method,cls,extra", [
    ("uniform", methods.Uniform, {}),
    ("progressive", progressive.Progressive, {"phase_epochs": (1, 0, 0, 0, 0, 0)}),
])
def test_one_sampled_resolution_per_batch(folder, tmp_path, monkeypatch, one_torch_thread, method, cls, extra):
    seen = _record(monkeypatch, cls)
    train_in_process(_config(folder, method, **extra), tmp_path)
    assert len(seen) == 6
    for batch, archs in seen:
        assert batch in RESOLUTIONS and archs == [batch] * len(archs)  # every subnet of the step at the batch's
    assert len({batch for batch, _ in seen}) > 1


def test_sandwich_reads_the_largest_and_resizes_per_child(folder, tmp_path, monkeypatch, one_torch_thread):
    seen = _record(monkeypatch, methods.Sandwich)
    train_in_process(_config(folder, "sandwich"), tmp_path)
    assert seen and all(batch == max(RESOLUTIONS) for batch, _ in seen)
    for _, archs in seen:
        assert archs[0] == max(RESOLUTIONS) and archs[1] == min(RESOLUTIONS)  # largest, smallest children


_RANK = textwrap.dedent('''
    import json, os, sys
    import torch, torch.distributed as dist
    from raynas.train import TrainConfig, methods
    from raynas.train.loop import LocalSession, run_training

    rank, port, folder, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    seen = []
    original = methods.Uniform.step
    def step(self, net, x, y, rng):
        result = original(self, net, x, y, rng)
        seen.append([int(x.shape[-1])] + [int(a["resolution"]) for a in self.step_archs])
        return result
    methods.Uniform.step = step
    class Session(LocalSession):
        pass
    session = Session(os.path.join(out, f"rank{rank}"))
    session.rank, session.world_size = rank, 2
    config = TrainConfig(space="tiny", space_kwargs={"in_channels": 3, "resolutions": [8, 12, 16]},
                         dataset="folder", data_dir=folder, method="uniform", epochs=2, batch_size=8,
                         loader_workers=1, val_images=8, calib_images=8, num_workers=2)
    run_training(config, session)
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(seen, f)
    dist.destroy_process_group()
''')


def test_ddp_ranks_share_one_resolution_per_step(folder, tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(_RANK)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    repo = Path(__file__).resolve().parents[2]
    env = {"PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, str(script), str(rank), str(port), str(folder), str(tmp_path)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    assert len(rank0) == len(rank1) == 12  # 96 images / 2 ranks / batch 8, 2 epochs
    assert [s[0] for s in rank0] == [s[0] for s in rank1]  # the same resolution on both ranks, step by step
    assert all(len(set(s)) == 1 for s in rank0 + rank1)  # the subnet runs at the batch's resolution
    assert len({s[0] for s in rank0}) > 1
