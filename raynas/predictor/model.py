"""The accuracy predictor: an MLP over ``space.encode(arch)`` (once-for-all style), and its file.

The input is the space's one-hot encoding of the canonical architecture (resolution
included), so equal networks get equal inputs. The MLP predicts the standardised target;
``target_mean`` and ``target_scale`` map it back to accuracy in percent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from raynas.checks import check_positive_int
from raynas.checkpoint import space_from_record
from raynas.errors import ConfigError, InvalidCheckpoint
from raynas._io import atomic_write

__all__ = ["AccuracyPredictor", "PREDICTOR_FORMAT", "PREDICTOR_VERSION"]

PREDICTOR_FORMAT = "raynas.predictor"
PREDICTOR_VERSION = 1


def _check_json(value: Any, where: str) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where} must hold only JSON values (str, int, float, bool, None, lists, dicts): {exc}") \
            from exc


class AccuracyPredictor(nn.Module):
    """``arch -> predicted accuracy``: an MLP with ``num_layers`` hidden ReLU layers of ``hidden_size`` units.

    Args:
        space: the search space whose ``encode`` gives the input.
        hidden_size: units per hidden layer (once-for-all: 400).
        num_layers: hidden layers (once-for-all: 3).
        target_mean, target_scale: the prediction is ``target_mean + target_scale * mlp(x)``.
        meta: training metadata (JSON values only), saved with the weights.
        generator: seeds the initial weights (default: a generator seeded with 0).
    """

    def __init__(
        self,
        space: Any,
        *,
        hidden_size: int = 400,
        num_layers: int = 3,
        target_mean: float = 0.0,
        target_scale: float = 1.0,
        meta: Mapping[str, Any] | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        for name, value in (("hidden_size", hidden_size), ("num_layers", num_layers)):
            check_positive_int("AccuracyPredictor", name, value)
        if not np.isfinite(target_mean) or not np.isfinite(target_scale) or target_scale <= 0:
            raise ConfigError(f"target_scale must be positive and both finite, got mean {target_mean!r}, "
                              f"scale {target_scale!r}")
        self.space = space
        self.input_size = int(len(space.encode(space.smallest())))
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.target_mean = float(target_mean)
        self.target_scale = float(target_scale)
        self.meta = _check_json(meta or {}, "meta")
        layers: list[nn.Module] = []
        width = self.input_size
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_size), nn.ReLU()]
            width = hidden_size
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        with torch.no_grad():
            for module in self.mlp:
                if isinstance(module, nn.Linear):
                    bound = 1.0 / module.in_features**0.5
                    module.weight.uniform_(-bound, bound, generator=generator)
                    module.bias.uniform_(-bound, bound, generator=generator)

    # -- inputs --------------------------------------------------------------------------------
    def encode(self, archs: Sequence[Mapping[str, Any]]) -> torch.Tensor:
        """``(len(archs), input_size)`` float tensor of the space's encodings."""
        if isinstance(archs, Mapping):
            raise TypeError("encode takes a sequence of architectures; wrap a single one in a list")
        rows = [self.space.encode(arch) for arch in archs]
        if not rows:
            return torch.zeros(0, self.input_size)
        return torch.from_numpy(np.stack(rows).astype(np.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted accuracy for encoded inputs ``x`` of shape ``(N, input_size)``."""
        return self.target_mean + self.target_scale * self.mlp(x).squeeze(-1)

    @torch.no_grad()
    def predict_many(self, archs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted accuracy of every architecture (numpy float64)."""
        was_training = self.training
        self.eval()
        try:
            x = self.encode(archs).to(next(self.parameters()).device)
            return self(x).double().cpu().numpy()
        finally:
            self.train(was_training)

    def predict(self, arch: Mapping[str, Any]) -> float:
        """Predicted accuracy of one architecture."""
        return float(self.predict_many([arch])[0])

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the predictor (weights, space, metadata) as a weights-only-loadable torch file."""
        payload = {
            "format": PREDICTOR_FORMAT,
            "version": PREDICTOR_VERSION,
            "space": self.space.name,
            "space_kwargs": _check_json(self.space.kwargs, "space.kwargs"),
            "choice_keys": list(self.space.choices),
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "target_mean": self.target_mean,
            "target_scale": self.target_scale,
            "meta": json.dumps(self.meta),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
        }
        target = Path(path)
        with atomic_write(target) as f:
            torch.save(payload, f)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike, *, space: Any | None = None) -> "AccuracyPredictor":
        """Rebuild a predictor from its file alone (``torch.load(weights_only=True)``).

        The space comes from ``search_spaces.get(space, **space_kwargs)`` unless ``space``
        is given, in which case its name and choices must match the file's.
        """
        source = os.fspath(path)
        if not os.path.exists(source):
            raise InvalidCheckpoint(f"predictor file {source!r} does not exist; make one with `raynas predictor fit`")
        try:
            payload = torch.load(source, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for bad files
            raise InvalidCheckpoint(f"predictor file {source!r} could not be read as a weights-only torch file: "
                                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
        if not isinstance(payload, dict) or payload.get("format") != PREDICTOR_FORMAT:
            found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
            raise InvalidCheckpoint(f"{source!r} is not a raynas predictor: expected format {PREDICTOR_FORMAT!r}, "
                                    f"found {found!r}")
        if payload.get("version") != PREDICTOR_VERSION:
            raise InvalidCheckpoint(f"predictor file {source!r} has version {payload.get('version')!r}; "
                                    f"this raynas reads version {PREDICTOR_VERSION}")
        if space is None:
            space = space_from_record(payload["space"], payload["space_kwargs"], source=f"predictor file {source!r}")
        if space.name != payload["space"] or list(space.choices) != list(payload["choice_keys"]):
            raise InvalidCheckpoint(f"predictor file {source!r} was fitted on space {payload['space']!r} with keys "
                                    f"{payload['choice_keys'][:4]}...; it does not match space {space.name!r}")
        predictor = cls(space, hidden_size=payload["hidden_size"], num_layers=payload["num_layers"],
                        target_mean=payload["target_mean"], target_scale=payload["target_scale"],
                        meta=json.loads(payload["meta"]))
        if predictor.input_size != payload["input_size"]:
            raise InvalidCheckpoint(f"predictor file {source!r}: input size {payload['input_size']} does not match "
                                    f"the encoding of space {space.name!r} ({predictor.input_size})")
        try:
            predictor.load_state_dict(payload["state_dict"])
        except RuntimeError as exc:
            raise InvalidCheckpoint(f"predictor file {source!r}: weights do not fit: {exc}") from exc
        return predictor.eval()
