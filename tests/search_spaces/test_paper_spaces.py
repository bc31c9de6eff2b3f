"""The paper spaces: ofa-mbv3 (once-for-all's MobileNetV3) and bignas-mbv2 (BigNAS's Table 1).

Structure is checked on the spaces' specs and on extracted subnets; exactness (subnet ==
supernet, flops/params == counted) is the registry-generated contract suite's job.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import search_spaces
from raynas.nn import SqueezeExcite
from search_spaces import testing
from strategies.grid import coarse_axes


@pytest.fixture(scope="module")
def ofa():
    return search_spaces.get("ofa-mbv3")


@pytest.fixture(scope="module")
def bignas():
    return search_spaces.get("bignas-mbv2")


# -- ofa-mbv3 -------------------------------------------------------------------------------------
def test_ofa_size_is_about_2e19_networks_times_25_resolutions(ofa):
    per_stage = sum(9**depth for depth in (2, 3, 4))  # (3 kernels x 3 expand ratios) ** depth
    networks = per_stage**5
    assert 1.9e19 < networks < 2.3e19
    assert ofa.resolutions == tuple(range(128, 225, 4)) and len(ofa.resolutions) == 25
    assert ofa.size == 25 * networks == 543966387314312146275


def test_ofa_stages_match_the_paper(ofa):
    spec = ofa.spec
    assert [s.widths for s in spec.stages] == [(24,), (40,), (80,), (112,), (160,)]
    assert [s.stride for s in spec.stages] == [2, 2, 2, 1, 2]
    assert [s.activation for s in spec.stages] == ["relu", "relu", "hswish", "hswish", "hswish"]
    assert [s.se for s in spec.stages] == [False, True, False, True, True]
    for stage in spec.stages:
        assert (stage.depths, stage.kernel_sizes, stage.expand_ratios) == ((2, 3, 4), (3, 5, 7), (3, 4, 6))
    assert (spec.stem_widths, spec.stem_stride, spec.stem_kernel_size, spec.stem_activation) == ((16,), 2, 3, "hswish")
    first = spec.first_block
    assert (first.widths, first.expand_ratios, first.kernel_sizes, first.stride, first.activation, first.se) == (
        (16,), (1,), (3,), 1, "relu", False)
    assert spec.head_widths == ((960,),) and spec.pooled_widths == ((1280,),)
    assert ofa.num_classes == 1000 and spec.in_channels == 3


def test_ofa_extracted_largest_subnet_has_the_papers_layers(ofa):
    net = ofa.build_supernet(num_classes=7)
    subnet = net.extract(ofa.largest())
    stem_conv = subnet.stem[0]
    assert (stem_conv.in_channels, stem_conv.out_channels, stem_conv.stride) == (3, 16, (2, 2))
    assert isinstance(subnet.stem[2], nn.Hardswish)
    blocks = list(subnet.blocks)
    assert len(blocks) == 1 + 5 * 4
    first = blocks[0]
    assert isinstance(first.expand, nn.Identity) and first.use_residual
    assert first.depthwise[0].kernel_size == (3, 3) and isinstance(first.depthwise[2], nn.ReLU)
    stage_se = [isinstance(b.se, SqueezeExcite) for b in blocks[1::4]]
    assert stage_se == [False, True, False, True, True]
    assert [b.project[0].out_channels for b in blocks[1::4]] == [24, 40, 80, 112, 160]
    assert all(b.depthwise[0].kernel_size == (7, 7) for b in blocks[1:])
    assert blocks[1].expand[0].out_channels == 16 * 6
    assert subnet.head[0][0].out_channels == 960 and subnet.pooled[0][0].out_channels == 1280
    assert len(subnet.pooled[0]) == 2  # conv, h-swish: no BN after pooling
    assert subnet.classifier.out_features == 7
    with torch.no_grad():
        assert subnet(torch.zeros(1, 3, 128, 128)).shape == (1, 7)


def test_ofa_costs_and_arguments(ofa):
    assert (ofa.flops(ofa.smallest()), ofa.params(ofa.smallest())) == (82952448, 3410792)
    assert (ofa.flops(ofa.largest()), ofa.params(ofa.largest())) == (1132341312, 7664760)
    ten = search_spaces.get("ofa-mbv3", num_classes=10)
    assert ten.kwargs["num_classes"] == 10
    assert ofa.params(ofa.largest()) - ten.params(ofa.largest()) == 1280 * (1000 - 10) + (1000 - 10)
    gray = search_spaces.get("ofa-mbv3", in_channels=1, resolutions=[128, 160])
    assert gray.input_shape(gray.largest()) == (1, 160, 160)
    assert search_spaces.get(ofa.name, **ofa.kwargs).size == ofa.size


# -- bignas-mbv2 ----------------------------------------------------------------------------------
def test_bignas_choices_follow_table_1(bignas):
    choices = bignas.choices
    assert choices["stem.width"] == (32, 40)
    widths = [choices[f"s{i}.width"] for i in range(1, 8)]
    assert widths == [(16, 24), (24, 32), (40, 48), (80, 88), (112, 120, 128), (192, 200, 208, 216),
                      (320, 328, 336, 344, 352)]
    depths = [choices[f"s{i}.depth"] for i in range(1, 8)]
    assert depths == [(1, 2), (2, 3), (2, 3), (2, 3, 4), (2, 3, 4, 5, 6), (2, 3, 4, 5, 6), (1, 2)]
    kernels = [choices[f"s{i}.b0.kernel"] for i in range(1, 8)]
    assert kernels == [(3,), (3,)] + [(3, 5)] * 5
    assert [choices[f"s{i}.b0.expand"] for i in range(1, 8)] == [(1,)] + [(6,)] * 6
    assert choices["head1.width"] == tuple(range(1280, 1409, 8))
    assert bignas.resolutions == (192, 208, 224, 240, 256, 272, 288, 304, 320)


def test_bignas_coarse_grid_is_the_papers_five_resolutions(bignas):
    axes = coarse_axes(bignas.choices)
    resolutions = [a["resolution"] for axis in axes for a in axis if "resolution" in a]
    assert resolutions == [192, 224, 256, 288, 320]


def test_bignas_strides_and_blocks_are_mobilenet_v2s(bignas):
    spec = bignas.spec
    assert spec.stem_stride == 2 and [s.stride for s in spec.stages] == [1, 2, 2, 2, 1, 2, 1]
    assert spec.first_block is None and spec.pooled_widths == ()
    plans = spec.plan(bignas.decode(bignas.largest()))
    stage1 = [p for p in plans if p.stage == 1]
    assert all(not p.has_expand and p.hidden_channels == p.in_channels for p in stage1)
    assert [p.residual for p in stage1] == [False, True]  # 40 -> 24 channels, then 24 -> 24
    assert all(p.has_expand and p.hidden_channels == 6 * p.in_channels for p in plans if p.stage > 1)
    assert not any(p.se for p in plans)
    assert all(p.activation == "swish" for p in plans)
    subnet = bignas.build_supernet().extract(bignas.smallest())
    # the smallest child at 192 px ends at 6x6 before the head (192 / 32)
    features = subnet.blocks(subnet.stem(torch.zeros(1, 3, 192, 192)))
    assert features.shape[-2:] == (6, 6) and features.shape[1] == 320


def test_bignas_size_closed_form(bignas):
    def stage(widths, depths, kernels):
        return widths * sum(kernels**d for d in depths)

    networks = (2 * 17  # stem and head widths
                * stage(2, (1, 2), 1) * stage(2, (2, 3), 1) * stage(2, (2, 3), 2) * stage(2, (2, 3, 4), 2)
                * stage(3, range(2, 7), 2) * stage(4, range(2, 7), 2) * stage(5, (1, 2), 2))
    assert bignas.size == 9 * networks


def test_bignas_reported_children_lie_inside_the_space(bignas):
    """BigNAS's S (242 M) to XL (1040 M multiply-accumulates) lie between our smallest and largest."""
    smallest_macs = bignas.flops(bignas.smallest()) / 2
    largest_macs = bignas.flops(bignas.largest()) / 2
    assert smallest_macs < 242e6 and largest_macs > 1040e6
    assert (bignas.flops(bignas.smallest()), bignas.params(bignas.smallest())) == (412780288, 3392488)
    assert (bignas.flops(bignas.largest()), bignas.params(bignas.largest())) == (3682796800, 9241632)


def test_bignas_activation_argument(bignas):
    relu6 = search_spaces.get("bignas-mbv2", activation="relu6")
    assert relu6.spec.stem_activation == "relu6" and relu6.spec.stages[3].activation == "relu6"
    assert relu6.flops(relu6.largest()) == bignas.flops(bignas.largest())
    with pytest.raises(ValueError, match="activation must be one of"):
        search_spaces.get("bignas-mbv2", activation="gelu")


# -- full resolution (the default suite checks these spaces at their smallest resolution) -----------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["ofa-mbv3", "bignas-mbv2"])
def test_exactness_at_every_resolution(name):
    space = search_spaces.get(name)
    net = space.build_supernet()
    torch.manual_seed(0)
    testing.randomize(net)
    net.eval()
    budget = testing.Budget(batch_size=2, num_random=6, smallest_resolution=False)
    assert len({a["resolution"] for a in testing.contract_archs(space, budget)}) > 2
    testing.check_extracted_subnet_equals_supernet(space, net, budget)
    testing.check_flops_and_params(space, net, budget)
