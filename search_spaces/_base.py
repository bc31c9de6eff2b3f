"""The :class:`SearchSpace` base class: choices, sampling, mutation, encoding, validation.

A space declares an ordered ``dict`` of choices; an architecture is a flat dict with
exactly those keys. Subclasses with inactive keys (blocks past a stage's depth)
override :meth:`canonical` and :attr:`size`; subclasses with a supernet override
:meth:`build_supernet`, :meth:`flops`, :meth:`params` and :meth:`input_shape`.
"""

from __future__ import annotations

import copy
import json
import math
import random
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from raynas.checks import check_positive_int
from raynas.errors import InvalidArchitecture

__all__ = ["SearchSpace", "Arch", "pick"]

Arch = dict[str, Any]


def pick(rng: Any, values: Sequence[Any]) -> Any:
    """One element of ``values``, drawn with ``rng`` (``random.Random`` or ``numpy.random.Generator``)."""
    if isinstance(rng, random.Random):
        return values[rng.randrange(len(values))]
    if isinstance(rng, np.random.Generator):
        return values[int(rng.integers(len(values)))]
    raise TypeError(
        f"rng must be a random.Random or a numpy.random.Generator, got {type(rng).__name__}"
    )


def _same_choice(value: Any, allowed: Any) -> bool:
    if isinstance(allowed, str) or isinstance(value, str):
        return isinstance(value, str) and isinstance(allowed, str) and value == allowed
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return value == allowed


def _uniform(rng: Any) -> float:
    if isinstance(rng, random.Random):
        return rng.random()
    if isinstance(rng, np.random.Generator):
        return float(rng.random())
    raise TypeError(
        f"rng must be a random.Random or a numpy.random.Generator, got {type(rng).__name__}"
    )


class SearchSpace:
    """A categorical search space over flat architecture dicts.

    Args:
        choices: ordered mapping of key -> tuple of allowed values (at least one each).
        name: the registry name, recorded in checkpoints.
        kwargs: the keyword arguments that rebuild this space through
            ``search_spaces.get(name, **kwargs)``.
    """

    def __init__(self, choices: Mapping[str, Sequence[Any]], *, name: str, kwargs: Mapping[str, Any] | None = None):
        if not isinstance(choices, Mapping) or not choices:
            raise TypeError(f"choices must be a non-empty mapping of key -> values, got {choices!r}")
        checked: dict[str, tuple] = {}
        for key, values in choices.items():
            if not isinstance(key, str):
                raise TypeError(f"choice keys must be strings, got {key!r}")
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
                raise TypeError(f"choices[{key!r}] must be a non-empty tuple of values, got {values!r}")
            values = tuple(values)
            if len(set(values)) != len(values):
                raise ValueError(f"choices[{key!r}] has repeated values: {values!r}")
            for v in values:
                if not isinstance(v, (int, float, str)) or isinstance(v, bool):
                    raise TypeError(f"choices[{key!r}] values must be int, float or str, got {v!r}")
            checked[key] = values
        self._choices = checked
        self.name = name
        self.kwargs = dict(kwargs or {})

    # -- description -------------------------------------------------------------------------
    @property
    def choices(self) -> dict[str, tuple]:
        """Ordered mapping of key -> allowed values (a copy)."""
        return dict(self._choices)

    @property
    def keys(self) -> list[str]:
        return list(self._choices)

    @property
    def size(self) -> int:
        """Number of distinct canonical architectures."""
        return math.prod(len(v) for v in self._choices.values())

    def blocks(self) -> list[list[str]]:
        """Groups of keys that block-wise methods (DNA) treat as one block. Default: one group."""
        return [list(self._choices)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, keys={len(self._choices)}, size={self.size})"

    # -- validation --------------------------------------------------------------------------
    def validate(self, arch: Mapping[str, Any]) -> Arch:
        """Return ``arch`` as a plain dict, or raise :class:`~raynas.InvalidArchitecture`."""
        if not isinstance(arch, Mapping):
            raise InvalidArchitecture(
                f"architecture must be a dict of key -> value for space {self.name!r}, got {type(arch).__name__}"
            )
        unknown = [k for k in arch if k not in self._choices]
        if unknown:
            raise InvalidArchitecture(
                f"unknown key {unknown[0]!r} in architecture for space {self.name!r}; valid keys: {list(self._choices)}"
            )
        missing = [k for k in self._choices if k not in arch]
        if missing:
            raise InvalidArchitecture(
                f"missing key {missing[0]!r} in architecture for space {self.name!r} "
                f"(allowed values: {list(self._choices[missing[0]])})"
            )
        out: Arch = {}
        for key, allowed in self._choices.items():
            value = arch[key]
            match = [a for a in allowed if _same_choice(value, a)]
            if not match:
                raise InvalidArchitecture(
                    f"value {value!r} for key {key!r} is not allowed in space {self.name!r}; allowed values: {list(allowed)}"
                )
            out[key] = match[0]  # normalises 4.0 -> 4 after a JSON round trip
        return out

    def canonical(self, arch: Mapping[str, Any]) -> Arch:
        """The validated architecture with inactive choices set to a fixed value."""
        return self.validate(arch)

    def key(self, arch: Mapping[str, Any]) -> str:
        """A stable string identifying the canonical architecture (for dedup and caching)."""
        return json.dumps(self.canonical(arch), sort_keys=True)

    # -- sampling ----------------------------------------------------------------------------
    def sample(self, rng: Any) -> Arch:
        """A random canonical architecture; each choice is drawn uniformly."""
        return self.canonical({k: pick(rng, v) for k, v in self._choices.items()})

    def sample_distinct(
        self,
        count: int,
        rng: Any,
        *,
        exclude: Sequence[Mapping[str, Any]] = (),
        accept: Callable[[Arch], bool] | None = None,
        max_draws: int | None = None,
    ) -> list[Arch]:
        """Up to ``count`` distinct canonical architectures drawn with :meth:`sample`.

        Draws stop at ``count`` found or after ``max_draws`` draws (default ``100 * count``),
        so fewer come back from a small space or a strict ``accept``: callers that need all
        of them check the length. Architectures equal (canonically) to one in ``exclude``
        and those ``accept`` refuses are skipped.
        """
        seen = {self.key(arch) for arch in exclude}
        out: list[Arch] = []
        for _ in range(100 * count if max_draws is None else max_draws):
            if len(out) >= count:
                break
            arch = self.sample(rng)
            key = self.key(arch)
            if key in seen:
                continue
            seen.add(key)
            if accept is None or accept(arch):
                out.append(arch)
        return out

    def largest(self) -> Arch:
        """Every choice at its last (largest) value."""
        return self.canonical({k: v[-1] for k, v in self._choices.items()})

    def smallest(self) -> Arch:
        """Every choice at its first (smallest) value."""
        return self.canonical({k: v[0] for k, v in self._choices.items()})

    def mutate(self, arch: Mapping[str, Any], rng: Any, prob: float = 0.1) -> Arch:
        """Resample each choice with probability ``prob`` to a different value.

        At least one choice changes when the space has any choice with two or more values,
        so a mutation never returns its parent unchanged on the active keys it touched.
        """
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob!r}")
        arch = self.canonical(arch)
        mutable = [k for k, v in self._choices.items() if len(v) > 1]
        child = dict(arch)
        changed = False
        for key in mutable:
            if _uniform(rng) < prob:
                child[key] = pick(rng, [v for v in self._choices[key] if v != arch[key]])
                changed = True
        if not changed and mutable:
            key = pick(rng, mutable)
            child[key] = pick(rng, [v for v in self._choices[key] if v != arch[key]])
        return self.canonical(child)

    def crossover(self, a: Mapping[str, Any], b: Mapping[str, Any], rng: Any) -> Arch:
        """Uniform crossover: each choice from ``a`` or ``b`` with equal probability."""
        a, b = self.canonical(a), self.canonical(b)
        return self.canonical({k: a[k] if _uniform(rng) < 0.5 else b[k] for k in self._choices})

    def neighbours(self, arch: Mapping[str, Any]) -> list[Arch]:
        """Every distinct canonical architecture one choice away from ``arch``."""
        arch = self.canonical(arch)
        seen = {self.key(arch)}
        out = []
        for key, values in self._choices.items():
            for v in values:
                if v == arch[key]:
                    continue
                cand = self.canonical({**arch, key: v})
                k = self.key(cand)
                if k not in seen:
                    seen.add(k)
                    out.append(cand)
        return out

    # -- encodings ---------------------------------------------------------------------------
    def encode(self, arch: Mapping[str, Any]) -> np.ndarray:
        """One-hot encoding of the canonical architecture, concatenated over keys (float32)."""
        arch = self.canonical(arch)
        parts = []
        for key, values in self._choices.items():
            one_hot = np.zeros(len(values), dtype=np.float32)
            one_hot[values.index(arch[key])] = 1.0
            parts.append(one_hot)
        return np.concatenate(parts)

    def to_tune(self) -> dict[str, Any]:
        """The space as a Ray Tune ``param_space`` of ``tune.choice`` (imports Ray lazily)."""
        from ray import tune

        return {k: tune.choice(list(v)) for k, v in self._choices.items()}

    # -- costs (spaces with a network override these) ----------------------------------------
    def flops(self, arch: Mapping[str, Any]) -> float:
        raise NotImplementedError(f"space {self.name!r} does not define flops(); give ChoiceSpace a flops= function")

    def params(self, arch: Mapping[str, Any]) -> float:
        raise NotImplementedError(f"space {self.name!r} does not define params(); give ChoiceSpace a params= function")

    def latency(self, arch: Mapping[str, Any], table: Any) -> float:
        """Predicted latency in ms from a lookup table (``table.predict(space, arch)``)."""
        if table is None:
            raise ValueError(f"space {self.name!r}: latency() needs a latency table, got None")
        return float(table.predict(self, arch))

    def input_shape(self, arch: Mapping[str, Any]) -> tuple[int, int, int]:
        raise NotImplementedError(f"space {self.name!r} has no network, so no input shape")

    def with_num_classes(self, num_classes: int) -> "SearchSpace":
        """A copy of this space whose classifier (and so flops/params) has ``num_classes`` outputs."""
        if not hasattr(self, "num_classes"):
            raise NotImplementedError(f"space {self.name!r} has no classifier, so no num_classes to change")
        check_positive_int(None, "num_classes", num_classes)
        if num_classes == self.num_classes:
            return self
        space = copy.copy(self)
        space.num_classes = num_classes
        space.kwargs = {**self.kwargs, "num_classes": num_classes}
        space._num_classes_changed()
        return space

    def _num_classes_changed(self) -> None:
        """Hook for :meth:`with_num_classes`: recompute what depends on the classifier."""

    def build_supernet(self, num_classes: int = 10):
        raise NotImplementedError(
            f"space {self.name!r} has no supernet; it can be searched with a table or black-box evaluator only"
        )

    # -- enumeration -------------------------------------------------------------------------
    def enumerate(self, limit: int | None = None):
        """Yield every distinct canonical architecture (up to ``limit``)."""
        import itertools

        seen: set[str] = set()
        keys = list(self._choices)
        for values in itertools.product(*self._choices.values()):
            arch = self.canonical(dict(zip(keys, values)))
            k = self.key(arch)
            if k in seen:
                continue
            seen.add(k)
            yield arch
            if limit is not None and len(seen) >= limit:
                return


CostFn = Callable[[Mapping[str, Any]], float]
