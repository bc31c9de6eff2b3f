"""``tiny``: a MobileNetV3-like space sized for two CPU cores and 8x8 digit images."""

from __future__ import annotations

from typing import Sequence

from search_spaces.mobilenet import MobileNetSpace, StageSpec

__all__ = ["TinySpace"]


class TinySpace(MobileNetSpace):
    """Three stages (widths 16, 24, 40; strides 1, 2, 2; ReLU, ReLU, h-swish; SE in stage 3).

    Stem: 3x3 conv, stride 1, 16 channels, h-swish. Each stage has depth {1, 2, 3} and each
    block kernel {3, 5, 7} and expand ratio {2, 4, 6}. Head: 1x1 conv to 128 (BN, h-swish),
    global average pool, dropout (per call), linear classifier. Inputs are resized to the
    chosen resolution.

    Args:
        in_channels: image channels (1 for the ``digits`` data).
        resolutions: input resolutions to choose from.
        num_classes: classifier outputs counted by ``flops``/``params``.
    """

    def __init__(self, in_channels: int = 1, resolutions: Sequence[int] = (12, 16, 20), num_classes: int = 10):
        depths, kernel_sizes, expand_ratios = (1, 2, 3), (3, 5, 7), (2, 4, 6)
        stages = [
            StageSpec(widths=(16,), depths=depths, kernel_sizes=kernel_sizes, expand_ratios=expand_ratios,
                      stride=1, activation="relu", se=False),
            StageSpec(widths=(24,), depths=depths, kernel_sizes=kernel_sizes, expand_ratios=expand_ratios,
                      stride=2, activation="relu", se=False),
            StageSpec(widths=(40,), depths=depths, kernel_sizes=kernel_sizes, expand_ratios=expand_ratios,
                      stride=2, activation="hswish", se=True),
        ]
        super().__init__(
            stages,
            resolutions=resolutions,
            in_channels=in_channels,
            stem_widths=(16,),
            stem_stride=1,
            stem_activation="hswish",
            head_widths=(128,),
            head_activation="hswish",
            num_classes=num_classes,
            name="tiny",
        )
        self.kwargs = {"in_channels": in_channels, "resolutions": list(self.resolutions), "num_classes": num_classes}
