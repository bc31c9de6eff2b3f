"""Data sets: ``digits`` (embedded, the default), ``synthetic`` (tests), and torchvision sets.

Every loader returns a :class:`Data` with tensor-backed train and validation splits.
Images keep their native size; the supernet resizes them to the active resolution.
:mod:`raynas.data.transforms` holds the ImageNet evaluation transform (resize + centre crop, as
once-for-all evaluates) and the ImageNet mean and std.
"""

from raynas.data._datasets import Data, available, load

__all__ = ["Data", "available", "load"]
