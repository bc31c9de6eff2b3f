"""DNA's traversal: exactly the k best feasible architectures by summed block loss."""

from __future__ import annotations

import itertools
import json
import random

import pytest

import search_spaces
import strategies
from raynas.block_table import BlockTable, block_candidates
from raynas.constraints import Constraints
from raynas.errors import ConfigError, InvalidCheckpoint
from search_spaces import ChoiceSpace
from strategies import FINISHED
from strategies.dna import DNAStrategy


def _choice_flops(arch):
    return arch["a"] * arch["b"] * arch["d"] + (5 if arch["c"] == "y" else 1)


def _choice() -> ChoiceSpace:
    return ChoiceSpace({"a": (1, 2, 3), "b": (1, 2, 3, 4), "c": ("x", "y", "z"), "d": (1, 2)},
                       name="dna-choice", flops=_choice_flops, blocks=[["a", "b"], ["c"], ["d"]])


def _brute_force(space, table, constraints, k):
    """Every combination of one candidate per block, feasible ones sorted by (summed loss, ranks)."""
    ranked_blocks = []
    for block in table.blocks:
        order = sorted(range(len(block)), key=lambda i: (block[i]["loss"], i))
        ranked_blocks.append([block[i] for i in order])
    rows = []
    for ranks in itertools.product(*(range(len(b)) for b in ranked_blocks)):
        total, arch = 0.0, {}
        for block, r in zip(ranked_blocks, ranks):
            total += block[r]["loss"]
            arch.update(block[r]["arch"])
        arch = space.canonical(arch)
        if constraints.satisfied(space, arch):
            rows.append((total, ranks, arch))
    rows.sort(key=lambda row: (row[0], row[1]))
    return [(total, arch) for total, _, arch in rows[:k]]


@pytest.mark.parametrize("k", [1, 7, 40, 1000])
@pytest.mark.parametrize("budget", [None, 0.35, 0.6])
def test_traversal_equals_brute_force_on_a_choice_space(k, budget):
    space = _choice()
    table = BlockTable.synthetic(space, seed=3, max_candidates=100)
    flops = [space.flops(a) for a in space.enumerate()]
    constraints = Constraints() if budget is None else Constraints(
        max_flops=min(flops) + budget * (max(flops) - min(flops)))
    got = DNAStrategy(space, block_losses=table, constraints=constraints, top_k=k).ranked()
    expected = _brute_force(space, table, constraints, k)
    assert got == expected
    assert len(got) == min(k, sum(constraints.satisfied(space, a) for a in space.enumerate()))


@pytest.mark.parametrize("budget", [None, 0.2, 0.5])
def test_traversal_equals_brute_force_on_tiny_under_a_flops_budget(budget):
    """tiny's FLOPs are not additive over blocks (resolution scales every stage): the pruning
    bound must still never cut a feasible architecture."""
    space = search_spaces.get("tiny")
    rng = random.Random(0)
    blocks = []
    for index in range(len(space.blocks())):
        cands = block_candidates(space, index, max_candidates=9, seed=index)
        blocks.append([(c, rng.random()) for c in cands])
    table = BlockTable.from_losses(space, blocks)
    low, high = space.flops(space.smallest()), space.flops(space.largest())
    constraints = Constraints() if budget is None else Constraints(max_flops=low + budget * (high - low))
    got = DNAStrategy(space, block_losses=table, constraints=constraints, top_k=50).ranked()
    expected = _brute_force(space, table, constraints, 50)
    assert got == expected and len(got) > 0
    assert all(constraints.satisfied(space, arch) for _, arch in got)


def test_block_costs_add_up_on_tiny_at_one_resolution_and_bound_it_below_otherwise():
    space = search_spaces.get("tiny")
    fixed = search_spaces.get("tiny", resolutions=[16])
    rng = random.Random(1)
    for candidate_space, exact in ((fixed, True), (space, False)):
        table = BlockTable.synthetic(candidate_space, seed=0, max_candidates=30)
        for _ in range(30):
            picks = [rng.choice(block) for block in table.blocks]
            arch = candidate_space.canonical({k: v for c in picks for k, v in c["arch"].items()})
            for name in ("flops", "params"):
                summed = getattr(table, f"base_{name}") + sum(c[name] for c in picks)
                true = getattr(candidate_space, name)(arch)
                assert summed <= true
                if exact or name == "params":  # params do not depend on the resolution
                    assert summed == true


def test_proposes_top_k_best_first_then_finished():
    space = _choice()
    table = BlockTable.synthetic(space, seed=1)
    strategy = DNAStrategy(space, block_losses=table, top_k=5)
    proposed = []
    while (arch := strategy.ask()) is not FINISHED:
        proposed.append(arch)
        strategy.tell(arch, 0.0)
    assert proposed == [arch for _, arch in strategy.ranked()] and len(proposed) == 5
    assert strategy.ask() is FINISHED


def test_reads_the_table_from_a_file_or_folder(tmp_path):
    space = _choice()
    table = BlockTable.synthetic(space, seed=2)
    table.save(tmp_path)
    assert json.loads((tmp_path / "block_table.json").read_text())["space"] == "dna-choice"
    for source in (tmp_path, tmp_path / "block_table.json", table.to_dict(), table):
        assert DNAStrategy(space, block_losses=source, top_k=3).ranked() == DNAStrategy(
            space, block_losses=table, top_k=3).ranked()


def test_missing_or_mismatched_table_is_a_clear_error(tmp_path):
    space = _choice()
    with pytest.raises(ConfigError, match="strategy 'dna' needs block_losses="):
        strategies.get("dna", space=space)
    with pytest.raises(ConfigError, match="block table is for space 'tiny', the search space is 'dna-choice'"):
        strategies.get("dna", space=space, block_losses=BlockTable.synthetic(search_spaces.get("tiny")))
    with pytest.raises(InvalidCheckpoint, match="no block table at"):
        strategies.get("dna", space=space, block_losses=tmp_path)
    bad = BlockTable.synthetic(space).to_dict()
    bad["blocks"][1][0]["arch"]["c"] = "w"
    with pytest.raises(ConfigError, match=r"candidate 0 of block 1 has c='w'; allowed values: \['x', 'y', 'z'\]"):
        strategies.get("dna", space=space, block_losses=bad)
    bad = BlockTable.synthetic(space).to_dict()
    bad["blocks"] = bad["blocks"][:2]
    with pytest.raises(ConfigError, match="block table has 2 blocks, space 'dna-choice' has 3"):
        strategies.get("dna", space=space, block_losses=bad)
    with pytest.raises(ConfigError, match="top_k must be an int >= 1, got 0"):
        strategies.get("dna", space=space, block_losses=BlockTable.synthetic(space), top_k=0)


def test_block_candidates_enumerate_small_blocks_and_sample_large_ones():
    space = search_spaces.get("tiny")
    every = block_candidates(space, 1)
    assert len(every) == 9 + 81 + 729  # depth 1..3, kernel x expand per active block
    assert len({json.dumps(c, sort_keys=True) for c in every}) == len(every)
    assert len(block_candidates(space, 0)) == 3 * (9 + 81 + 729)  # resolution is block 0's
    capped = block_candidates(space, 1, max_candidates=50, seed=4)
    assert len(capped) == 50 and capped == block_candidates(space, 1, max_candidates=50, seed=4)
    ofa = search_spaces.get("ofa-mbv3")
    with pytest.raises(ConfigError, match="give max_candidates"):
        block_candidates(ofa, 0)
    assert len(block_candidates(ofa, 0, max_candidates=200)) == 200


@pytest.mark.parametrize("kwargs,needle", [
    ({"index": 9}, "block index must be an int in [0, 2], got 9"),
    ({"index": True}, "block index must be an int, got True"),
    ({"index": 1, "max_candidates": 0}, "max_candidates must be an int >= 1, got 0"),
])
def test_block_candidates_refuse_a_bad_index_or_cap(kwargs, needle):
    space = search_spaces.get("tiny")
    with pytest.raises(ConfigError) as err:
        block_candidates(space, **kwargs)
    assert needle in str(err.value)
