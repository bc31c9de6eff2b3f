"""Supernets imported from once-for-all compute OFA's logits.

The reference is the ``ofa`` package itself (test extra): its ``OFAMobileNetV3`` /
``OFAProxylessNASNets`` with random weights and randomised BatchNorm statistics, saved in
the published ``{"state_dict": ...}`` format in both generations of key names, imported,
and compared subnet by subnet (``set_active_subnet`` forward and
``get_active_subnet(preserve_weight=True)``). Random subnets come from OFA's own
``sample_active_subnet`` and reach raynas through :func:`raynas.ofa.from_ofa`.
"""

from __future__ import annotations

import copy
import math
import random
import re

import pytest
import torch

from raynas.errors import InvalidArchitecture, InvalidCheckpoint
from raynas.nn import recalibrate_bn
from raynas.ofa import NETS, from_ofa, import_ofa, ofa_key_names, to_ofa

networks = pytest.importorskip("ofa.imagenet_classification.elastic_nn.networks",
                               reason="the reference needs the 'ofa' package (pip install -e .[test])")

MBV3_W10, MBV3_W12, PROXYLESS = list(NETS)
RESOLUTIONS = (160, 224)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    yield


def ofa_net(net_id: str):
    """OFA's supernet for ``net_id``, built as its model zoo builds it (``ofa.model_zoo.ofa_net``)."""
    options = dict(dropout_rate=0, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4])
    if net_id == PROXYLESS:
        return networks.OFAProxylessNASNets(width_mult=1.3, **options)
    return networks.OFAMobileNetV3(width_mult=float(net_id[-3:]), **options)


@torch.no_grad()
def randomise(net: torch.nn.Module, seed: int) -> None:
    """He (fan-in) conv weights, random BN affine and running statistics, kernel transforms and biases off their init."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.num_batches_tracked.fill_(1000)
        elif isinstance(m, torch.nn.Linear):
            m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    for name, p in net.named_parameters():
        if name.endswith("_matrix"):
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


def old_generation(state: dict) -> dict:
    """The older published key names: ``blocks.N.mobile_inverted_conv``, single-level ``bn.`` / ``conv.weight``."""
    out = {}
    for key, value in state.items():
        key = re.sub(r"^blocks\.(\d+)\.conv\.", r"blocks.\1.mobile_inverted_conv.", key)
        key = key.replace(".conv.conv.weight", ".conv.weight").replace(".bn.bn.", ".bn.")
        out[key] = value
    return out


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """net id -> (OFA supernet, {generation: weights file}), built once per module."""
    cache: dict[str, tuple] = {}

    def get(net_id: str):
        if net_id not in cache:
            torch.manual_seed(0)
            net = ofa_net(net_id)
            randomise(net, seed=len(cache) + 1)
            net.eval()
            folder = tmp_path_factory.mktemp(net_id.replace(".", "_"))
            files = {"new": folder / "new.pth", "old": folder / "old.pth"}
            torch.save({"state_dict": net.state_dict()}, files["new"])
            torch.save({"state_dict": old_generation(net.state_dict())}, files["old"])
            cache[net_id] = (net, files)
        return cache[net_id]

    return get


def subnets(ofa, space, seed: int, num_random: int) -> list[dict]:
    """Smallest, largest and ``num_random`` of OFA's own samples, each at every resolution of RESOLUTIONS."""
    random.seed(seed)  # OFA's sampler draws from the global `random`
    samples = [ofa.sample_active_subnet() for _ in range(num_random)]
    archs = [space.smallest(), space.largest()] + [from_ofa(s, space, resolution=RESOLUTIONS[0]) for s in samples]
    return [space.canonical({**arch, "resolution": r}) for arch in archs for r in RESOLUTIONS]


def assert_same_logits(ours: torch.Tensor, reference: torch.Tensor) -> None:
    """Relative difference at most 1e-6 of the largest logit (bitwise where the arithmetic order allows)."""
    assert ours.shape == reference.shape and ours.dtype == reference.dtype
    scale = reference.abs().max().item()
    assert scale > 0.1, "degenerate reference logits"
    assert (ours - reference).abs().max().item() <= 1e-6 * scale


@torch.no_grad()
def check_subnet(net, ofa, arch: dict, seed: int, batch: int = 2) -> None:
    config = to_ofa(arch)
    ofa.set_active_subnet(ks=config["ks"], e=config["e"], d=config["d"])
    x = torch.randn(batch, 3, config["r"], config["r"], generator=torch.Generator().manual_seed(seed))
    net.eval().set_active(arch)
    reference = ofa.eval()(x)
    assert_same_logits(net(x), reference)
    ofa_subnet = ofa.get_active_subnet(preserve_weight=True).eval()
    subnet = net.extract(arch)
    assert_same_logits(subnet(x), ofa_subnet(x))
    assert_same_logits(subnet(x), reference)
    params = sum(p.numel() for p in subnet.parameters())
    assert params == sum(p.numel() for p in ofa_subnet.parameters()) == net.space.params(arch)


@pytest.mark.parametrize("net_id", list(NETS))
def test_imported_logits_equal_ofa(net_id, published):
    ofa, files = published(net_id)
    net = import_ofa(files["new"], net_id)
    for i, arch in enumerate(subnets(ofa, net.space, seed=7, num_random=1)):
        check_subnet(net, ofa, arch, seed=i)


def test_older_key_names_are_what_ofa_loads(published):
    """The older-generation file these tests write is one OFA's own ``load_state_dict`` reads back."""
    ofa, files = published(MBV3_W10)
    state = torch.load(files["old"], weights_only=True)["state_dict"]
    assert any(".mobile_inverted_conv." in k for k in state) and not any(".bn.bn." in k for k in state)
    fresh = ofa_net(MBV3_W10)
    fresh.load_state_dict(state)
    for key, value in ofa.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


@pytest.mark.parametrize("net_id", list(NETS))
def test_older_key_names_import_ofa_tensors(net_id, published):
    ofa, files = published(net_id)
    net = import_ofa(files["old"], net_id)
    assert net.checkpoint_meta["imported_from"]["key_names"] == "old"
    reference = ofa.state_dict()
    names = ofa_key_names(net)
    assert sorted(names.values()) == sorted(reference)  # one to one
    for key, value in net.state_dict().items():
        assert torch.equal(value, reference[names[key]]), (key, names[key])


@pytest.mark.slow
@pytest.mark.parametrize("generation", ["new", "old"])
@pytest.mark.parametrize("net_id", list(NETS))
def test_imported_logits_equal_ofa_sweep(net_id, generation, published):
    ofa, files = published(net_id)
    net = import_ofa(files[generation], net_id)
    for i, arch in enumerate(subnets(ofa, net.space, seed=11, num_random=6)):
        check_subnet(net, ofa, arch, seed=100 + i, batch=4)


@pytest.mark.parametrize("net_id", [MBV3_W10, PROXYLESS])
def test_bn_recalibration_matches_ofa_set_running_statistics(net_id, published):
    from ofa.imagenet_classification.elastic_nn.utils import set_running_statistics

    shared, files = published(net_id)
    ofa = copy.deepcopy(shared)  # re-calibration changes its statistics
    net = import_ofa(files["new"], net_id)
    random.seed(3)
    config = ofa.sample_active_subnet()
    arch = from_ofa(config, net.space, resolution=128)
    g = torch.Generator().manual_seed(5)
    batches = [(torch.randn(n, 3, 128, 128, generator=g), torch.zeros(n, dtype=torch.long)) for n in (3, 2)]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        ofa.set_active_subnet(ks=config["ks"], e=config["e"], d=config["d"])
        set_running_statistics(ofa, batches)
        recalibrate_bn(net, batches, arch, method="ofa")
    names = ofa_key_names(net)
    reference = ofa.state_dict()
    changed = 0
    for key, value in net.state_dict().items():
        if key.endswith(("running_mean", "running_var")):
            torch.testing.assert_close(value, reference[names[key]], rtol=1e-6, atol=1e-7, msg=key)
            changed += not torch.equal(value, before[key])
    assert changed > 20  # the active subnet's layers were re-estimated
    x = torch.randn(2, 3, 128, 128, generator=g)
    with torch.no_grad():
        ofa.set_active_subnet(ks=config["ks"], e=config["e"], d=config["d"])
        net.eval()
        assert_same_logits(net(x), ofa.eval()(x))


def test_ofa_statistics_use_the_biased_variance():
    bn = torch.nn.BatchNorm2d(3)
    x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    recalibrate_bn(torch.nn.Sequential(bn), [x], method="ofa")
    torch.testing.assert_close(bn.running_var, x.var(dim=(0, 2, 3), unbiased=False))
    torch.testing.assert_close(bn.running_mean, x.mean(dim=(0, 2, 3)))
    recalibrate_bn(torch.nn.Sequential(bn), [x], method="torch")
    torch.testing.assert_close(bn.running_var, x.var(dim=(0, 2, 3), unbiased=True))
    with pytest.raises(ValueError, match="method must be one of"):
        recalibrate_bn(torch.nn.Sequential(bn), [x], method="biased")


# -- architectures -----------------------------------------------------------------------------
@pytest.mark.parametrize("net_id", list(NETS))
def test_to_ofa_from_ofa_round_trip(net_id, published):
    import search_spaces

    name, kwargs = NETS[net_id]
    space = search_spaces.get(name, **kwargs)
    rng = random.Random(0)
    for _ in range(20):
        arch = space.canonical(space.sample(rng))
        config = to_ofa(arch)
        assert len(config["ks"]) == len(config["e"]) == sum(stage.max_depth for stage in space.spec.stages)
        assert len(config["d"]) == len(space.spec.stages)
        assert from_ofa(config, space) == arch
        assert from_ofa({**config, "r": [config["r"]]}, net_id) == arch
        assert from_ofa({k: v for k, v in config.items() if k != "r"} | {"image_size": config["r"]}, space) == arch


def test_from_ofa_rejects_bad_configs():
    good = to_ofa(__import__("search_spaces").get("ofa-mbv3").largest())
    with pytest.raises(InvalidArchitecture, match="'ks' must be a list of 20"):
        from_ofa({**good, "ks": good["ks"][:-1]})
    with pytest.raises(InvalidArchitecture, match="no resolution"):
        from_ofa({k: v for k, v in good.items() if k != "r"})
    with pytest.raises(InvalidArchitecture, match="unknown OFA architecture key"):
        from_ofa({**good, "depth": 3})
    with pytest.raises(InvalidArchitecture):
        from_ofa({**good, "e": [5] * 20})
    with pytest.raises(InvalidArchitecture, match="to_ofa needs"):
        to_ofa({"a": 1})


def test_proxyless_last_stage_takes_any_ofa_depth():
    # OFA's set_max_net sets d=4 everywhere; its single-block last stage runs its one block.
    config = {"ks": [7] * 21, "e": [6] * 21, "d": [4] * 6, "r": 224}
    space = __import__("search_spaces").get("ofa-proxyless")
    assert from_ofa(config, space) == space.largest()


# -- bad files: one line, nothing written --------------------------------------------------------
@pytest.fixture(scope="module")
def bad_files(published, tmp_path_factory):
    ofa, files = published(MBV3_W10)
    folder = tmp_path_factory.mktemp("bad")
    foreign = folder / "foreign.pth"
    torch.save({"state_dict": torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Linear(8, 2)).state_dict()}, foreign)
    truncated = folder / "truncated.pth"
    truncated.write_bytes(files["new"].read_bytes()[: files["new"].stat().st_size // 2])
    partial = folder / "partial.pth"
    state = ofa.state_dict()
    torch.save({"state_dict": {k: v for i, (k, v) in enumerate(state.items()) if i < len(state) - 20}}, partial)
    not_a_dict = folder / "list.pth"
    torch.save([1, 2, 3], not_a_dict)
    return {"foreign": foreign, "truncated": truncated, "partial": partial, "list": not_a_dict, "w1.0": files["new"]}


@pytest.mark.parametrize("case,net_id,needle", [
    ("foreign", MBV3_W10, "key '0.weight' is not a key of ofa_mbv3_d234_e346_k357_w1.0"),
    ("truncated", MBV3_W10, "could not be read (truncated, corrupt"),
    ("partial", MBV3_W10, "lacks key 'blocks.20.conv.depth_conv.se.fc.reduce.weight' of "
                          "ofa_mbv3_d234_e346_k357_w1.0 (17 of 475 missing"),
    ("list", MBV3_W10, "is not a once-for-all weights file"),
    ("w1.0", MBV3_W12, "key 'first_conv.conv.weight' has shape (16, 3, 3, 3), ofa_mbv3_d234_e346_k357_w1.2 "
                       "expects (24, 3, 3, 3)"),
    ("w1.0", PROXYLESS, "key 'first_conv.conv.weight' has shape (16, 3, 3, 3)"),
])
def test_bad_files_are_one_line_errors_and_write_nothing(case, net_id, needle, bad_files, tmp_path, capsys):
    from raynas.cli.main import main

    out = tmp_path / "out"
    with pytest.raises(InvalidCheckpoint) as info:
        import_ofa(bad_files[case], net_id, out=out)
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert main(["import", "ofa", "--net", net_id, "--weights", str(bad_files[case]), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("raynas: error:") and "\n" not in err and needle in err
    assert not out.exists()


def test_unknown_net_id_and_missing_file(tmp_path, capsys):
    from raynas.cli.main import main
    from raynas.errors import ConfigError

    with pytest.raises(ConfigError, match="net_id must be one of ofa_mbv3_d234_e346_k357_w1.0"):
        import_ofa(tmp_path / "x", "ofa_mbv3_w1.0")
    assert main(["import", "ofa", "--net", "ofa_resnet50", "--weights", "x", "--out", str(tmp_path / "o")]) == 2
    assert "invalid choice: 'ofa_resnet50'" in capsys.readouterr().err
    with pytest.raises(InvalidCheckpoint, match="does not exist"):
        import_ofa(tmp_path / "missing.pth", PROXYLESS, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_cli_import_writes_a_checkpoint_that_loads_alone(published, tmp_path, capsys):
    from raynas.cli.main import main
    from raynas.nn import Supernet

    ofa, files = published(PROXYLESS)
    out = tmp_path / "ckpt"
    assert main(["import", "ofa", "--net", PROXYLESS, "--weights", str(files["old"]), "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "imported ofa_proxyless_d234_e346_k357_w1.3 (old key names" in printed
    net = Supernet.load(out)
    assert net.space.name == "ofa-proxyless" and net.space.kwargs["width_mult"] == 1.3
    assert net.checkpoint_meta["imported_from"]["net_id"] == PROXYLESS
    assert net.checkpoint_meta["bn_method"] == "ofa"
    check_subnet(net, ofa, net.space.canonical({**net.space.smallest(), "resolution": 128}), seed=0, batch=1)
    # a second import into the same folder is refused without --overwrite, and the checkpoint stays
    before = (out / "supernet.pt").read_bytes()
    assert main(["import", "ofa", "--net", PROXYLESS, "--weights", str(files["new"]), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "supernet.pt").read_bytes() == before
    assert main(["import", "ofa", "--net", PROXYLESS, "--weights", str(files["new"]), "--out", str(out),
                 "--overwrite", "-q"]) == 0
    assert Supernet.load(out).checkpoint_meta["imported_from"]["key_names"] == "new"


# -- searching an imported supernet ---------------------------------------------------------------
@pytest.mark.slow
def test_search_on_an_imported_checkpoint(published, tmp_path, ray_session, capsys):
    """`raynas search --checkpoint` takes the imported folder as it is (a few trials, synthetic 224-px images)."""
    import json

    from raynas.cli.main import main

    _, files = published(MBV3_W10)
    ckpt = tmp_path / "ckpt"
    assert main(["import", "ofa", "--net", MBV3_W10, "--weights", str(files["new"]), "--out", str(ckpt), "-q"]) == 0
    out = tmp_path / "search"
    code = main(["search", "--checkpoint", str(ckpt), "--dataset", "synthetic224", "--strategy", "random",
                 "--budget", "3", "--concurrency", "1", "--max-flops", "300e6", "--out", str(out), "-q"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    best = json.loads((out / "best.json").read_text())
    assert "trials: 3 (0 failed)" in printed
    arch = best.get("arch", best)
    import search_spaces

    space = search_spaces.get("ofa-mbv3")
    assert space.flops(space.canonical({k: arch[k] for k in space.choices})) <= 300e6


def test_search_on_an_imported_checkpoint_needs_its_data(published, tmp_path, capsys):
    from raynas.cli.main import main

    _, files = published(MBV3_W10)
    ckpt = tmp_path / "ckpt"
    import_ofa(files["new"], MBV3_W10, out=ckpt)
    assert main(["search", "--checkpoint", str(ckpt), "--strategy", "random", "--budget", "2",
                 "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "evaluates on 'imagenet', an image folder: give --data-dir ROOT" in err and err.count("\n") == 1
    assert not (tmp_path / "s").exists()
