"""raynas: neural-architecture search with weight sharing, on Ray.

Train one supernet, search it with any strategy as Ray Tune searchers, and
deploy the subnet you find without retraining::

    import raynas, search_spaces
    space = search_spaces.get("tiny")
    result = raynas.search(space, raynas.SupernetEvaluator("runs/x"), strategy="evolution", num_samples=50)

Heavy names (torch, Ray) are imported on first use, so ``import raynas`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from raynas.constraints import Constraints
from raynas.errors import (
    ClusterError,
    ConfigError,
    InfeasibleConstraints,
    InvalidArchitecture,
    InvalidCheckpoint,
    RaynasError,
    SearchFailed,
)

__version__ = "0.1.0"

_LAZY = {
    "search": "raynas.tune.search:search",
    "SearchResult": "raynas.tune.search:SearchResult",
    "compare": "raynas.tune.compare:compare",
    "Supernet": "raynas.nn:Supernet",
    "SupernetEvaluator": "raynas.evaluate.supernet:SupernetEvaluator",
    "TableEvaluator": "raynas.evaluate.table:TableEvaluator",
    "PredictorEvaluator": "raynas.evaluate.predictor:PredictorEvaluator",
    "TrainConfig": "raynas.train.config:TrainConfig",
    "train": "raynas.train.job:train",
    "BlockTeacher": "raynas.train.dna:BlockTeacher",
    "BlockTable": "raynas.block_table:BlockTable",
    "init_ray": "raynas._ray:init_ray",
    "import_ofa": "raynas.ofa:import_ofa",
}
_SUBMODULES = ("ofa",)

__all__ = [
    "Constraints",
    "ConfigError",
    "InfeasibleConstraints",
    "InvalidArchitecture",
    "InvalidCheckpoint",
    "RaynasError",
    "ClusterError",
    "SearchFailed",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:  # raynas.ofa.to_ofa(...) after a bare `import raynas`
        return importlib.import_module(f"raynas.{name}")
    if name in _LAZY:
        module, attr = _LAZY[name].split(":")
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'raynas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
