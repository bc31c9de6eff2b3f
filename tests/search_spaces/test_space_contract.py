"""The contract every registered search space meets, generated from the registry.

Spaces with a supernet additionally meet the elastic-exactness contract: for the smallest,
largest and 20 seeded random architectures the extracted subnet computes what the
supernet's active path computes, and the space's flops/params equal what is counted on
the extracted subnet.
"""

from __future__ import annotations

import random
import re

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import search_spaces
from raynas.errors import ConfigError, InvalidArchitecture
from search_spaces.mobilenet import MobileNetSpace, StageSpec

NUM_RANDOM = 20
ATOL = 1e-5


def _custom_space() -> MobileNetSpace:
    """Exercises what tiny does not: elastic stem/stage/head widths, a fixed first block,
    expand ratio 1 beside larger ones, a stage without expansion conv, pooled head convs."""
    return MobileNetSpace(
        [
            StageSpec(widths=(8, 16), depths=(1, 2), kernel_sizes=(3, 5), expand_ratios=(1, 2), stride=1,
                      activation="relu6", se=True),
            StageSpec(widths=(16,), depths=(1, 2), kernel_sizes=(3,), expand_ratios=(2, 3), stride=2,
                      activation="swish"),
            StageSpec(widths=(16, 24), depths=(1,), kernel_sizes=(3,), expand_ratios=(1,), stride=1,
                      activation="hswish", se=True),
        ],
        resolutions=(9, 12),
        in_channels=2,
        stem_widths=(8, 16),
        stem_stride=2,
        first_block={"widths": 8, "depths": 1, "kernel_sizes": 3, "expand_ratios": 1, "stride": 1},
        head_widths=((16, 24),),
        pooled_widths=(32,),
        num_classes=5,
        name="custom-elastic",
    )


def _make(name: str):
    if name == "custom-elastic":
        return _custom_space()
    try:
        return search_spaces.get(name)
    except ConfigError as exc:
        pytest.skip(f"space {name!r} cannot be built without arguments: {exc}")


SPACES = search_spaces.available() + ["custom-elastic"]


@pytest.fixture(params=SPACES, scope="module")
def space(request):
    return _make(request.param)


def _randomize(net: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters, kernel transforms off the identity."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.running_mean.copy_(0.3 * torch.randn(n, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(n, generator=gen))
                module.weight.copy_(0.5 + torch.rand(n, generator=gen))
                module.bias.copy_(0.2 * torch.randn(n, generator=gen))
        for name, param in net.named_parameters():
            if "transforms" in name:
                param.add_(0.1 * torch.randn(param.shape, generator=gen))
            elif name.endswith("bias") and param.dim() == 1 and "norm" not in name:
                param.copy_(0.1 * torch.randn(param.shape, generator=gen))


@pytest.fixture(scope="module")
def supernet(space):
    try:
        net = space.build_supernet()
    except NotImplementedError as exc:
        pytest.skip(f"space {space.name!r} has no supernet yet: {exc}")
    torch.manual_seed(0)
    _randomize(net)
    return net.eval()


def _archs(space) -> list[dict]:
    rng = random.Random(1234)
    return [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(NUM_RANDOM)]


# -- every space --------------------------------------------------------------------------------
def test_validate_rejects_unknown_key(space):
    arch = space.largest()
    arch["no.such.key"] = 1
    with pytest.raises(InvalidArchitecture, match=re.escape("'no.such.key'")):
        space.validate(arch)


def test_validate_rejects_missing_key(space):
    arch = space.largest()
    key = space.keys[-1]
    del arch[key]
    with pytest.raises(InvalidArchitecture, match=f"missing key {re.escape(repr(key))}"):
        space.validate(arch)


def test_validate_rejects_value_outside_choices(space):
    arch = space.largest()
    key = space.keys[0]
    bad = "not-a-choice" if isinstance(arch[key], str) else 987654321
    arch[key] = bad
    with pytest.raises(InvalidArchitecture) as info:
        space.validate(arch)
    message = str(info.value)
    assert repr(key) in message and str(bad) in message
    assert str(list(space.choices[key])) in message


def test_canonical_is_idempotent_and_valid(space):
    for arch in _archs(space)[:6]:
        canon = space.canonical(arch)
        assert space.canonical(canon) == canon
        assert space.validate(canon) == canon


def test_canonical_ignores_inactive_blocks(space):
    depth_keys = [k for k in space.keys if re.fullmatch(r"s\d+\.depth", k)]
    found = False
    for depth_key in depth_keys:
        stage = depth_key.split(".")[0]
        depths = space.choices[depth_key]
        if len(depths) < 2:
            continue
        arch = space.largest()
        arch[depth_key] = depths[0]
        inactive = f"{stage}.b{depths[0]}.kernel"
        kernels = space.choices.get(inactive, ())
        if len(kernels) < 2:
            continue
        other = dict(arch)
        arch[inactive], other[inactive] = kernels[0], kernels[-1]
        assert arch != other
        assert space.canonical(arch) == space.canonical(other)
        assert space.key(arch) == space.key(other)
        found = True
    if not found:
        pytest.skip(f"space {space.name!r} has no stage with an elastic depth and kernel")


# -- spaces with a supernet -----------------------------------------------------------------------
def test_extracted_subnet_equals_supernet(space, supernet):
    largest_shape = space.input_shape(space.largest())
    x = torch.randn(2, *largest_shape, generator=torch.Generator().manual_seed(7))
    for arch in _archs(space):
        supernet.set_active(arch)
        subnet = supernet.extract(arch)
        assert not subnet.training
        with torch.no_grad():
            expected = supernet(x)
            got = subnet(x)
        assert got.shape == (2, supernet.num_classes)
        assert torch.allclose(got, expected, atol=ATOL, rtol=0), (arch, (got - expected).abs().max().item())


def test_supernet_output_depends_on_arch(space, supernet):
    x = torch.randn(2, *space.input_shape(space.largest()), generator=torch.Generator().manual_seed(3))
    outputs = []
    with torch.no_grad():
        for arch in (space.smallest(), space.largest()):
            supernet.set_active(arch)
            outputs.append(supernet(x))
    assert not torch.allclose(outputs[0], outputs[1])


def test_flops_and_params_match_the_extracted_subnet(space, supernet):
    for arch in _archs(space):
        subnet = supernet.extract(arch)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            subnet(torch.zeros(1, *space.input_shape(arch)))
        assert space.flops(arch) == counter.get_total_flops(), arch
        assert space.params(arch) == sum(p.numel() for p in subnet.parameters()), arch


def test_extracted_subnet_is_standalone(space, supernet):
    arch = space.largest()
    subnet = supernet.extract(arch)
    supernet_storage = {p.untyped_storage().data_ptr() for p in supernet.parameters()}
    supernet_storage |= {b.untyped_storage().data_ptr() for b in supernet.buffers()}
    for tensor in list(subnet.parameters()) + list(subnet.buffers()):
        assert tensor.untyped_storage().data_ptr() not in supernet_storage
    assert not any(isinstance(m, type(supernet)) for m in subnet.modules())


def test_extracted_subnet_is_torchscriptable(space, supernet):
    arch = space.largest()
    subnet = supernet.extract(arch)
    x = torch.randn(2, *space.input_shape(arch))
    try:
        compiled = torch.jit.script(subnet)
    except Exception:  # noqa: BLE001 - tracing is the documented fallback
        compiled = torch.jit.trace(subnet, x)
    with torch.no_grad():
        assert torch.allclose(compiled(x), subnet(x), atol=ATOL, rtol=0)


def test_sort_channels_keeps_the_largest_subnet(space):
    try:
        net = space.build_supernet()
    except NotImplementedError as exc:
        pytest.skip(f"space {space.name!r} has no supernet yet: {exc}")
    torch.manual_seed(1)
    _randomize(net, seed=1)
    net.eval()
    x = torch.randn(2, *space.input_shape(space.largest()), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        before = net(x)
        state = {k: v.clone() for k, v in net.state_dict().items()}
        try:
            net.sort_channels()
        except NotImplementedError as exc:
            pytest.skip(f"supernet of {space.name!r} does not sort channels: {exc}")
        after = net(x)
    assert torch.allclose(before, after, atol=ATOL, rtol=0), (before - after).abs().max().item()
    changed = [k for k, v in net.state_dict().items() if not torch.equal(v, state[k])]
    assert changed, "sort_channels changed no weight; the test would not notice a missing permutation"


def test_set_active_rejects_invalid_arch(space, supernet):
    supernet.set_active(space.largest())
    bad = space.largest()
    bad["no.such.key"] = 0
    with pytest.raises(InvalidArchitecture):
        supernet.set_active(bad)
    assert supernet.active_arch == space.canonical(space.largest())
