"""``bignas-mbv2``: the MobileNetV2-based space of BigNAS (Yu et al. 2020, Table 1).

Channels move in steps of 8 within each range; MBConv1 blocks have no expansion conv,
MBConv6 blocks expand 6 times; strides are MobileNetV2's.

=====  ========  ===========  =======  =======  ======
stage  operator  channels     layers   kernels  stride
=====  ========  ===========  =======  =======  ======
stem   conv 3x3  32-40        1        3        2
1      MBConv1   16-24        1-2      3        1
2      MBConv6   24-32        2-3      3        2
3      MBConv6   40-48        2-3      3, 5     2
4      MBConv6   80-88        2-4      3, 5     2
5      MBConv6   112-128      2-6      3, 5     1
6      MBConv6   192-216      2-6      3, 5     2
7      MBConv6   320-352      1-2      3, 5     1
head   conv 1x1  1280-1408    1        1        1
=====  ========  ===========  =======  =======  ======

After the head conv: global average pool, dropout (per call), linear classifier.

Choices the table leaves open, and what this space does:

- **Resolution**: 192 to 320 in steps of 16 (9 values). The coarse grid BigNAS
  searches first (192, 224, 256, 288, 320) is every other value, so a fine grid has
  the values in between to refine on. ``resolutions=`` changes them.
- **Activation**: swish everywhere (``activation=`` changes it, e.g. to ``"relu6"``,
  MobileNetV2's own); FLOPs and parameters do not depend on it.
- **Squeeze-excitation**: none, as in MobileNetV2. (With MobileNetV3-style SE the
  smallest child would already have more parameters than BigNAS's S model.)
- **Shortcuts**: identity shortcuts on every block but the first of a stage (whose
  input width differs or whose stride is 2).

Size: 3.64e13 architectures (:attr:`size`). At 1000 classes the largest subnet (320 px)
has 9.24 M parameters and 3.68 GFLOPs (1841 M multiply-accumulates); the smallest
(192 px) 3.39 M and 413 MFLOPs (206 M multiply-accumulates). BigNAS's reported children
(S 242 to XL 1040 M multiply-accumulates) lie in between.
"""

from __future__ import annotations

from typing import Sequence

from search_spaces.mobilenet import MobileNetSpace, StageSpec

__all__ = ["BigNASMobileNetV2Space", "BIGNAS_RESOLUTIONS"]

BIGNAS_RESOLUTIONS: tuple[int, ...] = tuple(range(192, 321, 16))
"""192, 208, ..., 320; the coarse grid 192, 224, 256, 288, 320 is every other one."""


def _range8(low: int, high: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1, 8))


# (channels, depths, kernel sizes, expand ratio, stride) per stage, from the table.
_STAGES = (
    (_range8(16, 24), (1, 2), (3,), 1, 1),
    (_range8(24, 32), (2, 3), (3,), 6, 2),
    (_range8(40, 48), (2, 3), (3, 5), 6, 2),
    (_range8(80, 88), (2, 3, 4), (3, 5), 6, 2),
    (_range8(112, 128), (2, 3, 4, 5, 6), (3, 5), 6, 1),
    (_range8(192, 216), (2, 3, 4, 5, 6), (3, 5), 6, 2),
    (_range8(320, 352), (1, 2), (3, 5), 6, 1),
)


class BigNASMobileNetV2Space(MobileNetSpace):
    """BigNAS's MobileNetV2-based space: ``search_spaces.get("bignas-mbv2")``.

    Args:
        num_classes: classifier outputs (ImageNet: 1000).
        resolutions: input resolutions to choose from (default :data:`BIGNAS_RESOLUTIONS`).
        in_channels: image channels.
        activation: activation of every conv (stem, blocks, head).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        resolutions: Sequence[int] = BIGNAS_RESOLUTIONS,
        in_channels: int = 3,
        activation: str = "swish",
    ):
        stages = [
            StageSpec(widths=widths, depths=depths, kernel_sizes=kernel_sizes, expand_ratios=(expand,),
                      stride=stride, activation=activation, se=False)
            for widths, depths, kernel_sizes, expand, stride in _STAGES
        ]
        super().__init__(
            stages,
            resolutions=resolutions,
            in_channels=in_channels,
            stem_widths=_range8(32, 40),
            stem_stride=2,
            stem_kernel_size=3,
            stem_activation=activation,
            head_widths=(_range8(1280, 1408),),
            head_activation=activation,
            num_classes=num_classes,
            name="bignas-mbv2",
        )
        self.kwargs = {
            "num_classes": num_classes,
            "resolutions": list(self.resolutions),
            "in_channels": in_channels,
            "activation": activation,
        }
