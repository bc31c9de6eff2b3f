"""The ImageNet evaluation transform equals once-for-all's (``ImagenetDataProvider.build_valid_transform``)."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from PIL import Image

from raynas.data.transforms import IMAGENET_MEAN, IMAGENET_STD, eval_resize_size, eval_transform
from raynas.errors import ConfigError


def _ofa_valid_transform(resolution: int):
    imagenet = pytest.importorskip("ofa.imagenet_classification.data_providers.imagenet",
                                   reason="the reference needs the 'ofa' package (test extra)")
    provider = imagenet.ImagenetDataProvider
    stub = types.SimpleNamespace(normalize=provider.normalize.fget(None), active_img_size=resolution)
    return provider.build_valid_transform(stub, resolution)


def test_resize_size_is_ceil_of_resolution_over_0875():
    assert eval_resize_size(224) == 256
    assert eval_resize_size(160) == 183  # 182.86 rounded up
    assert [eval_resize_size(r) for r in (128, 192)] == [147, 220]


@pytest.mark.parametrize("resolution", [160, 224])
@pytest.mark.parametrize("size", [(300, 250), (199, 421)])
def test_matches_ofa_on_pil_images(resolution, size):
    rng = np.random.default_rng(resolution + size[0])
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    ours = eval_transform(resolution)(image)
    reference = _ofa_valid_transform(resolution)(image)
    assert ours.dtype == torch.float32 and ours.shape == (3, resolution, resolution)
    # Same resize and crop (PIL); scaling to [0, 1] multiplies by 1/255 where ToTensor divides: 1 ulp apart.
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)


def test_normalisation_constants():
    image = torch.full((3, 40, 40), 255, dtype=torch.uint8)
    out = eval_transform(32)(image)
    expected = [(1.0 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    torch.testing.assert_close(out[:, 0, 0], torch.tensor(expected), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "224"])
def test_bad_resolution_names_the_parameter(bad):
    with pytest.raises(ConfigError, match="resolution must be a positive int"):
        eval_transform(bad)
