"""One optimisation step of each method changes the weights it trains and no others."""

from __future__ import annotations

import random

import pytest
import torch

from raynas.nn import bn_layers
from raynas.train import FlopsBucketSampler, Precision, Progressive, Sandwich, Uniform
from raynas.train._base import untracked_bn_statistics
from raynas.train._base import parameter_groups


def _batch(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _build(config):
    import search_spaces

    torch.manual_seed(0)
    return search_spaces.get(config.space, **config.space_kwargs).build_supernet(num_classes=10)


def _step(method, net, seed: int = 0) -> tuple[dict, dict]:
    """The loop's step on one worker: zero grads (to None), method.step, SGD step. Returns (before, after)."""
    before = {k: v.detach().clone() for k, v in net.state_dict().items()}
    optimizer = torch.optim.SGD(parameter_groups(net.named_parameters(), method.config.weight_decay), lr=0.1, momentum=0.9, nesterov=True)
    optimizer.zero_grad(set_to_none=True)
    method.step_archs = []
    x, y = _batch()
    net.train()
    with untracked_bn_statistics(net):
        method.step(net, x, y, random.Random(seed))
    optimizer.step()
    return before, {k: v.detach().clone() for k, v in net.state_dict().items()}


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def _block(net, stage: int, index: int) -> str:
    return f"stages.{stage}.{index}."


def _transform_used(archs, stage: int, index: int, which: str) -> bool:
    """Whether any of ``archs`` runs block ``index`` of stage ``stage`` (0-based) through transform ``which``."""
    limit = {"7to5": 5, "5to3": 3}[which]
    return any(a[f"s{stage + 1}.depth"] > index and a[f"s{stage + 1}.b{index}.kernel"] <= limit for a in archs)


def _block_active(archs, stage: int, index: int) -> bool:
    return any(a[f"s{stage + 1}.depth"] > index for a in archs)


def _check_blocks(net, archs, changed: set[str]) -> None:
    """Blocks no subnet ran are untouched; kernel transforms change exactly when some subnet used them."""
    for s, stage in enumerate(net.stages):
        for b in range(len(stage)):
            prefix = _block(net, s, b)
            block_keys = {k for k in changed if k.startswith(prefix)}
            if not _block_active(archs, s, b):
                assert not block_keys, f"inactive block {prefix} changed: {sorted(block_keys)}"
                continue
            assert f"{prefix}project.conv.weight" in changed
            for which in ("7to5", "5to3"):
                key = f"{prefix}depthwise.conv.transforms.{which}"
                assert (key in changed) == _transform_used(archs, s, b, which), (key, archs)


def test_bn_running_statistics_are_not_tracked_while_training(fast_config):
    config = fast_config(num_random=1)
    net = _build(config)
    before, after = _step(Sandwich(config, net.space), net)
    stats = {k for k in before if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert stats and not (_changed(before, after) & stats)
    assert all(m.track_running_stats for m in bn_layers(net))  # restored after the context


def test_sandwich_setup_zeroes_the_last_bn_gamma_of_residual_blocks(fast_config):
    config = fast_config()
    net = _build(config)
    Sandwich(config, net.space).setup(net)
    blocks = [blk for stage in net.stages for blk in stage]
    assert any(blk.residual for blk in blocks) and any(not blk.residual for blk in blocks)
    for blk in blocks:
        assert (torch.count_nonzero(blk.project.norm.weight) == 0) == blk.residual


def test_sandwich_trains_largest_and_smallest_and_no_unused_transform(fast_config):
    # Without setup(): a zero residual gamma would block the first step's gradients into its block.
    config = fast_config(num_random=0)
    net = _build(config)
    method = Sandwich(config, net.space)
    before, after = _step(method, net)
    archs = method.step_archs
    assert archs == [net.space.largest(), net.space.smallest()]
    changed = _changed(before, after)
    _check_blocks(net, archs, changed)
    # The largest (kernel 7) uses no transform; the smallest (depth 1, kernel 3) uses both, in block 0 only.
    assert {k for k in changed if "transforms" in k} == {
        f"stages.{s}.0.depthwise.conv.transforms.{w}" for s in range(3) for w in ("7to5", "5to3")}


def test_sandwich_random_children(fast_config):
    config = fast_config(num_random=2)
    net = _build(config)
    method = Sandwich(config, net.space)
    before, after = _step(method, net, seed=3)
    assert len(method.step_archs) == 4
    _check_blocks(net, method.step_archs, _changed(before, after))


@pytest.mark.parametrize("sampling", ["uniform", "flops"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uniform_trains_one_subnet_and_leaves_the_rest(fast_config, sampling, seed):
    config = fast_config(method="uniform", sampling=sampling, weight_decay=1e-3)
    net = _build(config)
    method = Uniform(config, net.space)
    before, after = _step(method, net, seed=seed)
    (arch,) = method.step_archs
    changed = _changed(before, after)
    _check_blocks(net, [arch], changed)
    assert "stem.conv.weight" in changed and "classifier.weight" in changed


def test_uniform_inactive_blocks_untouched_even_with_momentum(fast_config):
    """A second step on a shallower subnet does not move the blocks it skips, momentum notwithstanding."""
    config = fast_config(method="uniform")
    net = _build(config)
    method = Uniform(config, net.space)
    optimizer = torch.optim.SGD(parameter_groups(net.named_parameters(), 1e-3), lr=0.1, momentum=0.9, nesterov=True)
    deep, shallow = net.space.largest(), {**net.space.largest(), "s2.depth": 1}
    x, y = _batch()
    for arch in (deep, shallow):
        method.sample = lambda rng, arch=arch: dict(arch)
        before = {k: v.clone() for k, v in net.state_dict().items()}
        optimizer.zero_grad(set_to_none=True)
        with untracked_bn_statistics(net):
            method.step(net, x, y, random.Random(0))
        optimizer.step()
    changed = _changed(before, {k: v for k, v in net.state_dict().items()})
    assert not {k for k in changed if k.startswith(("stages.1.1.", "stages.1.2."))}
    assert any(k.startswith("stages.1.0.") for k in changed)


def test_progressive_full_phase_trains_the_full_network_only(fast_config):
    config = fast_config(method="progressive", epochs=6)
    net = _build(config)
    method = Progressive(config, net.space)
    assert method.on_epoch_start(0, net) is True and method.phase.name == "full"
    before, after = _step(method, net)
    (arch,) = method.step_archs
    assert {k: v for k, v in arch.items() if k != "resolution"} == \
        {k: v for k, v in net.space.largest().items() if k != "resolution"}
    changed = _changed(before, after)
    assert not {k for k in changed if "transforms" in k}
    _check_blocks(net, [arch], changed)


def test_progressive_kernel_phase_changes_only_used_transforms_and_never_the_teacher(fast_config):
    config = fast_config(method="progressive", epochs=6, num_random=2)
    net = _build(config)
    method = Progressive(config, net.space)
    method.on_epoch_start(0, net)
    method.on_epoch_start(1, net)
    assert method.phase.name == "kernel" and method.teacher is not None
    teacher_before = {k: v.clone() for k, v in method.teacher.state_dict().items()}
    before, after = _step(method, net, seed=5)
    assert len(method.step_archs) == 2
    for arch in method.step_archs:  # depth and expand stay at their largest in the kernel phase
        assert all(arch[k] == v for k, v in net.space.largest().items() if k.endswith((".depth", ".expand")))
    changed = _changed(before, after)
    _check_blocks(net, method.step_archs, changed)
    assert any("transforms" in k for k in changed)
    assert all(torch.equal(teacher_before[k], v) for k, v in method.teacher.state_dict().items())


def test_flops_bucket_sampler_draws_buckets_uniformly(fast_config):
    import search_spaces

    space = search_spaces.get("tiny")
    sampler = FlopsBucketSampler(space, buckets=4, max_tries=10, seed=0, pool_size=300)
    rng = random.Random(0)
    counts = {b: 0 for b in sampler.buckets}
    n = 300
    for _ in range(n):
        counts[sampler.bucket(sampler(rng))] += 1
    expected = n / len(counts)
    assert all(0.6 * expected <= c <= 1.4 * expected for c in counts.values()), counts
    # Uniform sampling of choices piles up in the middle buckets instead.
    plain = {b: 0 for b in range(4)}
    for _ in range(n):
        plain[sampler.bucket(space.sample(rng))] += 1
    assert max(plain.values()) > 1.4 * expected


def test_flops_bucket_sampler_falls_back_to_its_pool_after_max_tries():
    import search_spaces

    space = search_spaces.get("tiny")
    sampler = FlopsBucketSampler(space, buckets=8, max_tries=1, seed=0, pool_size=200)
    rng = random.Random(1)
    for _ in range(100):
        sampler(rng)
    assert sampler.fallbacks > 0
    assert sampler.buckets[-1] == 7  # the largest subnet keeps the top bucket non-empty


def test_bfloat16_autocast_step_on_cpu(fast_config):
    config = fast_config(amp=True, num_random=1)
    net = _build(config)
    precision = Precision.for_config(config, torch.device("cpu"))
    assert precision.dtype is torch.bfloat16 and precision.scaler is None
    method = Sandwich(config, net.space, precision)
    before, after = _step(method, net)
    assert all(torch.isfinite(v).all() for v in after.values() if v.dtype.is_floating_point)
    assert all(v.dtype == before[k].dtype for k, v in after.items())  # weights stay float32
    assert "stem.conv.weight" in _changed(before, after)
