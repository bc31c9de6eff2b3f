"""The contract every registered search space meets, generated from the registry.

The checks live in :mod:`search_spaces.testing` (so a user's own space runs the same
ones). Spaces with a supernet additionally meet the elastic-exactness contract: for the
smallest, largest and seeded random architectures the extracted subnet computes what the
supernet's active path computes, and the space's flops/params equal what is counted on
the extracted subnet. How many random architectures, and at what batch size, follows the
space's cost hint (:func:`search_spaces.testing.budget_for`): 20 at batch 2 for small
spaces, 3 at batch 1 and the smallest resolution for ImageNet-sized ones (and nb201's
C=16, N=5 network).
"""

from __future__ import annotations

import pytest
import torch

import search_spaces
from raynas.errors import ConfigError
from raynas.testing import ContractError, NotApplicable
from search_spaces import testing
from search_spaces.mobilenet import MobileNetSpace, StageSpec


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


@pytest.fixture(scope="module")
def supernet(space):
    try:
        net = space.build_supernet()
    except NotImplementedError as exc:
        pytest.skip(f"space {space.name!r} has no supernet: {exc}")
    torch.manual_seed(0)
    testing.randomize(net)
    return net.eval()


def _run(check, *args):
    try:
        check(*args)
    except NotApplicable as exc:
        pytest.skip(str(exc))


# -- every space --------------------------------------------------------------------------------
@pytest.mark.parametrize("check", testing.SPACE_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_space_contract(space, check):
    _run(check, space)


# -- spaces with a supernet -----------------------------------------------------------------------
@pytest.mark.parametrize("check", testing.SUPERNET_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_supernet_contract(space, supernet, check):
    _run(check, space, supernet, testing.budget_for(space))


# -- the suite itself ---------------------------------------------------------------------------------
def test_budget_follows_the_cost_hint():
    assert testing.budget_for(search_spaces.get("tiny")) == testing.LIGHT
    heavy = search_spaces.get("ofa-mbv3")
    assert testing.budget_for(heavy) == testing.HEAVY
    archs = testing.contract_archs(heavy)
    assert len(archs) == 2 + testing.HEAVY.num_random
    assert archs[1] == {**heavy.largest(), "resolution": 128} == testing.contract_largest(heavy)
    assert {a["resolution"] for a in archs} == {128}
    light = testing.contract_archs(search_spaces.get("tiny"))
    assert len(light) == 22 and {a["resolution"] for a in light} == {12, 16, 20}


def test_exactness_check_catches_a_subnet_that_differs():
    space = search_spaces.get("tiny")
    net = space.build_supernet().eval()
    original = net.extract

    def off_by_a_bit(arch=None):
        subnet = original(arch)
        with torch.no_grad():
            subnet.classifier.bias.add_(1e-3)
        return subnet

    net.extract = off_by_a_bit
    with pytest.raises(ContractError, match="subnet and supernet differ"):
        testing.check_extracted_subnet_equals_supernet(space, net, testing.Budget(num_random=0))


def test_cost_check_catches_wrong_flops():
    space = search_spaces.get("tiny")
    net = space.build_supernet().eval()
    space.flops = lambda arch: 1  # instance attribute shadows the method
    with pytest.raises(ContractError, match="FlopCounterMode counts"):
        testing.check_flops_and_params(space, net, testing.Budget(num_random=0))


def test_validation_check_catches_a_silent_space():
    space = search_spaces.ChoiceSpace({"a": (1, 2)}, name="silent")
    space.validate = lambda arch: dict(arch)
    with pytest.raises(ContractError, match="accepted the invalid architecture"):
        testing.check_validate_rejects_unknown_key(space)


@pytest.mark.parametrize("name", SPACES)
def test_with_num_classes_copies_the_space_with_another_classifier(name):
    space = _make(name)
    assert space.with_num_classes(space.num_classes) is space
    other = space.with_num_classes(space.num_classes + 7)
    arch = space.largest()
    assert other.num_classes == space.num_classes + 7 and other.kwargs["num_classes"] == other.num_classes
    assert other.params(arch) > space.params(arch)
    assert "num_classes" not in space.kwargs or space.kwargs["num_classes"] == space.num_classes
    with pytest.raises(ConfigError, match="num_classes"):
        space.with_num_classes(0)


def test_with_num_classes_on_a_space_without_classifier_says_so():
    space = search_spaces.ChoiceSpace({"a": (1, 2)}, name="plain")
    with pytest.raises(NotImplementedError, match="space 'plain' has no classifier"):
        space.with_num_classes(3)


class _Stateful(torch.nn.Module):
    """Adds a Python-side counter: torch.export bakes the value at capture, eager mode moves on."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x) + self.calls


class _DataDependent(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        y = self.inner(x)
        return y if bool(y.sum() > 0) else -y


@pytest.mark.parametrize("wrapper,expected,needle", [
    (_Stateful, ContractError, "the torch.export program computes something else at batch"),
    (_DataDependent, NotApplicable, "torch.export cannot capture the subnet"),
])
def test_torch_export_check_catches_a_program_that_differs_and_says_when_it_cannot_apply(wrapper, expected, needle):
    space = search_spaces.get("tiny")
    net = space.build_supernet().eval()
    original = net.extract
    net.extract = lambda arch=None: wrapper(original(arch)).eval()
    with pytest.raises(expected, match=needle):
        testing.check_torch_export(space, net, testing.Budget(num_random=0))
