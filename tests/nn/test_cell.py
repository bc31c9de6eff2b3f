"""Cell supernet layers: the cell's arithmetic, op costs, the op registry, specs, training behaviour."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from raynas.errors import ConfigError
from raynas.nn import (
    CELL_OPS,
    CellSpec,
    CellSupernet,
    MixedCell,
    ReLUConvBN,
    ResNetReduction,
    cell_op_cost,
    register_cell_op,
)
from search_spaces.cell import CellSpace

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def _spec(**kw) -> CellSpec:
    edges = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    base = dict(edges=edges, ops=tuple(NB201_OPS for _ in edges), channels=4, cells_per_stage=1)
    return CellSpec(**{**base, **kw})


def _cell(ops: tuple[str, ...], spec: CellSpec | None = None) -> MixedCell:
    cell = MixedCell(spec or _spec(), 4).eval()
    cell.active_ops = ops  # what CellSupernet._activate does
    return cell


def test_all_skip_cell_sums_paths():
    # node1 = x, node2 = x + node1 = 2x, node3 = x + node1 + node2 = 4x
    x = torch.randn(2, 4, 6, 6)
    assert torch.allclose(_cell(("skip_connect",) * 6)(x), 4 * x)


def test_all_none_cell_is_zero_and_none_edges_are_dropped():
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(_cell(("none",) * 6)(x), torch.zeros_like(x))
    ops = ("none", "skip_connect", "none", "none", "none", "skip_connect")  # node3 = node2 = x
    cell = _cell(ops)
    assert torch.equal(cell(x), x)
    static = cell.export(ops)
    assert len(static.ops) == 2 and static.targets == [2, 3] and static.sources == [0, 2]
    assert torch.equal(static(x), x)


def test_cell_output_is_the_hand_computed_dag():
    x = torch.randn(1, 4, 6, 6)
    ops = ("nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "skip_connect", "none", "nor_conv_3x3")
    cell = _cell(ops)
    edges = cell.edges
    node1 = edges[0]["nor_conv_3x3"](x)
    node2 = edges[1]["avg_pool_3x3"](x) + edges[2]["nor_conv_1x1"](node1)
    node3 = x + edges[5]["nor_conv_3x3"](node2)
    with torch.no_grad():
        assert torch.allclose(cell(x), node3, atol=1e-6)


def test_nor_conv_is_relu_conv_bn():
    op = CELL_OPS["nor_conv_3x3"].build(8)
    assert isinstance(op, ReLUConvBN)
    assert [type(m) for m in op] == [nn.ReLU, nn.Conv2d, nn.BatchNorm2d]
    assert op[1].kernel_size == (3, 3) and op[1].bias is None and op[1].padding == (1, 1)


@pytest.mark.parametrize("name", NB201_OPS[1:])
@pytest.mark.parametrize("channels, side", [(4, 8), (16, 32)])
def test_builtin_op_costs_equal_what_is_counted(name, channels, side):
    module = CELL_OPS[name].build(channels).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = module(torch.zeros(1, channels, side, side))
    assert out.shape == (1, channels, side, side)
    assert cell_op_cost(name, channels, side) == (counter.get_total_flops(), sum(p.numel() for p in module.parameters()))


def test_reduction_block_halves_and_widens_with_a_shortcut():
    block = ResNetReduction(4, 8).eval()
    x = torch.randn(2, 4, 8, 8)
    assert block(x).shape == (2, 8, 4, 4)
    with torch.no_grad():
        block.conv_b[2].weight.zero_()
        block.conv_b[2].bias.zero_()
        assert torch.allclose(block(x), block.shortcut(x))


def test_register_cell_op_measures_its_cost_and_builds_it():
    def build(channels):
        return nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=2, dilation=2, bias=False),
                             nn.BatchNorm2d(channels))

    try:
        register_cell_op("test_dil_conv_3x3", build, overwrite=True)
        flops, params = cell_op_cost("test_dil_conv_3x3", 4, 8)
        assert params == 4 * 4 * 9 + 2 * 4
        assert flops == 2 * 4 * 4 * 9 * 8 * 8
        space = CellSpace(("skip_connect", "test_dil_conv_3x3"), num_nodes=2, channels=4, cells_per_stage=1)
        assert space.largest() == {"edge.1<-0": "test_dil_conv_3x3"}
        net = space.build_supernet()
        assert isinstance(net.layers[0].edges[0]["test_dil_conv_3x3"][1], nn.Conv2d)
    finally:
        CELL_OPS.pop("test_dil_conv_3x3", None)


def test_register_cell_op_rejects_bad_names_and_builtins():
    with pytest.raises(ConfigError, match="built in"):
        register_cell_op("nor_conv_3x3", lambda c: nn.Identity())
    with pytest.raises(ConfigError, match="identifier"):
        register_cell_op("bad name", lambda c: nn.Identity())
    with pytest.raises(TypeError, match="callable"):
        register_cell_op("not_callable", 3)


def test_an_op_that_changes_the_shape_is_rejected():
    try:
        register_cell_op("test_halving", lambda c: nn.AvgPool2d(2), overwrite=True)
        with pytest.raises(ConfigError, match="keep its input's shape"):
            cell_op_cost("test_halving", 4, 8)
    finally:
        CELL_OPS.pop("test_halving", None)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ops": (("nor_conv_9x9",),) * 6}, "unknown cell op 'nor_conv_9x9'; registered: "),
        ({"edges": ((1, 0), (1, 0))}, "distinct and sorted"),
        ({"edges": ((0, 1),), "ops": (("none",),)}, "0 <= from < to < num_nodes"),
        ({"edges": ((4, 0),), "ops": (("none",),)}, "0 <= from < to < num_nodes=4"),
        ({"ops": (("none",),)}, "one tuple of candidate names per edge"),
        ({"ops": (("none", "none"),) * 6}, "repeats a name"),
        ({"resolution": 30}, "divisible by 2\\*\\*\\(num_stages-1\\) = 4, got 30"),
        ({"channels": 0}, "CellSpec.channels must be an int >= 1, got 0"),
        ({"num_nodes": 1}, "CellSpec.num_nodes must be an int >= 2"),
    ],
)
def test_cell_spec_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        _spec(**kwargs)


def _tiny_nb201(**kw) -> CellSpace:
    return CellSpace(NB201_OPS, channels=4, cells_per_stage=1, resolution=8, **kw)


def test_only_the_active_ops_get_gradients():
    space = _tiny_nb201()
    net = space.build_supernet().train()
    arch = dict(zip(space.keys, ("nor_conv_1x1", "nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3",
                                 "nor_conv_1x1")))
    net.set_active(arch)
    net(torch.randn(2, 3, 8, 8)).sum().backward()
    cell = net.layers[0]
    for (edge, modules), active in zip(enumerate(cell.edges), arch.values()):
        for name, module in modules.items():
            grads = [p.grad for p in module.parameters()]
            if name == active:
                assert all(g is not None and g.abs().sum() > 0 for g in grads), (edge, name)
            else:
                assert all(g is None for g in grads), (edge, name)


def test_all_cells_share_the_active_arch_and_extract_keeps_it():
    space = _tiny_nb201()
    net = space.build_supernet()
    arch = space.sample(__import__("random").Random(3))
    net.set_active(arch)
    cells = [layer for layer in net.layers if isinstance(layer, MixedCell)]
    assert len(cells) == 3 and all(c.active_ops == tuple(arch.values()) for c in cells)
    other = space.smallest()
    net.extract(other)
    assert net.active_arch == arch


def test_zero_init_residual_zeroes_the_reduction_blocks_last_bn():
    net = _tiny_nb201().build_supernet()
    net.zero_init_residual()
    blocks = [layer for layer in net.layers if isinstance(layer, ResNetReduction)]
    assert len(blocks) == 2
    assert all(torch.count_nonzero(b.conv_b[2].weight) == 0 for b in blocks)
    assert all(torch.count_nonzero(b.conv_a[2].weight) > 0 for b in blocks)


def test_supernet_resizes_inputs_to_the_resolution():
    space = _tiny_nb201()
    net = space.build_supernet().eval()
    x = torch.randn(1, 3, 16, 16)
    small = torch.nn.functional.interpolate(x, size=[8, 8], mode="bilinear", align_corners=False)
    with torch.no_grad():
        assert torch.allclose(net(x), net(small), atol=1e-6)
        assert torch.allclose(net.extract()(x), net(small), atol=1e-6)


def test_dropout_only_in_train_mode_and_bad_values_raise():
    net = _tiny_nb201().build_supernet()
    x = torch.randn(4, 3, 8, 8)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x, dropout=0.5), net(x))
        net.train()
        torch.manual_seed(0)
        assert not torch.allclose(net(x, dropout=0.5), net(x))
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got"):
        net(x, dropout=1.0)


def test_spec_must_be_a_cell_spec():
    space = _tiny_nb201()
    with pytest.raises(ConfigError, match="spec must be a CellSpec"):
        CellSupernet(space, {"edges": ()})


def test_sort_channels_is_not_applicable():
    with pytest.raises(NotImplementedError, match="no elastic widths"):
        _tiny_nb201().build_supernet().sort_channels()
