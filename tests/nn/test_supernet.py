"""The Supernet API on the tiny space: activation, forward, checkpoints, training helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import search_spaces
from raynas.errors import InvalidArchitecture, InvalidCheckpoint
from raynas.nn import ElasticMobileNet, Supernet

REPO = Path(__file__).resolve().parents[2]


def _perturb(net: torch.nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(0.3 * torch.randn(n, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(n, generator=gen))
                module.weight.copy_(0.5 + torch.rand(n, generator=gen))
                module.bias.copy_(0.2 * torch.randn(n, generator=gen))
                module.num_batches_tracked.fill_(3)


@pytest.fixture(scope="module")
def space():
    return search_spaces.get("tiny")


@pytest.fixture
def net(space):
    torch.manual_seed(0)
    net = space.build_supernet()
    _perturb(net)
    return net.eval()


def test_supernet_attributes(space, net):
    assert isinstance(net, Supernet) and isinstance(net, ElasticMobileNet)
    assert net.space is space and net.num_classes == 10
    assert net.active_arch == space.largest()
    assert len(net.bn_layers()) == sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) > 0


def test_active_arch_is_canonical_and_a_copy(space, net):
    arch = space.largest()
    arch["s1.depth"] = 1
    net.set_active(arch)
    active = net.active_arch
    assert active == space.canonical(arch) and active != arch
    active["resolution"] = 999
    assert net.active_arch["resolution"] == 20


def test_extract_does_not_change_the_active_arch(space, net):
    net.set_active(space.largest())
    subnet = net.extract(space.smallest())
    assert net.active_arch == space.largest()
    assert subnet.resolution == 12
    default = net.extract()
    assert default.resolution == 20


def test_input_is_resized_to_the_active_resolution(space, net):
    arch = {**space.largest(), "resolution": 16}
    net.set_active(arch)
    x = torch.randn(2, 1, 8, 8)
    resized = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False, antialias=False)
    with torch.no_grad():
        assert torch.allclose(net(x), net(resized), atol=1e-6)
        assert torch.allclose(net.extract(arch)(x), net(resized), atol=1e-5)


def test_forward_is_stem_stages_head(space, net):
    net.set_active(space.sample(__import__("random").Random(2)))
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        features = net.forward_stem(x)
        for index in range(len(net.stages)):
            features = net.forward_stage(index, features)
        assert torch.equal(net.forward_head(features), net(x))


def test_dropout_only_in_train_mode(space, net):
    net.set_active(space.largest())
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        net.eval()
        assert torch.equal(net(x, dropout=0.5), net(x))
        net.train()
        torch.manual_seed(1)
        with_dropout = net(x, dropout=0.5)
        torch.manual_seed(1)
        without = net(x)
    assert not torch.allclose(with_dropout, without)
    with pytest.raises(ValueError, match="dropout"):
        net(x, dropout=1.5)


def test_depth_selects_first_blocks(space, net):
    x = torch.randn(2, 1, 8, 8)
    shallow = {**space.largest(), "s2.depth": 1}
    net.set_active(shallow)
    with torch.no_grad():
        before = net(x)
        # Weights of blocks past the depth do not matter.
        net.stages[1][2].project.conv.weight.normal_()
        assert torch.equal(net(x), before)
        net.stages[1][0].project.conv.weight.normal_()
        assert not torch.allclose(net(x), before)


def test_zero_init_residual_makes_residual_blocks_identity(space, net):
    net.zero_init_residual()
    residual = [b for stage in net.stages for b in stage if b.residual]
    assert residual and all(torch.count_nonzero(b.project.norm.weight) == 0 for b in residual)
    non_residual = [b for stage in net.stages for b in stage if not b.residual]
    assert [(s, i) for s, stage in enumerate(net.stages) for i, b in enumerate(stage) if not b.residual] == [(1, 0), (2, 0)]
    assert all(torch.count_nonzero(b.project.norm.weight) > 0 for b in non_residual)
    x = torch.randn(2, 16, 6, 6)
    block = net.stages[0][1]
    with torch.no_grad():
        assert torch.allclose(block(x), x + block.project.norm.bias.view(1, -1, 1, 1), atol=1e-6)


def test_sort_channels_orders_hidden_channels_by_importance(space, net):
    net.sort_channels()
    for stage in net.stages:
        for block in stage:
            importance = block.project.conv.in_channel_importance()
            assert torch.all(importance[:-1] >= importance[1:])


# -- checkpoints -------------------------------------------------------------------------------
def test_save_and_load_in_a_fresh_process(space, net, tmp_path):
    arch = space.sample(__import__("random").Random(5))
    net.set_active(arch)
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        expected = net(x)
    path = net.save(tmp_path / "run", step=7, note="hello")
    assert path == str(tmp_path / "run")
    torch.save({"x": x, "arch": arch}, tmp_path / "input.pt")
    script = textwrap.dedent(
        f"""
        import torch
        from raynas.nn import Supernet
        data = torch.load({str(tmp_path / 'input.pt')!r}, weights_only=True)
        net = Supernet.load({path!r}).eval()
        net.set_active(data["arch"])
        with torch.no_grad():
            out = net(data["x"])
        torch.save({{"out": out, "meta": net.checkpoint_meta, "space": net.space.name}}, {str(tmp_path / 'out.pt')!r})
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO, env=env, timeout=120)
    result = torch.load(tmp_path / "out.pt", weights_only=True)
    assert torch.equal(result["out"], expected)
    assert result["meta"] == {"step": 7, "note": "hello"} and result["space"] == "tiny"


def test_checkpoint_format_and_directory_path(space, tmp_path):
    net = search_spaces.get("tiny", in_channels=3).build_supernet(num_classes=4)
    written = net.save(tmp_path)  # a directory: writes supernet.pt inside
    assert written == str(tmp_path / "supernet.pt")
    payload = torch.load(written, weights_only=True)
    assert payload["format"] == "raynas.supernet" and payload["version"] == 1
    assert payload["space"] == "tiny" and payload["num_classes"] == 4
    assert payload["space_kwargs"] == {"in_channels": 3, "resolutions": [12, 16, 20], "num_classes": 4}
    loaded = Supernet.load(tmp_path)
    assert loaded.num_classes == 4 and loaded.space.spec.in_channels == 3
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert ElasticMobileNet.load(written).num_classes == 4


def test_save_rejects_non_plain_meta(net, tmp_path):
    with pytest.raises(TypeError, match="meta\\['obj'\\]"):
        net.save(tmp_path / "x.pt", obj=object())
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("kind", ["missing", "missing-in-dir", "truncated", "garbage", "empty", "not-raynas",
                                  "tensor", "pickle-object", "wrong-version", "unknown-space", "bad-kwargs", "mismatch",
                                  "bad-shape"])
def test_bad_checkpoints_raise_invalid_checkpoint(kind, net, tmp_path):
    path = tmp_path / "supernet.pt"
    good = tmp_path / "good.pt"
    net.save(good)
    payload = torch.load(good, weights_only=True)
    expected = {
        "missing": "does not exist",
        "missing-in-dir": "does not exist",
        "truncated": "could not be read",
        "garbage": "could not be read",
        "empty": "could not be read",
        "not-raynas": "not a raynas supernet checkpoint",
        "tensor": "not a raynas supernet checkpoint",
        "pickle-object": "could not be read",
        "wrong-version": "version",
        "unknown-space": "cannot rebuild its space",
        "bad-kwargs": "cannot rebuild its space 'tiny'",
        "mismatch": "does not match space 'tiny'",
        "bad-shape": "has shape",
    }[kind]
    if kind == "missing-in-dir":
        path = tmp_path / "empty-dir"
        path.mkdir()
    elif kind == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        path.write_bytes(os.urandom(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "not-raynas":
        torch.save({"model": {"w": torch.zeros(2)}}, path)
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "pickle-object":
        torch.save({"format": "raynas.supernet", "obj": Path("/")}, path)
    elif kind == "wrong-version":
        torch.save({**payload, "version": 99}, path)
    elif kind == "unknown-space":
        torch.save({**payload, "space": "no-such-space"}, path)
    elif kind == "bad-kwargs":
        torch.save({**payload, "space_kwargs": {"bogus": 1}}, path)
    elif kind == "mismatch":
        state = dict(payload["state_dict"])
        state.pop(next(iter(state)))
        torch.save({**payload, "state_dict": state}, path)
    elif kind == "bad-shape":
        torch.save({**payload, "space_kwargs": {**payload["space_kwargs"], "in_channels": 3}}, path)
    with pytest.raises(InvalidCheckpoint, match=expected) as info:
        Supernet.load(path)
    assert str(path) in str(info.value)


def test_set_active_rejects_bad_archs(space, net):
    with pytest.raises(InvalidArchitecture, match="'s1.depth'"):
        net.set_active({**space.largest(), "s1.depth": 4})
    assert net.active_arch == space.largest()


def test_extract_keeps_the_supernets_dtype():
    import search_spaces

    space = search_spaces.get("tiny")
    net = space.build_supernet().double().eval()
    arch = space.largest()
    net.set_active(arch)
    subnet = net.extract(arch)
    assert {p.dtype for p in subnet.parameters()} == {torch.float64}
    assert {b.dtype for n, b in subnet.named_buffers() if not n.endswith("num_batches_tracked")} == {torch.float64}
    x = torch.randn(2, *space.input_shape(arch), dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(subnet(x), net(x))
