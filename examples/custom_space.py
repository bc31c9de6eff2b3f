"""Declare your own search spaces from raynas's building blocks, register them, and use them.

    python examples/custom_space.py
"""

import random

import torch

import search_spaces
from search_spaces import CellSpace, MobileNetSpace, StageSpec


def my_mobilenet(num_classes: int = 10) -> MobileNetSpace:
    """Two elastic stages for 1-channel 16x16 images: widths, depths, kernels, expand ratios to choose."""
    stages = [
        StageSpec(widths=(8, 16), depths=(1, 2), kernel_sizes=(3, 5), expand_ratios=(2, 4), stride=1),
        StageSpec(widths=(16, 24), depths=(1, 2, 3), kernel_sizes=(3, 5, 7), expand_ratios=(2, 4), stride=2,
                  activation="hswish", se=True),
    ]
    return MobileNetSpace(stages, resolutions=(12, 16), in_channels=1, stem_widths=(8,), stem_stride=1,
                          head_widths=(64,), num_classes=num_classes, name="my-mobilenet")


def my_cells(num_classes: int = 10) -> CellSpace:
    """A 3-node cell: the edge into node 1 picks a conv, the others also may skip or pool."""
    ops = {"1<-0": ("nor_conv_1x1", "nor_conv_3x3"), "2<-0": ("none", "skip_connect", "nor_conv_3x3"),
           "2<-1": ("skip_connect", "avg_pool_3x3", "nor_conv_3x3")}
    return CellSpace(ops, num_nodes=3, channels=8, cells_per_stage=1, in_channels=1, resolution=16,
                     num_classes=num_classes, name="my-cells")


for name, factory in (("my-mobilenet", my_mobilenet), ("my-cells", my_cells)):
    search_spaces.register(name, factory)  # search_spaces.get(name) and checkpoints now find it
    space = search_spaces.get(name)
    supernet = space.build_supernet().eval()
    arch = space.sample(random.Random(0))
    supernet.set_active(arch)
    subnet = supernet.extract(arch)  # a standalone torch module with copied weights
    x = torch.randn(4, *space.input_shape(arch))
    with torch.no_grad():
        same = torch.allclose(supernet(x), subnet(x), atol=1e-5)
    print(f"{name}: {space.size} subnets; sampled one has {space.flops(arch) / 1e6:.2f} MFLOPs, "
          f"{space.params(arch) / 1e3:.1f} K params; subnet output equals supernet output: {same}")
