"""The nb201 space: the benchmark's table, the string form, costs, arguments, the supernet."""

from __future__ import annotations

import csv
import gzip
import itertools
import pickle
import re

import pytest
import torch

import search_spaces
from raynas.errors import ConfigError, InvalidArchitecture
from raynas.evaluate.table import nb201_table_path
from raynas.nn import CellSupernet
from search_spaces import CellSpace
from search_spaces.nb201 import EDGES, OPS, NB201Space



def _table_archs() -> list[str]:
    """The packaged table's cells."""
    with gzip.open(nb201_table_path(), "rt", newline="") as f:
        return [row["arch"] for row in csv.DictReader(f)]


def test_enumerates_exactly_the_tables_cells():
    space = search_spaces.get("nb201")
    table = _table_archs()
    assert len(table) == len(set(table)) == 15625
    ours = [space.to_string(arch) for arch in space.enumerate()]
    assert len(ours) == space.size == 15625
    assert set(ours) == set(table)


def test_string_round_trip_for_every_cell():
    space = NB201Space()
    for ops in itertools.product(OPS, repeat=6):
        arch = dict(zip(space.keys, ops))
        assert space.from_string(space.to_string(arch)) == arch


def test_string_example_and_key_order():
    space = NB201Space()
    text = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    arch = space.from_string(text)
    assert space.keys == [f"edge.{to}<-{src}" for to, src in EDGES]
    assert arch == {"edge.1<-0": "nor_conv_3x3", "edge.2<-0": "nor_conv_3x3", "edge.2<-1": "avg_pool_3x3",
                    "edge.3<-0": "skip_connect", "edge.3<-1": "nor_conv_1x1", "edge.3<-2": "none"}
    assert space.to_string(arch) == text


@pytest.mark.parametrize(
    "text, message",
    [
        ("|none~0|+|none~0|none~1|", "2 node groups"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "must start and end with '|'"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 lists 1 edges"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must be 'op~0'"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'conv'"),
    ],
)
def test_malformed_strings_raise(text, message):
    with pytest.raises(InvalidArchitecture, match=re.escape(message)):
        NB201Space().from_string(text)


def test_default_costs_are_the_benchmarks_network():
    space = search_spaces.get("nb201")
    # the benchmark's published parameter range (0.073 M to 1.53 M) and FLOPs range (7.78 to 220.11 M
    # multiply-accumulates; FlopCounterMode counts 2 FLOPs each)
    assert space.params(space.smallest()) == 73306
    assert space.params(space.largest()) == 1531546
    assert space.flops(space.smallest()) == 2 * 7783040
    assert space.flops(space.largest()) == 2 * 220119680
    assert space.smallest() == {k: "none" for k in space.keys}
    assert space.largest() == {k: "nor_conv_3x3" for k in space.keys}
    assert space.input_shape(space.largest()) == (3, 32, 32)


def test_parameter_free_ops_cost_nothing_and_convs_add_up():
    space = NB201Space(channels=8, cells_per_stage=2)
    base = space.smallest()
    for op in ("skip_connect", "avg_pool_3x3"):
        assert space.flops({**base, "edge.3<-2": op}) == space.flops(base)
        assert space.params({**base, "edge.3<-2": op}) == space.params(base)
    one = {**base, "edge.1<-0": "nor_conv_1x1"}
    # two cells per stage; stages of 8, 16, 32 channels at 32, 16, 8 px; conv C x C 1x1 + BN
    assert space.params(one) - space.params(base) == 2 * sum(c * c + 2 * c for c in (8, 16, 32))
    assert space.flops(one) - space.flops(base) == 2 * sum(2 * c * c * s * s for c, s in ((8, 32), (16, 16), (32, 8)))


def test_arguments_shrink_the_network_and_rebuild_it():
    small = search_spaces.get("nb201", channels=8, cells_per_stage=1)
    assert small.kwargs == {"channels": 8, "cells_per_stage": 1, "resolution": 32, "num_classes": 10}
    assert small.flops(small.largest()) < search_spaces.get("nb201").flops(small.largest()) / 10
    again = search_spaces.get("nb201", **small.kwargs)
    assert again.flops(again.largest()) == small.flops(small.largest())
    imagenet16 = NB201Space(resolution=16, num_classes=120)
    assert imagenet16.input_shape(imagenet16.largest()) == (3, 16, 16)
    with pytest.raises(ConfigError, match="resolution must be divisible by"):
        NB201Space(resolution=18)


def test_is_a_cell_space_with_a_cell_supernet():
    space = NB201Space(channels=4, cells_per_stage=1)
    assert isinstance(space, CellSpace) and space.name == "nb201"
    net = space.build_supernet(num_classes=3)
    assert isinstance(net, CellSupernet) and net.num_classes == 3
    assert net.space.params(net.space.largest()) == sum(p.numel() for p in net.extract(space.largest()).parameters())
    assert space.num_classes == 10 and net.space.num_classes == 3


def test_supernet_matches_the_benchmarks_layer_layout():
    net = NB201Space().build_supernet()
    subnet = net.extract(NB201Space().largest())
    kinds = [type(m).__name__ for m in subnet.layers]
    assert kinds == ["Cell"] * 5 + ["ResNetReduction"] + ["Cell"] * 5 + ["ResNetReduction"] + ["Cell"] * 5
    assert subnet.stem[0].out_channels == 16 and subnet.classifier.in_features == 64
    with torch.no_grad():
        assert subnet(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_space_pickles():
    space = NB201Space(channels=8)
    clone = pickle.loads(pickle.dumps(space))
    assert clone.flops(clone.largest()) == space.flops(space.largest())
    assert clone.kwargs == space.kwargs
