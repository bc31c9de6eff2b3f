"""MobileNetSpace and the tiny space: keys, canonical form, size, costs, arguments."""

from __future__ import annotations

import itertools
import pickle
import random
import warnings

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import search_spaces
from raynas.errors import ConfigError, InvalidArchitecture
from raynas.nn import ElasticMobileNet, MobileNet
from search_spaces.mobilenet import MobileNetSpace, StageSpec
from search_spaces.tiny import TinySpace


def _reduced_space() -> MobileNetSpace:
    return MobileNetSpace(
        [
            StageSpec(widths=(8, 16), depths=(1, 2), kernel_sizes=(3, 5), expand_ratios=(1, 2)),
            StageSpec(widths=16, depths=(1, 2, 3), kernel_sizes=(3,), expand_ratios=(2, 3), stride=2, se=True),
        ],
        resolutions=(8, 12),
        in_channels=1,
        stem_widths=(8, 16),
        head_widths=((16, 24),),
        name="reduced",
    )


def test_tiny_keys_in_order():
    space = search_spaces.get("tiny")
    expected = ["resolution"]
    for stage in (1, 2, 3):
        expected.append(f"s{stage}.depth")
        for block in range(3):
            expected += [f"s{stage}.b{block}.kernel", f"s{stage}.b{block}.expand"]
    assert space.keys == expected
    choices = space.choices
    assert choices["resolution"] == (12, 16, 20)
    assert choices["s2.depth"] == (1, 2, 3)
    assert choices["s3.b2.kernel"] == (3, 5, 7)
    assert choices["s1.b0.expand"] == (2, 4, 6)
    assert all(isinstance(v, int) for values in choices.values() for v in values)


def test_tiny_structure():
    space = search_spaces.get("tiny")
    spec = space.spec
    assert (spec.in_channels, spec.stem_widths, spec.stem_stride, spec.stem_activation) == (1, (16,), 1, "hswish")
    assert [s.widths for s in spec.stages] == [(16,), (24,), (40,)]
    assert [s.stride for s in spec.stages] == [1, 2, 2]
    assert [s.activation for s in spec.stages] == ["relu", "relu", "hswish"]
    assert [s.se for s in spec.stages] == [False, False, True]
    assert spec.head_widths == ((128,),) and spec.pooled_widths == ()
    net = space.build_supernet()
    assert isinstance(net, ElasticMobileNet) and net.num_classes == 10
    assert net.classifier.max_in_features == 128


def test_tiny_size_closed_form():
    per_stage = sum(9**depth for depth in (1, 2, 3))
    assert search_spaces.get("tiny").size == 3 * per_stage**3 == 1_648_059_777
    assert search_spaces.get("tiny", resolutions=(16,)).size == per_stage**3


def test_size_matches_brute_force_on_a_reduced_space():
    space = _reduced_space()
    keys = space.keys
    distinct = {space.key(dict(zip(keys, values))) for values in itertools.product(*space.choices.values())}
    assert space.size == len(distinct) == sum(1 for _ in space.enumerate())
    assert space.size == 2 * 2 * 2 * (4 + 16) * (2 + 4 + 8) * 2


def test_canonical_sets_inactive_blocks_to_first_choices():
    space = search_spaces.get("tiny")
    arch = space.largest()
    arch["s2.depth"] = 1
    canon = space.canonical(arch)
    assert canon["s2.b1.kernel"] == 3 and canon["s2.b2.expand"] == 2
    assert canon["s2.b0.kernel"] == 7 and canon["s3.b2.kernel"] == 7
    assert space.flops(arch) == space.flops(canon) and space.params(arch) == space.params(canon)


def test_blocks_one_group_per_stage():
    space = _reduced_space()
    groups = space.blocks()
    assert len(groups) == 2
    assert groups[0][:3] == ["resolution", "stem.width", "s1.width"]
    assert groups[1][-1] == "head1.width"
    assert sorted(k for g in groups for k in g) == sorted(space.keys)
    tiny_groups = search_spaces.get("tiny").blocks()
    assert len(tiny_groups) == 3 and tiny_groups[0][0] == "resolution"
    assert all(k.startswith(f"s{i + 1}.") for i, g in enumerate(tiny_groups) for k in g if k != "resolution")


def test_tiny_kwargs_rebuild_the_space():
    space = search_spaces.get("tiny", in_channels=3, resolutions=(16, 20))
    assert space.kwargs == {"in_channels": 3, "resolutions": [16, 20], "num_classes": 10}
    again = search_spaces.get(space.name, **space.kwargs)
    assert again.choices == space.choices and again.kwargs == space.kwargs
    assert space.input_shape(space.smallest()) == (3, 16, 16)
    with pytest.raises(ConfigError):
        search_spaces.get("tiny", resolutions=(20, 12))


def test_generic_space_kwargs_rebuild_it():
    space = _reduced_space()
    again = MobileNetSpace(**space.kwargs, name="reduced")
    assert again.choices == space.choices
    arch = space.sample(random.Random(0))
    assert again.flops(arch) == space.flops(arch) and again.params(arch) == space.params(arch)


def test_costs_grow_from_smallest_to_largest():
    space = search_spaces.get("tiny")
    assert space.flops(space.smallest()) < space.flops(space.largest())
    assert space.params(space.smallest()) < space.params(space.largest())


def test_costs_reject_invalid_archs():
    space = search_spaces.get("tiny")
    arch = space.largest()
    space.flops(arch)  # cached
    for bad in ({**arch, "resolution": 13}, {k: v for k, v in arch.items() if k != "s1.depth"},
                {**arch, "extra": 1}, {**arch, "s1.depth": True}, {**arch, "s1.depth": [1]}):
        with pytest.raises(InvalidArchitecture):
            space.flops(bad)
        with pytest.raises(InvalidArchitecture):
            space.params(bad)


def test_space_pickles_with_its_cost_cache():
    space = search_spaces.get("tiny")
    arch = space.sample(random.Random(3))
    flops = space.flops(arch)
    clone = pickle.loads(pickle.dumps(space))
    assert clone.flops(arch) == flops and clone.name == "tiny" and clone.kwargs == space.kwargs


def test_build_supernet_with_other_num_classes_keeps_costs_exact():
    space = search_spaces.get("tiny")
    net = space.build_supernet(num_classes=3)
    assert net.num_classes == 3 and net.space.num_classes == 3 and net.space.kwargs["num_classes"] == 3
    assert space.num_classes == 10
    arch = space.largest()
    subnet = net.extract(arch)
    with FlopCounterMode(display=False) as counter:
        subnet(torch.zeros(1, *space.input_shape(arch)))
    assert net.space.flops(arch) == counter.get_total_flops()
    assert net.space.flops(arch) == space.flops(arch) - 2 * 128 * 7


def test_extracted_tiny_subnet_scripts_with_torch_jit_script():
    space = search_spaces.get("tiny")
    net = space.build_supernet().eval()
    subnet = net.extract(space.smallest())
    assert isinstance(subnet, MobileNet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.script(subnet)
    x = torch.randn(3, 1, 8, 8)
    assert torch.allclose(scripted(x), subnet(x), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kernel_sizes": (3, 4)}, "odd"),
        ({"depths": (2, 1)}, "increasing"),
        ({"widths": ()}, "non-empty"),
        ({"activation": "gelu"}, "activation"),
        ({"stride": 0}, "stride"),
    ],
)
def test_stage_spec_rejects_bad_values(kwargs, message):
    base = {"widths": 8, "depths": (1, 2), "kernel_sizes": (3,), "expand_ratios": (2,)}
    with pytest.raises(ConfigError, match=message):
        StageSpec(**{**base, **kwargs})


def test_stage_spec_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown StageSpec key 'width'.*valid keys"):
        StageSpec.from_dict({"width": 8, "depths": 1, "kernel_sizes": 3, "expand_ratios": 2})
    spec = StageSpec(widths=8, depths=(1, 2), kernel_sizes=(3, 5), expand_ratios=(2,), se=True)
    assert StageSpec.from_dict(spec.to_dict()) == spec


def test_first_block_must_be_fixed():
    stage = StageSpec(widths=8, depths=1, kernel_sizes=3, expand_ratios=2)
    with pytest.raises(ConfigError, match="first_block"):
        MobileNetSpace([stage], resolutions=(8,), first_block={"widths": (8, 16), "depths": 1,
                                                               "kernel_sizes": 3, "expand_ratios": 1})


def test_tiny_is_a_registered_mobilenet_space():
    assert "tiny" in search_spaces.available()
    assert isinstance(search_spaces.get("tiny"), TinySpace)
    assert search_spaces.TinySpace is TinySpace and search_spaces.MobileNetSpace is MobileNetSpace
