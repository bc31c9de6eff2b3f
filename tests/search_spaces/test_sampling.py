"""``SearchSpace.sample_distinct``: the one sampler of distinct architectures (predictor pairs,
latency calibration subnets and the benchmarks draw through it)."""

from __future__ import annotations

import random

import search_spaces
from search_spaces._base import SearchSpace


def test_draws_distinct_canonical_archs_reproducibly():
    space = search_spaces.get("nb201")
    archs = space.sample_distinct(50, random.Random(3))
    keys = [space.key(a) for a in archs]
    assert len(archs) == 50 and len(set(keys)) == 50
    assert all(arch == space.canonical(arch) for arch in archs)
    assert archs == space.sample_distinct(50, random.Random(3))
    # the same draws as space.sample, in order, repeats dropped
    rng, expected = random.Random(3), []
    while len(expected) < 50:
        arch = space.sample(rng)
        if arch not in expected:
            expected.append(arch)
    assert archs == expected


def test_exclude_and_accept_skip_archs():
    space = search_spaces.get("nb201")
    first = space.sample_distinct(20, random.Random(0))
    others = space.sample_distinct(20, random.Random(0), exclude=first)
    assert not {space.key(a) for a in first} & {space.key(a) for a in others}
    cheap = space.sample_distinct(20, random.Random(0), accept=lambda a: space.flops(a) < space.flops(first[0]))
    assert len(cheap) == 20 and all(space.flops(a) < space.flops(first[0]) for a in cheap)


def test_a_small_space_or_a_strict_filter_returns_fewer():
    space = SearchSpace({"a": (1, 2), "b": ("x", "y")}, name="four")
    archs = space.sample_distinct(10, random.Random(0))
    assert sorted((a["a"], a["b"]) for a in archs) == [(1, "x"), (1, "y"), (2, "x"), (2, "y")]
    assert space.sample_distinct(3, random.Random(0), accept=lambda a: False) == []
    assert len(space.sample_distinct(3, random.Random(0), max_draws=1)) == 1
