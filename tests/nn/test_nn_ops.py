"""Elastic layers: slicing, kernel transformation, export."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from raynas.nn import (
    ElasticBatchNorm2d,
    ElasticConv2d,
    ElasticDepthwiseConv2d,
    ElasticLinear,
    ElasticSqueezeExcite,
    hidden_channels,
    make_divisible,
    se_channels,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_make_divisible_and_widths():
    assert make_divisible(32) == 32 and make_divisible(33) == 32 and make_divisible(37) == 40
    assert make_divisible(3) == 8 and make_divisible(11) == 16  # never below 90%
    assert hidden_channels(24, 3) == 72 and hidden_channels(16, 6) == 96
    assert se_channels(96) == 24 and se_channels(72) == 24 and se_channels(240) == 64
    widths = [make_divisible(v) for v in range(1, 400)]
    assert widths == sorted(widths)


def test_transform_matrices_start_as_identity():
    conv = ElasticDepthwiseConv2d(4, (3, 5, 7))
    assert sorted(conv.transforms.keys()) == ["5to3", "7to5"]
    assert torch.equal(conv.transforms["7to5"], torch.eye(25))
    assert torch.equal(conv.transforms["5to3"], torch.eye(9))
    # With identity transforms a smaller kernel is the plain centre crop.
    assert torch.equal(conv.kernel(4, 3), conv.weight[:, :, 2:5, 2:5])
    assert torch.equal(conv.kernel(4, 7), conv.weight)


def test_small_kernel_is_the_transformed_centre_crop():
    conv = ElasticDepthwiseConv2d(6, (3, 5, 7), stride=2)
    with torch.no_grad():
        conv.transforms["7to5"].add_(0.1 * torch.randn(25, 25, generator=_gen(1)))
        conv.transforms["5to3"].add_(0.1 * torch.randn(9, 9, generator=_gen(2)))
    channels = 4
    full = conv.weight.detach()[:channels, 0]
    five = (full[:, 1:6, 1:6].reshape(channels, 25) @ conv.transforms["7to5"].detach().T).reshape(channels, 5, 5)
    three = (five[:, 1:4, 1:4].reshape(channels, 9) @ conv.transforms["5to3"].detach().T).reshape(channels, 3, 3)
    assert torch.allclose(conv.kernel(channels, 5)[:, 0], five, atol=1e-6)
    assert torch.allclose(conv.kernel(channels, 3)[:, 0], three, atol=1e-6)
    assert not torch.allclose(three, full[:, 2:5, 2:5], atol=1e-3)

    conv.active_kernel_size = 3
    x = torch.randn(2, channels, 9, 9, generator=_gen(3))
    expected = F.conv2d(x, three.unsqueeze(1), None, 2, 1, 1, channels)
    assert torch.allclose(conv(x), expected, atol=1e-5)
    exported = conv.export(channels, kernel_size=3)
    assert exported.groups == channels and exported.kernel_size == (3, 3) and exported.stride == (2, 2)
    assert torch.allclose(exported.weight, three.unsqueeze(1), atol=1e-6)
    assert torch.allclose(exported(x), expected, atol=1e-5)


def test_kernel_transform_receives_gradients():
    conv = ElasticDepthwiseConv2d(3, (3, 5, 7))
    conv.active_kernel_size = 3
    conv(torch.randn(1, 3, 6, 6)).sum().backward()
    assert conv.transforms["7to5"].grad is not None and conv.transforms["5to3"].grad.abs().sum() > 0


def test_conv_slices_first_channels_and_exports_copies():
    conv = ElasticConv2d(8, 12, kernel_size=3, stride=2, bias=True)
    conv.active_out_channels = 5
    x = torch.randn(2, 6, 7, 7, generator=_gen(4))
    out = conv(x)
    assert out.shape == (2, 5, 4, 4)
    exported = conv.export(6)
    assert (exported.in_channels, exported.out_channels) == (6, 5)
    assert torch.allclose(exported(x), out, atol=1e-6)
    assert exported.weight.data_ptr() != conv.weight.data_ptr()
    with pytest.raises(ValueError, match="out_channels must be in"):
        conv.export(6, 13)


def test_batchnorm_slices_and_updates_only_used_channels():
    bn = ElasticBatchNorm2d(8)
    x = torch.randn(4, 5, 3, 3, generator=_gen(5)) + 2.0
    bn.train()
    bn(x)
    assert torch.allclose(bn.running_mean[:5], 0.1 * x.mean((0, 2, 3)), atol=1e-6)
    assert torch.equal(bn.running_mean[5:], torch.zeros(3)) and torch.equal(bn.running_var[5:], torch.ones(3))
    bn.eval()
    exported = bn.export(5)
    assert torch.allclose(exported(x), bn(x), atol=1e-6)
    assert torch.equal(exported.running_var, bn.running_var[:5])


def test_squeeze_excite_reads_width_from_input():
    se = ElasticSqueezeExcite(32)
    with torch.no_grad():
        se.reduce_bias.normal_()
        se.expand_bias.normal_()
    x = torch.randn(2, 24, 4, 4, generator=_gen(6))
    out = se(x)
    exported = se.export(24)
    assert exported.reduce.out_channels == se_channels(24) == 8
    assert torch.allclose(exported(x), out, atol=1e-6)


def test_linear_slices_inputs():
    linear = ElasticLinear(16, 4)
    x = torch.randn(3, 10, generator=_gen(7))
    assert torch.allclose(linear.export(10)(x), linear(x), atol=1e-6)
