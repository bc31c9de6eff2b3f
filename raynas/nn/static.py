"""Plain, standalone modules that extracted subnets are made of (TorchScript-able).

No ``from __future__ import annotations`` here: TorchScript reads the class annotations.
"""

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["InvertedResidual", "MobileNet"]


class InvertedResidual(nn.Module):
    """``[expand] -> depthwise -> [squeeze-excite] -> project [+ input]`` with plain layers.

    Missing parts are ``nn.Identity``.
    """

    use_residual: torch.jit.Final[bool]

    def __init__(
        self,
        expand: Optional[nn.Module],
        depthwise: nn.Module,
        se: Optional[nn.Module],
        project: nn.Module,
        use_residual: bool,
    ):
        super().__init__()
        self.expand = nn.Identity() if expand is None else expand
        self.depthwise = depthwise
        self.se = nn.Identity() if se is None else se
        self.project = project
        self.use_residual = use_residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        if self.use_residual:
            out = out + x
        return out


class MobileNet(nn.Module):
    """A static MobileNet: resize to ``resolution``, stem, blocks, head convs, mean pool, pooled convs, classifier.

    An input whose spatial size differs from ``resolution x resolution`` is resized with
    bilinear interpolation (``align_corners=False``, no antialiasing), as the supernet does.
    """

    resolution: torch.jit.Final[int]

    def __init__(
        self,
        resolution: int,
        stem: nn.Module,
        blocks: Sequence[nn.Module],
        head: Sequence[nn.Module],
        pooled: Sequence[nn.Module],
        classifier: nn.Module,
    ):
        super().__init__()
        self.resolution = int(resolution)
        self.stem = stem
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(*head)
        self.pooled = nn.Sequential(*pooled)
        self.classifier = classifier

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features before the classifier, shape ``(N, C)``."""
        if x.shape[-2] != self.resolution or x.shape[-1] != self.resolution:
            x = F.interpolate(
                x, size=[self.resolution, self.resolution], mode="bilinear", align_corners=False, antialias=False
            )
        x = self.head(self.blocks(self.stem(x)))
        x = self.pooled(x.mean(3, keepdim=True).mean(2, keepdim=True))  # once-for-all's order
        return torch.flatten(x, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))
