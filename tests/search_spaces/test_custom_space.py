"""User-defined spaces, declared from public building blocks and registered by name, pass the
same contract (:mod:`search_spaces.testing`) as the built-in spaces; the example runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import search_spaces
from raynas.nn import CELL_OPS, Supernet, register_cell_op
from raynas.testing import NotApplicable
from search_spaces import CellSpace, MobileNetSpace, StageSpec, testing

REPO = Path(__file__).resolve().parents[2]


def user_mobilenet(num_classes: int = 6) -> MobileNetSpace:
    """What a user writes: two elastic stages, elastic widths, SE, a pooled head conv."""
    stages = [
        StageSpec(widths=(8, 12), depths=(1, 2), kernel_sizes=(3, 5), expand_ratios=(2, 3), stride=1),
        StageSpec(widths=(16,), depths=(1, 2), kernel_sizes=(3, 5, 7), expand_ratios=(3, 4), stride=2,
                  activation="hswish", se=True),
    ]
    return MobileNetSpace(stages, resolutions=(10, 14), in_channels=1, stem_widths=(8,), stem_stride=1,
                          head_widths=((24, 32),), pooled_widths=(40,), num_classes=num_classes,
                          name="user-mobilenet")


def _dilated(channels: int) -> nn.Module:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=2, dilation=2, bias=False),
                         nn.BatchNorm2d(channels))


def user_cells(num_classes: int = 5) -> CellSpace:
    """Chosen edges of a 4-node cell, each with its own candidates, one of them the user's own op."""
    ops = {
        "1<-0": ("nor_conv_3x3", "user_dil_conv_3x3"),
        "2<-1": ("skip_connect", "nor_conv_1x1", "user_dil_conv_3x3"),
        "3<-0": ("none", "avg_pool_3x3"),
        "3<-2": ("nor_conv_1x1", "nor_conv_3x3"),
    }
    return CellSpace(ops, num_nodes=4, channels=4, cells_per_stage=2, num_stages=2, resolution=12,
                     num_classes=num_classes, name="user-cells")


FACTORIES = {"user-mobilenet": user_mobilenet, "user-cells": user_cells}


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def space(request):
    """The user's space, registered for the module's tests and unregistered after."""
    name = request.param
    register_cell_op("user_dil_conv_3x3", _dilated, overwrite=True)
    search_spaces.register(name, FACTORIES[name])
    try:
        yield search_spaces.get(name)
    finally:
        search_spaces.unregister(name)
        CELL_OPS.pop("user_dil_conv_3x3", None)


@pytest.fixture(scope="module")
def supernet(space):
    net = space.build_supernet()
    torch.manual_seed(0)
    testing.randomize(net)
    return net.eval()


def _run(check, *args):
    try:
        check(*args)
    except NotApplicable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("check", testing.SPACE_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_space_contract(space, check):
    _run(check, space)


@pytest.mark.parametrize("check", testing.SUPERNET_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_supernet_contract(space, supernet, check):
    _run(check, space, supernet, testing.budget_for(space))


def test_registered_space_is_reached_by_name_and_rebuilt_from_a_checkpoint(space, supernet, tmp_path):
    assert space.name in search_spaces.available()
    path = supernet.save(tmp_path)
    loaded = Supernet.load(path)
    assert type(loaded.space) is type(space) and loaded.space.kwargs == space.kwargs
    assert loaded.space.size == space.size


def test_user_cell_space_declares_edges_and_candidates():
    register_cell_op("user_dil_conv_3x3", _dilated, overwrite=True)
    try:
        space = user_cells()
        assert space.keys == ["edge.1<-0", "edge.2<-1", "edge.3<-0", "edge.3<-2"]
        assert space.choices["edge.2<-1"] == ("skip_connect", "nor_conv_1x1", "user_dil_conv_3x3")
        assert space.size == 2 * 3 * 2 * 2
        # the measured cost of the user's op is a dilated 3x3 conv's: as much as nor_conv_3x3
        conv3 = {**space.smallest(), "edge.1<-0": "nor_conv_3x3"}
        dilated = {**space.smallest(), "edge.1<-0": "user_dil_conv_3x3"}
        assert space.flops(conv3) == space.flops(dilated) and space.params(conv3) == space.params(dilated)
    finally:
        CELL_OPS.pop("user_dil_conv_3x3", None)


def test_check_space_runs_every_check_and_names_those_that_do_not_apply():
    space = CellSpace(("none", "nor_conv_1x1"), num_nodes=2, channels=2, cells_per_stage=1, num_stages=1,
                      resolution=4, name="unregistered-cells")
    skipped = testing.check_space(space)
    assert skipped == ["check_canonical_ignores_inactive_blocks", "check_sort_channels",
                       "check_checkpoint_round_trip"]


def test_unknown_op_names_list_the_registered_ones():
    with pytest.raises(ValueError, match=r"unknown cell op 'sep_conv_3x3'; registered: \[.*'nor_conv_3x3'"):
        CellSpace(("none", "sep_conv_3x3"))


def test_unregister_leaves_built_ins_alone():
    with pytest.raises(ValueError, match="built in"):
        search_spaces.unregister("tiny")
    with pytest.raises(ValueError, match="not registered"):
        search_spaces.unregister("never-registered")


def test_example_script_runs():
    result = subprocess.run([sys.executable, str(REPO / "examples" / "custom_space.py")], capture_output=True,
                            text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.endswith("subnet output equals supernet output: True") for line in lines)
    assert lines[0].startswith("my-mobilenet: ") and lines[1].startswith("my-cells: ")
