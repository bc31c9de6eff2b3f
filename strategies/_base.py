"""The pure ask/tell interface every strategy implements (no Ray, no torch).

A strategy always *maximises* a score; the Tune adapter flips the sign for ``mode="min"``.

- ``ask()`` returns a new architecture dict, ``None`` when it has nothing to propose
  until more results arrive, or ``FINISHED`` when it is exhausted.
- ``tell(arch, score)`` reports the result of an architecture; ``score`` is ``None``
  for a failed trial (error, NaN, missing metric). Architectures the strategy did not
  propose (a user's warm-start points) may be told as well. ``tell(arch, score,
  fraction=f)`` with ``f < 1``: the score was measured on that share of the validation
  set only (a trial scheduler stopped the evaluation early); it is the strategy's estimate
  of the architecture (the ``_tell_partial`` hook) but never its ``best_arch``.
- ``state_dict()`` / ``load_state_dict()`` capture everything, the random generator
  included, so a restored strategy continues the same sequence.

The base class does the bookkeeping (validation of what is told, counting, best so far,
the set of proposed architectures, feasible sampling with a capped number of retries);
subclasses implement the hooks ``_ask``, ``_tell``, ``_extra_state`` and
``_load_extra_state``.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import random
from typing import Any, Callable, Mapping

from raynas.checks import check_int
from raynas.constraints import Constraints
from raynas.errors import ConfigError, InfeasibleConstraints, InvalidCheckpoint

__all__ = ["Strategy", "FINISHED"]

logger = logging.getLogger(__name__)

#: Spaces up to this size are enumerated when random retries only find architectures
#: that were already proposed, so small spaces are exhausted exactly instead of repeating.
ENUMERATE_LIMIT = 4096
_SMALL_SPACE_DRAWS = 64  # draws before a small space is enumerated instead

_STATE_VERSION = 2


class _Finished:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FINISHED"

    def __reduce__(self):
        return (_Finished, ())


FINISHED = _Finished()


class Strategy:
    """Base class of the ask/tell strategies.

    Args:
        space: a ``search_spaces.SearchSpace``.
        seed: seeds ``self.rng`` (a ``random.Random``), the only randomness allowed.
        constraints: a :class:`raynas.Constraints`; every proposal satisfies it. When no
            architecture can, the constructor raises :class:`raynas.errors.InfeasibleConstraints`
            naming the smallest achievable value.
        max_retries: how many candidates a proposal may draw before giving up; then the
            strategy falls back (see :meth:`_propose`) or raises a clear error.
    """

    #: True when the strategy enumerates a finite set and then returns FINISHED.
    exhaustive: bool = False
    #: True when ``tell`` takes a tuple of scores, one per objective (see :meth:`_check_score`).
    multi_objective: bool = False

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        constraints: Constraints | None = None,
        max_retries: int = 1000,
    ):
        owner = type(self).__name__
        if not hasattr(space, "choices") or not hasattr(space, "canonical"):
            raise ConfigError(f"{owner}: space must be a search_spaces.SearchSpace, got {space!r}")
        if constraints is not None and not isinstance(constraints, Constraints):
            raise ConfigError(f"{owner}: constraints must be a raynas.Constraints or None, got {constraints!r}")
        self.space = space
        self.seed = check_int(owner, "seed", seed)
        self.constraints = constraints or Constraints()
        self.max_retries = check_int(owner, "max_retries", max_retries, low=1)
        self.constraints.check_feasible(space)
        self.rng = random.Random(self.seed)
        self._keys = list(space.choices)
        self._proposed: set[str] = set()  # fingerprints of the canonical architectures proposed
        self.num_asked = 0
        self.num_told = 0
        self.num_failed = 0
        self.num_partial = 0  # told with fraction < 1 (stopped early)
        self.best_arch: dict[str, Any] | None = None
        self.best_score: float | None = None

    # -- the public interface ----------------------------------------------------------------
    def ask(self) -> Any:
        """A new architecture, ``None`` (wait for results) or ``FINISHED``."""
        arch = self._ask()
        if arch is None or arch is FINISHED:
            return arch
        arch = self.space.canonical(arch)
        self._proposed.add(self.fingerprint(arch))
        self.num_asked += 1
        return dict(arch)

    def tell(self, arch: Mapping[str, Any], score: float | None, *, fraction: float = 1.0) -> None:
        """Report ``score`` (maximised; ``None`` for a failed trial) of ``arch``.

        ``fraction``: the share of the validation set ``score`` was measured on, in (0, 1]
        (below 1 when a trial scheduler stopped the evaluation early). Such a score goes to
        the ``_tell_partial`` hook (by default the same as ``_tell``) and never becomes
        ``best_score``. ``best_arch``/``best_score`` follow the first objective when the
        score is a tuple.
        """
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0.0 < fraction <= 1.0:
            raise ConfigError(f"{type(self).__name__}.tell: fraction must be a number in (0, 1], got {fraction!r}")
        arch = self.space.canonical(arch)
        score = None if score is None else self._check_score(score)
        self.num_told += 1
        partial = fraction < 1.0
        if score is None:
            self.num_failed += 1
        elif partial:
            self.num_partial += 1
        else:
            first = score[0] if isinstance(score, tuple) else score
            if self.best_score is None or first > self.best_score:
                self.best_arch, self.best_score = dict(arch), first
        if partial and score is not None:
            self._tell_partial(arch, score, float(fraction))
        else:
            self._tell(arch, score)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the identical sequence (plain, picklable data)."""
        return {
            "strategy": type(self).__name__,
            "version": _STATE_VERSION,
            "rng": self.rng.getstate(),
            "proposed": sorted(self._proposed),
            "num_asked": self.num_asked,
            "num_told": self.num_told,
            "num_failed": self.num_failed,
            "num_partial": self.num_partial,
            "best_arch": None if self.best_arch is None else dict(self.best_arch),
            "best_score": self.best_score,
            "extra": self._extra_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (from an instance built with the same arguments)."""
        if not isinstance(state, Mapping) or "strategy" not in state:
            raise InvalidCheckpoint(f"{type(self).__name__}: not a strategy state dict: {type(state).__name__}")
        if state["strategy"] != type(self).__name__:
            raise InvalidCheckpoint(
                f"state dict is from strategy {state['strategy']!r}, cannot load it into {type(self).__name__}"
            )
        if state.get("version") != _STATE_VERSION:
            raise InvalidCheckpoint(
                f"{type(self).__name__}: state dict version {state.get('version')!r} is not supported "
                f"(expected {_STATE_VERSION})"
            )
        self.rng.setstate(_as_rng_state(state["rng"]))
        self._proposed = set(state["proposed"])
        self.num_asked = int(state["num_asked"])
        self.num_told = int(state["num_told"])
        self.num_failed = int(state["num_failed"])
        self.num_partial = int(state.get("num_partial", 0))
        self.best_arch = None if state["best_arch"] is None else dict(state["best_arch"])
        self.best_score = state["best_score"]
        self._load_extra_state(state["extra"])

    # -- hooks for subclasses ----------------------------------------------------------------
    def _check_score(self, score: Any) -> Any:
        """A told score (not ``None``) as the strategy keeps it: a float, or ``None`` when not finite.

        Multi-objective strategies return a tuple of floats instead.
        """
        if isinstance(score, bool) or not isinstance(score, numbers.Real):
            raise TypeError(f"{type(self).__name__}.tell: score must be a number or None, got {score!r}")
        score = float(score)
        if not math.isfinite(score):
            logger.debug("non-finite score %r told as a failed trial", score)
            return None
        return score

    def _ask(self) -> Any:
        raise NotImplementedError

    def _tell(self, arch: dict[str, Any], score: float | None) -> None:
        raise NotImplementedError

    def _tell_partial(self, arch: dict[str, Any], score: Any, fraction: float) -> None:
        """A score measured on ``fraction`` (< 1) of the validation set: by default, taken as the
        architecture's score (a stopped subnet was stopped for scoring poorly, so this is what
        the strategy should learn from it). Override to weigh or drop such scores."""
        self._tell(arch, score)

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        pass

    # -- helpers -----------------------------------------------------------------------------
    def is_feasible(self, arch: Mapping[str, Any]) -> bool:
        """Whether ``arch`` satisfies the constraints."""
        return self.constraints.satisfied(self.space, arch)

    def fingerprint(self, arch: Mapping[str, Any]) -> str:
        """A cheap identity of an architecture already in canonical form (JSON of its values in key order)."""
        return json.dumps([arch[key] for key in self._keys])

    def was_proposed(self, arch: Mapping[str, Any]) -> bool:
        """Whether ``arch`` (in canonical form) was proposed by :meth:`ask` before."""
        return self.fingerprint(arch) in self._proposed

    def _propose(
        self, generate: Callable[[], Mapping[str, Any]], *, dedupe: bool, draws: int | None = None
    ) -> dict[str, Any] | None:
        """A feasible candidate from ``generate``, drawing at most ``max_retries`` times.

        ``draws`` lowers that cap for this call. With ``dedupe``, candidates already
        proposed are skipped. When the draws only found already-proposed architectures, a
        space of at most ``ENUMERATE_LIMIT`` architectures (drawn at most 64 times) is
        enumerated and a feasible unproposed one drawn uniformly (``None`` when none is
        left: the feasible space is exhausted); a larger space gets the repeated
        architecture. When no draw was feasible, a small space is enumerated as well; a
        larger one gets a feasible uniform sample of the space (at most ``max_retries``
        samples); otherwise :class:`InfeasibleConstraints` is raised.
        """
        repeat = None
        small = self.space.size <= ENUMERATE_LIMIT
        draws = min(draws or self.max_retries, self.max_retries)
        if small:
            draws = min(draws, _SMALL_SPACE_DRAWS)
        for _ in range(draws):
            cand = self.space.canonical(generate())
            if not self.is_feasible(cand):
                continue
            if dedupe and self.was_proposed(cand):
                repeat = repeat or cand
                continue
            return cand
        if small:
            feasible = [a for a in self.space.enumerate() if self.is_feasible(a)]
            fresh = [a for a in feasible if not self.was_proposed(a)] if dedupe else feasible
            if fresh:
                return fresh[self.rng.randrange(len(fresh))]
            if feasible:
                return None  # every feasible architecture was proposed already
        elif repeat is not None:
            logger.debug("%s: no unproposed architecture in %d draws; repeating one", type(self).__name__, draws)
            return repeat
        else:
            # The strategy's own draws (a learned policy, mutations of one parent) can all
            # land over a binding budget: fall back to uniform samples of the space.
            for _ in range(self.max_retries):
                cand = self.space.canonical(self.space.sample(self.rng))
                if self.is_feasible(cand) and not (dedupe and self.was_proposed(cand)):
                    logger.debug("%s: no feasible draw in %d; proposing a uniform feasible sample",
                                 type(self).__name__, draws)
                    return cand
        raise InfeasibleConstraints(
            f"{type(self).__name__}: no feasible architecture of space {self.space.name!r} in {draws} draws "
            f"(max_retries={self.max_retries}) under {self.constraints.to_dict()}; the constraints admit too few "
            "architectures: loosen them or raise max_retries"
        )

    def _sample(self, *, dedupe: bool) -> dict[str, Any] | None:
        """A uniformly drawn feasible architecture (see :meth:`_propose`)."""
        return self._propose(lambda: self.space.sample(self.rng), dedupe=dedupe)


def _as_rng_state(state: Any) -> tuple:
    """``random.Random.getstate()`` output, also after a JSON round trip (lists instead of tuples)."""
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
