"""Data sets and how they are read.

- In memory: ``digits`` (embedded, the default), ``synthetic`` (tests) and the torchvision
  sets (``cifar10``, ``cifar100``, ``mnist``, ``fashionmnist``); images keep their native
  size and the supernet resizes them to the active resolution.
- Image folders: ``folder`` and ``imagenet`` (``ROOT/train/<class>/*``, ``ROOT/val/<class>/*``,
  :mod:`raynas.data.folder`), read image by image by ``DataLoader`` workers and prepared at
  the resolution each batch or subnet needs (:mod:`raynas.data.loader`).
- Any ``Dataset`` pair: :func:`from_datasets`.

:mod:`raynas.data.transforms` holds the evaluation transform (resize + centre crop, as
once-for-all evaluates), the ImageNet mean and std, and the training recipes
(:class:`Recipe`, ``--augment``); :class:`EvalData` the fixed calibration and validation
images of subnet evaluation.
"""

from raynas.data._datasets import (CUSTOM, FOLDER_SETS, Data, available, channels_of, default_augment, from_datasets,
                                   load, preprocessing)
from raynas.data.evaluation import EvalData
from raynas.data.folder import CorruptImage, FolderDataset, scan_folder
from raynas.data.loader import ResolutionBatchSampler, StreamingLoader
from raynas.data.transforms import AUGMENTS, Recipe

__all__ = ["Data", "available", "load", "channels_of", "preprocessing", "from_datasets", "default_augment", "FOLDER_SETS",
           "CUSTOM", "AUGMENTS",
           "Recipe", "EvalData", "CorruptImage", "FolderDataset", "scan_folder", "ResolutionBatchSampler",
           "StreamingLoader"]
