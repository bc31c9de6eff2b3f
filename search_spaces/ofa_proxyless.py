"""``ofa-proxyless``: once-for-all's ProxylessNAS space (``OFAProxylessNASNets``, Cai et al. 2020).

Widths are once-for-all's ``make_divisible(base * width_mult, 8)``; the published supernet
(``ofa_proxyless_d234_e346_k357_w1.3``) has ``width_mult=1.3``, the default here.

- **Stem**: 3x3 conv, stride 2, 32 x w channels (40 at w1.3), BN, ReLU6.
- **Fixed first block**: inverted residual with expand ratio 1 (no expansion conv), kernel 3,
  stride 1, 16 x w channels (24), ReLU6, no shortcut (its input is wider).
- **Six elastic stages**, ReLU6 throughout, no squeeze-excitation:

  ===========  =====  =====  =====  =====  =====  =====
  stage         1      2      3      4      5      6
  ===========  =====  =====  =====  =====  =====  =====
  base width    24     40     80     96     192    320
  w1.3 width    32     56     104    128    248    416
  stride        2      2      2      1      2      1
  depths        2-4    2-4    2-4    2-4    2-4    1
  ===========  =====  =====  =====  =====  =====  =====

  Every block has kernel {3, 5, 7} and expand ratio {3, 4, 6} (the single block of stage 6
  too); a depth ``d`` keeps the first ``d`` blocks.
- **Head**: 1x1 conv to 1280 x w (1664), BN, ReLU6, global average pool, linear classifier.
- **BatchNorm** eps 1e-3 (once-for-all's setting for this net).
- **Resolution**: 128 to 224 in steps of 4 (25 values).

Size: ``((3*3)**2 + (3*3)**3 + (3*3)**4)**5 * 9`` = 1.96e20 networks, times 25 resolutions.
"""

from __future__ import annotations

from typing import Sequence

from search_spaces.mobilenet import MobileNetSpace, StageSpec
from search_spaces.ofa_mbv3 import OFA_RESOLUTIONS, check_width_mult, scaled_width

__all__ = ["OFAProxylessSpace"]

_STEM, _FIRST, _HEAD = 32, 16, 1280
_WIDTHS = (24, 40, 80, 96, 192, 320)
_STRIDES = (2, 2, 2, 1, 2, 1)
_DEPTHS = ((2, 3, 4),) * 5 + ((1,),)


class OFAProxylessSpace(MobileNetSpace):
    """Once-for-all's ProxylessNAS space: ``search_spaces.get("ofa-proxyless")``.

    Args:
        num_classes: classifier outputs (ImageNet: 1000).
        resolutions: input resolutions to choose from (default: 128, 132, ..., 224).
        in_channels: image channels.
        width_mult: width multiplier (once-for-all publishes 1.3); recorded in checkpoints.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        resolutions: Sequence[int] = OFA_RESOLUTIONS,
        in_channels: int = 3,
        width_mult: float = 1.3,
    ):
        width_mult = check_width_mult(width_mult)
        stages = [
            StageSpec(widths=(scaled_width(width, width_mult),), depths=depths, kernel_sizes=(3, 5, 7),
                      expand_ratios=(3, 4, 6), stride=stride, activation="relu6", se=False)
            for width, stride, depths in zip(_WIDTHS, _STRIDES, _DEPTHS)
        ]
        super().__init__(
            stages,
            resolutions=resolutions,
            in_channels=in_channels,
            stem_widths=(scaled_width(_STEM, width_mult),),
            stem_stride=2,
            stem_kernel_size=3,
            stem_activation="relu6",
            first_block=StageSpec(widths=(scaled_width(_FIRST, width_mult),), depths=(1,), kernel_sizes=(3,),
                                  expand_ratios=(1,), stride=1, activation="relu6", se=False),
            head_widths=(scaled_width(_HEAD, width_mult),),
            pooled_widths=(),
            head_activation="relu6",
            bn_eps=1e-3,
            num_classes=num_classes,
            name="ofa-proxyless",
        )
        self.width_mult = width_mult
        self.kwargs = {"num_classes": num_classes, "resolutions": list(self.resolutions), "in_channels": in_channels,
                       "width_mult": width_mult}
