"""Elastic layers and supernets.

Each elastic layer owns one maximal weight and slices it in ``forward``; only
:meth:`Supernet.set_active` changes which subnet runs; :meth:`Supernet.extract` copies the
active path into plain ``torch.nn`` layers that compute exactly the same function.
"""

from raynas.nn.bn import BN_METHODS, bn_layers, recalibrate_bn
from raynas.nn.cell import (
    CELL_OPS,
    Cell,
    CellNetwork,
    CellOp,
    CellSpec,
    CellSupernet,
    MixedCell,
    ReLUConvBN,
    ResNetReduction,
    cell_op_cost,
    register_cell_op,
)
from raynas.nn.mobilenet import ElasticConvNormAct, ElasticInvertedResidual, ElasticLayers, ElasticMobileNet
from raynas.nn.ops import (
    ElasticBatchNorm2d,
    ElasticConv2d,
    ElasticDepthwiseConv2d,
    ElasticLinear,
    ElasticSqueezeExcite,
    SqueezeExcite,
    hidden_channels,
    make_divisible,
    se_channels,
)
from raynas.nn.specs import ACTIVATIONS, BlockPlan, MobileNetArch, MobileNetSpec, StageArch, StageSpec
from raynas.nn.static import InvertedResidual, MobileNet
from raynas.nn.supernet import Supernet

__all__ = [
    "Supernet",
    "ElasticMobileNet",
    "CellSupernet",
    "ElasticLayers",
    "ElasticConvNormAct",
    "ElasticInvertedResidual",
    "ElasticConv2d",
    "ElasticDepthwiseConv2d",
    "ElasticBatchNorm2d",
    "ElasticSqueezeExcite",
    "ElasticLinear",
    "SqueezeExcite",
    "InvertedResidual",
    "MobileNet",
    "StageSpec",
    "MobileNetSpec",
    "StageArch",
    "MobileNetArch",
    "BlockPlan",
    "ACTIVATIONS",
    "make_divisible",
    "hidden_channels",
    "se_channels",
    "bn_layers",
    "recalibrate_bn",
    "BN_METHODS",
    "CELL_OPS",
    "CellOp",
    "CellSpec",
    "MixedCell",
    "Cell",
    "CellNetwork",
    "ReLUConvBN",
    "ResNetReduction",
    "register_cell_op",
    "cell_op_cost",
]
