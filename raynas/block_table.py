"""DNA's block-loss table: every scored candidate of every block of a space (no torch, no Ray).

A space cuts its keys into blocks (``space.blocks()``). A *candidate* of block ``b`` is an
assignment of block ``b``'s keys, canonical within the space. The table holds, per block,
the candidates that were scored, each with its ``loss`` (the distillation loss divided by
the variance of the teacher's features for that block, DNA's fair criterion), its raw
``mse`` where known, and its ``flops`` and ``params``: what the candidate adds to the
space's smallest architecture (``space.flops(smallest with block b = candidate) -
space.flops(smallest)``). ``base_flops``/``base_params`` are the smallest architecture's.
For MobileNet spaces at a fixed resolution these costs add up exactly
(``base + sum over blocks == space.flops(arch)``); resolution (a block-0 key) scales every
later block, so with several resolutions the sum is a lower bound of the true cost.

``raynas train --method dna`` writes the table as ``block_table.json`` beside
``supernet.pt`` (and into the checkpoint's metadata); ``strategies.get("dna", ...,
block_losses=...)`` traverses it.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from raynas._io import atomic_write
from raynas.checks import check_int
from raynas.errors import ConfigError, InvalidCheckpoint

__all__ = ["BlockTable", "block_candidates", "candidate_costs", "BLOCK_TABLE_FILE", "BLOCK_TABLE_FORMAT"]

BLOCK_TABLE_FILE = "block_table.json"
BLOCK_TABLE_FORMAT = "raynas.BlockTable/1"

#: A block whose raw product of choices is at most this (and at most ``_ENUMERATE_FACTOR``
#: times the cap) is enumerated, then deduplicated; a larger one is sampled.
_ENUMERATE_RAW_LIMIT = 200_000
_ENUMERATE_FACTOR = 8
_DRAWS_PER_CANDIDATE = 20  # sampling gives up after this many draws per wanted candidate


def _block_part(space: Any, arch: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {key: arch[key] for key in keys}


def block_candidates(space: Any, index: int, *, max_candidates: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The distinct canonical assignments of block ``index``'s keys.

    Every one when there are at most ``max_candidates`` (``None``: no cap), in enumeration
    order; otherwise ``max_candidates`` distinct ones (fewer if ``20 * max_candidates``
    draws find no more), drawn under a generator seeded with ``seed``: uniformly from the
    enumeration when the block is small, else with ``space.sample``. The other blocks' keys are filled
    from ``space.smallest()`` before canonicalisation.
    """
    blocks = space.blocks()
    index = check_int(None, "block index", index, low=0, high=len(blocks) - 1)
    if max_candidates is not None:
        max_candidates = check_int(None, "max_candidates", max_candidates, low=1)
    keys = blocks[index]
    choices = space.choices
    base = space.smallest()
    raw = math.prod(len(choices[k]) for k in keys)
    if raw <= _ENUMERATE_RAW_LIMIT and (max_candidates is None or raw <= _ENUMERATE_FACTOR * max_candidates):
        seen: dict[str, dict[str, Any]] = {}
        for values in itertools.product(*(choices[k] for k in keys)):
            part = _block_part(space, space.canonical({**base, **dict(zip(keys, values))}), keys)
            seen.setdefault(json.dumps([part[k] for k in keys]), part)
        found = list(seen.values())
        if max_candidates is None or len(found) <= max_candidates:
            return found
        rng = random.Random(seed)
        return [found[i] for i in sorted(rng.sample(range(len(found)), max_candidates))]
    if max_candidates is None:
        raise ConfigError(f"block {index} of space {space.name!r} has about {raw:.3g} assignments; "
                          "give max_candidates to sample some of them")
    rng = random.Random(seed)
    seen = {}
    for _ in range(_DRAWS_PER_CANDIDATE * max_candidates):
        part = _block_part(space, space.sample(rng), keys)
        seen.setdefault(json.dumps([part[k] for k in keys]), part)
        if len(seen) >= max_candidates:
            break
    return list(seen.values())


def candidate_costs(space: Any, index: int, candidates: Sequence[Mapping[str, Any]], measure) -> list[float]:
    """``measure(smallest with block index = candidate) - measure(smallest)`` for each candidate."""
    base = space.smallest()
    zero = float(measure(base))
    return [float(measure(space.canonical({**base, **dict(c)}))) - zero for c in candidates]


@dataclass
class BlockTable:
    """The block-loss table of one space (see the module docstring).

    Attributes:
        space, space_kwargs: ``search_spaces.get(space, **space_kwargs)`` rebuilds the space.
        blocks: per block, a list of candidates ``{"arch": {key: value}, "loss": float,
            "flops": float, "params": float}`` (``"mse"`` optional).
        teacher_variance: per block, the variance of the teacher's features the losses are
            divided by (``None`` for a synthetic table).
        base_flops, base_params: costs of ``space.smallest()``.
        meta: free-form plain values (how the table was made).
    """

    space: str
    space_kwargs: dict[str, Any]
    blocks: list[list[dict[str, Any]]]
    teacher_variance: list[float | None] = field(default_factory=list)
    base_flops: float | None = None
    base_params: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_candidates(self) -> int:
        return sum(len(b) for b in self.blocks)

    # -- checks ---------------------------------------------------------------------------------
    def check(self, space: Any) -> None:
        """Raise :class:`ConfigError` unless the table fits ``space``: one list per block of
        ``space.blocks()``, each candidate assigning exactly that block's keys with allowed
        values, and a finite loss."""
        groups = space.blocks()
        if len(self.blocks) != len(groups):
            raise ConfigError(f"block table has {len(self.blocks)} blocks, space {space.name!r} has {len(groups)} "
                              f"(space.blocks(): {[g[:2] + ['...'] if len(g) > 2 else g for g in groups]})")
        choices = space.choices
        for index, (candidates, keys) in enumerate(zip(self.blocks, groups)):
            if not candidates:
                raise ConfigError(f"block table: block {index} of space {space.name!r} has no candidates")
            for position, cand in enumerate(candidates):
                arch = cand.get("arch") if isinstance(cand, Mapping) else None
                if not isinstance(arch, Mapping) or sorted(arch) != sorted(keys):
                    got = sorted(arch) if isinstance(arch, Mapping) else arch
                    raise ConfigError(f"block table: candidate {position} of block {index} must assign exactly the "
                                      f"keys {keys}, got {got}")
                for key, value in arch.items():
                    if value not in choices[key]:
                        raise ConfigError(f"block table: candidate {position} of block {index} has {key}={value!r}; "
                                          f"allowed values: {list(choices[key])}")
                loss = cand.get("loss")
                if isinstance(loss, bool) or not isinstance(loss, (int, float)) or not math.isfinite(loss):
                    raise ConfigError(f"block table: candidate {position} of block {index} has loss {loss!r}; "
                                      "expected a finite number")

    # -- I/O ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": BLOCK_TABLE_FORMAT, "space": self.space, "space_kwargs": dict(self.space_kwargs),
                "blocks": [[dict(c, arch=dict(c["arch"])) for c in block] for block in self.blocks],
                "teacher_variance": list(self.teacher_variance), "base_flops": self.base_flops,
                "base_params": self.base_params, "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BlockTable":
        if not isinstance(data, Mapping) or data.get("format") != BLOCK_TABLE_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise InvalidCheckpoint(f"not a block table: expected format {BLOCK_TABLE_FORMAT!r}, found {found!r}")
        blocks = data.get("blocks")
        if not isinstance(blocks, list) or not all(isinstance(b, list) for b in blocks):
            raise InvalidCheckpoint("block table: 'blocks' must be a list of lists of candidates")
        return cls(space=str(data["space"]), space_kwargs=dict(data.get("space_kwargs") or {}),
                   blocks=[[dict(c) for c in block] for block in blocks],
                   teacher_variance=list(data.get("teacher_variance") or []), base_flops=data.get("base_flops"),
                   base_params=data.get("base_params"), meta=dict(data.get("meta") or {}))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the table as JSON (atomically); a folder gets ``block_table.json``."""
        target = Path(path)
        if target.is_dir():
            target = target / BLOCK_TABLE_FILE
        with atomic_write(target, "w") as f:
            json.dump(self.to_dict(), f)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BlockTable":
        """Read a table written by :meth:`save`; a folder is looked into for ``block_table.json``."""
        target = Path(path)
        if target.is_dir():
            target = target / BLOCK_TABLE_FILE
        if not target.exists():
            raise InvalidCheckpoint(f"no block table at {str(target)!r}; `raynas train --method dna` writes one")
        try:
            data = json.loads(target.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidCheckpoint(f"block table {str(target)!r} could not be read: {exc}") from exc
        return cls.from_dict(data)

    # -- building -------------------------------------------------------------------------------
    @classmethod
    def from_losses(cls, space: Any, blocks: Sequence[Sequence[tuple[Mapping[str, Any], float]]], *,
                    teacher_variance: Sequence[float | None] | None = None, meta: Mapping[str, Any] | None = None,
                    costs: bool = True) -> "BlockTable":
        """A table from per-block ``(candidate, loss)`` pairs; FLOPs/params filled in from
        ``space`` when it defines them (``costs=True``)."""
        rows: list[list[dict[str, Any]]] = []
        base_flops = base_params = None
        for index, pairs in enumerate(blocks):
            cands = [dict(c) for c, _ in pairs]
            block = [{"arch": c, "loss": float(loss)} for c, (_, loss) in zip(cands, pairs)]
            for name in ("flops", "params") if costs else ():
                try:
                    values = candidate_costs(space, index, cands, getattr(space, name))
                except NotImplementedError:
                    continue
                for row, value in zip(block, values):
                    row[name] = value
            rows.append(block)
        if costs:
            try:
                base_flops = float(space.flops(space.smallest()))
            except NotImplementedError:
                pass
            try:
                base_params = float(space.params(space.smallest()))
            except NotImplementedError:
                pass
        variance = list(teacher_variance) if teacher_variance is not None else [None] * len(rows)
        return cls(space=space.name, space_kwargs=dict(space.kwargs), blocks=rows, teacher_variance=variance,
                   base_flops=base_flops, base_params=base_params, meta=dict(meta or {}))

    @classmethod
    def synthetic(cls, space: Any, *, seed: int = 0, max_candidates: int = 64) -> "BlockTable":
        """A table with made-up losses (seeded, uniform in [0, 1)) over up to ``max_candidates``
        candidates per block: for tests of the traversal, and for timing it on spaces too large to
        train block-wise here."""
        rng = random.Random(seed)
        blocks = []
        for index in range(len(space.blocks())):
            cands = block_candidates(space, index, max_candidates=max_candidates, seed=seed + index)
            blocks.append([(c, rng.random()) for c in cands])
        return cls.from_losses(space, blocks, meta={"synthetic": True, "seed": seed})
