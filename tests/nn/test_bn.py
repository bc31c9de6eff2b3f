"""BatchNorm re-calibration against a hand computation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import search_spaces
from raynas.nn import recalibrate_bn


def _tiny_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3, momentum=0.3), nn.ReLU(), nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2)
    )


def _stats(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-channel mean, unbiased var (running stats) and biased var (normalisation)."""
    flat = a.transpose(0, 1).reshape(a.shape[1], -1)
    return flat.mean(1), flat.var(1, unbiased=True), flat.var(1, unbiased=False)


def _hand(net: nn.Sequential, batches: list[torch.Tensor]):
    conv1, bn1, _, conv2, bn2 = net
    per_batch = []
    with torch.no_grad():
        for x in batches:
            a1 = conv1(x)
            m1, v1, b1 = _stats(a1)
            y1 = (a1 - m1.view(1, -1, 1, 1)) / torch.sqrt(b1.view(1, -1, 1, 1) + bn1.eps)
            y1 = torch.relu(y1 * bn1.weight.view(1, -1, 1, 1) + bn1.bias.view(1, -1, 1, 1))
            m2, v2, _ = _stats(conv2(y1))
            per_batch.append((m1, v1, m2, v2))
    return [torch.stack(t).mean(0) for t in zip(*per_batch)], per_batch


def test_recalibrate_matches_hand_computation_one_batch():
    net = _tiny_net()
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.normal_()
    x = torch.randn(6, 2, 3, 3, generator=torch.Generator().manual_seed(1)) * 2 + 1
    net.eval()
    used = recalibrate_bn(net, [x])
    assert used == 1
    (m1, v1, m2, v2), _ = _hand(net, [x])
    assert torch.allclose(net[1].running_mean, m1, atol=1e-5) and torch.allclose(net[1].running_var, v1, atol=1e-5)
    assert torch.allclose(net[4].running_mean, m2, atol=1e-5) and torch.allclose(net[4].running_var, v2, atol=1e-5)
    # Plain mean / unbiased variance of the (single) batch's activations.
    flat = net[0](x).detach().transpose(0, 1).reshape(3, -1)
    assert torch.allclose(net[1].running_var, flat.var(1, unbiased=True), atol=1e-5)
    # Mode and momentum are restored.
    assert not net.training and net[1].momentum == 0.3 and net[4].momentum == 0.1


def test_recalibrate_averages_over_batches_cumulatively():
    net = _tiny_net()
    gen = torch.Generator().manual_seed(2)
    batches = [torch.randn(4, 2, 3, 3, generator=gen) + i for i in range(3)]
    net[1].running_mean.fill_(100.0)  # must be discarded
    recalibrate_bn(net, [(b, torch.zeros(4)) for b in batches])
    (m1, v1, m2, v2), _ = _hand(net, batches)
    assert torch.allclose(net[1].running_mean, m1, atol=1e-5) and torch.allclose(net[1].running_var, v1, atol=1e-5)
    assert torch.allclose(net[4].running_mean, m2, atol=1e-5) and torch.allclose(net[4].running_var, v2, atol=1e-5)
    # Equal batch sizes: the mean equals the mean of the concatenated activations.
    all_first = net[0](torch.cat(batches)).detach()
    assert torch.allclose(net[1].running_mean, _stats(all_first)[0], atol=1e-5)
    assert int(net[1].num_batches_tracked) == 3
    assert net.training  # it was in train mode before


def test_recalibrate_rejects_empty_batches():
    net = _tiny_net()
    before = net[1].running_mean.clone()
    with pytest.raises(ValueError, match="at least one"):
        recalibrate_bn(net, [])
    assert torch.equal(net[1].running_mean, before)


def test_recalibrate_a_subnet_keeps_unused_layers():
    space = search_spaces.get("tiny")
    net = space.build_supernet()
    with torch.no_grad():
        for bn in net.bn_layers():
            bn.running_mean.fill_(0.5)
    arch = {**space.largest(), "s3.depth": 1}
    x = torch.randn(4, 1, 8, 8)
    recalibrate_bn(net, [x, x], arch=arch)
    assert net.active_arch == space.canonical(arch)
    unused = net.stages[2][2].project.norm
    assert torch.equal(unused.running_mean, torch.full_like(unused.running_mean, 0.5))
    used = net.stages[2][0].project.norm
    assert not torch.allclose(used.running_mean, torch.full_like(used.running_mean, 0.5))
    # The stem BN sees the resized input through the stem conv.
    stem_out = net.stem.conv(torch.nn.functional.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False))
    assert torch.allclose(net.stem.norm.running_mean, stem_out.mean((0, 2, 3)), atol=1e-5)
