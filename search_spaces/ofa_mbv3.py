"""``ofa-mbv3``: once-for-all's MobileNetV3 space (Cai et al. 2020).

- **Stem**: 3x3 conv, stride 2, 16 channels, BN, h-swish.
- **Fixed first block**: inverted residual with expand ratio 1 (no expansion conv),
  kernel 3, 16 channels, stride 1, ReLU, identity shortcut.
- **Five elastic stages**:

  ===========  =====  =====  ======  ======  ======
  stage         1      2      3       4       5
  ===========  =====  =====  ======  ======  ======
  width         24     40     80      112     160
  stride        2      2      2       1       2
  activation    ReLU   ReLU   hswish  hswish  hswish
  SE            no     yes    no      yes     yes
  ===========  =====  =====  ======  ======  ======

  Each stage has depth {2, 3, 4}; each block kernel {3, 5, 7} and expand ratio {3, 4, 6}.
  Smaller kernels are centre crops of the 7x7 kernel through per-layer transformation
  matrices; a depth ``d`` keeps the first ``d`` blocks.
- **Head**: 1x1 conv to 960 (BN, h-swish), global average pool, 1x1 conv to 1280
  (h-swish, no BN), dropout (per call), linear classifier.
- **Resolution**: 128 to 224 in steps of 4 (25 values).

Width multiplier: ``width_mult`` scales every width (stem, first block, stages, 960 and 1280)
with once-for-all's ``make_divisible(width * width_mult, 8)``; once-for-all publishes the
supernet at 1.0 and 1.2 (w1.2: 24, 24 | 32, 48, 96, 136, 192 | 1152, 1536).

Size: ``((3*3)**2 + (3*3)**3 + (3*3)**4)**5`` = 2.18e19 networks, as once-for-all
counts them, times 25 resolutions = 5.44e20 architectures (:attr:`size`). At 224 px
with 1000 classes and width 1.0 the largest subnet has 7.66 M parameters and 1.13 GFLOPs (566 M
multiply-accumulates); the smallest, at 128 px, 3.41 M and 83 MFLOPs.
"""

from __future__ import annotations

import math
from typing import Sequence

from raynas.errors import ConfigError
from raynas.nn import make_divisible
from search_spaces.mobilenet import MobileNetSpace, StageSpec

__all__ = ["OFAMobileNetV3Space", "OFA_RESOLUTIONS", "scaled_width", "check_width_mult"]

OFA_RESOLUTIONS: tuple[int, ...] = tuple(range(128, 225, 4))
"""Once-for-all's input resolutions: 128, 132, ..., 224."""

_STEM, _FIRST, _HEAD, _POOLED = 16, 16, 960, 1280
_WIDTHS = (24, 40, 80, 112, 160)
_STRIDES = (2, 2, 2, 1, 2)
_ACTIVATIONS = ("relu", "relu", "hswish", "hswish", "hswish")
_SE = (False, True, False, True, True)


def check_width_mult(width_mult: float) -> float:
    """``width_mult`` as a float, or :class:`~raynas.ConfigError` unless it is a positive finite number."""
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or not (
        math.isfinite(width_mult) and width_mult > 0
    ):
        raise ConfigError(f"width_mult must be a positive number, got {width_mult!r}")
    return float(width_mult)


def scaled_width(width: int, width_mult: float) -> int:
    """Once-for-all's width for a base width: ``make_divisible(width * width_mult, 8)``."""
    return make_divisible(width * width_mult, 8)


class OFAMobileNetV3Space(MobileNetSpace):
    """Once-for-all's MobileNetV3 space: ``search_spaces.get("ofa-mbv3")``.

    Args:
        num_classes: classifier outputs (ImageNet: 1000).
        resolutions: input resolutions to choose from (default :data:`OFA_RESOLUTIONS`).
        in_channels: image channels.
        width_mult: width multiplier (once-for-all publishes 1.0 and 1.2); recorded in
            checkpoints with the other arguments.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        resolutions: Sequence[int] = OFA_RESOLUTIONS,
        in_channels: int = 3,
        width_mult: float = 1.0,
    ):
        width_mult = check_width_mult(width_mult)
        stages = [
            StageSpec(widths=(scaled_width(width, width_mult),), depths=(2, 3, 4), kernel_sizes=(3, 5, 7),
                      expand_ratios=(3, 4, 6), stride=stride, activation=activation, se=se)
            for width, stride, activation, se in zip(_WIDTHS, _STRIDES, _ACTIVATIONS, _SE)
        ]
        super().__init__(
            stages,
            resolutions=resolutions,
            in_channels=in_channels,
            stem_widths=(scaled_width(_STEM, width_mult),),
            stem_stride=2,
            stem_kernel_size=3,
            stem_activation="hswish",
            first_block=StageSpec(widths=(scaled_width(_FIRST, width_mult),), depths=(1,), kernel_sizes=(3,),
                                  expand_ratios=(1,), stride=1, activation="relu", se=False),
            head_widths=(scaled_width(_HEAD, width_mult),),
            pooled_widths=(scaled_width(_POOLED, width_mult),),
            head_activation="hswish",
            num_classes=num_classes,
            name="ofa-mbv3",
        )
        self.width_mult = width_mult
        self.kwargs = {"num_classes": num_classes, "resolutions": list(self.resolutions), "in_channels": in_channels,
                       "width_mult": width_mult}
