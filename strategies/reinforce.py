"""REINFORCE (Williams 1992; Zoph & Le 2017) with a factorised categorical policy in numpy."""

from __future__ import annotations

import bisect
import math
from typing import Any, Mapping

import numpy as np

from raynas.checks import check_bool, check_float
from raynas.constraints import Constraints
from raynas.errors import InvalidCheckpoint
from strategies._base import FINISHED, Strategy

__all__ = ["ReinforceStrategy"]

_POLICY_DRAWS = 100  # policy samples per proposal before exploring with a uniform one


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


class ReinforceStrategy(Strategy):
    """A policy of one independent categorical distribution per choice, trained by REINFORCE.

    ``ask`` samples every choice from its distribution (infeasible samples are redrawn, at
    most ``max_retries`` times). Each completed trial immediately updates the policy::

        advantage = (score - baseline) / running_std
        logits[key] += learning_rate * (advantage * grad log p(arch)
                                        + entropy_weight * grad entropy)

    where ``baseline`` is an exponential moving average of the scores (decay
    ``baseline_decay``) and ``running_std`` the moving root-mean-square of
    ``score - baseline`` with the same decay, so the learning rate does not depend on
    the scale of the metric. Failed trials do not update the policy.

    Args:
        space, seed, constraints: as for every strategy.
        learning_rate: step size on the logits, > 0.
        baseline_decay: moving-average decay of the baseline, in ``[0, 1)``.
        entropy_weight: weight of the entropy bonus, >= 0 (keeps exploring).
        dedupe: redraw architectures already proposed; when 100 policy samples in a row were
            all proposed before, a fresh uniformly random architecture is proposed instead.
        max_retries: draws per proposal.

    The defaults were chosen on the NAS-Bench-201 table (``benchmarks/nb201_strategies.py``,
    on seeds other than those it reports).
    """

    def __init__(
        self,
        space: Any,
        *,
        seed: int = 0,
        constraints: Constraints | None = None,
        learning_rate: float = 0.1,
        baseline_decay: float = 0.5,
        entropy_weight: float = 0.0,
        dedupe: bool = True,
        max_retries: int = 1000,
    ):
        super().__init__(space, seed=seed, constraints=constraints, max_retries=max_retries)
        owner = type(self).__name__
        self.learning_rate = check_float(owner, "learning_rate", learning_rate, low=0.0, low_open=True)
        self.baseline_decay = check_float(owner, "baseline_decay", baseline_decay, low=0.0, high=1.0, high_open=True)
        self.entropy_weight = check_float(owner, "entropy_weight", entropy_weight, low=0.0)
        self.dedupe = check_bool(owner, "dedupe", dedupe)
        self.logits = {key: np.zeros(len(values)) for key, values in space.choices.items()}
        self.baseline: float | None = None
        self.spread: float | None = None  # moving mean of (score - baseline)**2
        self.num_updates = 0

    # -- policy --------------------------------------------------------------------------------
    def probabilities(self) -> dict[str, np.ndarray]:
        """The current policy: key -> probabilities of its values (in ``space.choices`` order)."""
        return {key: _softmax(z) for key, z in self.logits.items()}

    def _policy_sampler(self):
        """A function drawing one architecture from the current policy (fixed during one ask)."""
        tables = []
        for key, values in self.space.choices.items():
            cumulative = [float(c) for c in np.cumsum(_softmax(self.logits[key]))]
            tables.append((key, values, cumulative))

        def draw() -> dict[str, Any]:
            arch = {}
            for key, values, cumulative in tables:
                index = bisect.bisect_right(cumulative, self.rng.random())
                arch[key] = values[min(index, len(values) - 1)]
            return arch

        return draw

    def _ask(self) -> Any:
        arch = self._propose(self._policy_sampler(), dedupe=self.dedupe, draws=_POLICY_DRAWS)
        if arch is None or (self.dedupe and self.was_proposed(arch)):
            # the policy has concentrated on architectures already tried: explore uniformly
            arch = self._sample(dedupe=self.dedupe)
        return FINISHED if arch is None else arch

    def _tell(self, arch: dict[str, Any], score: float | None) -> None:
        if score is None:
            return
        if self.baseline is None:
            self.baseline, self.spread = score, 0.0
            return  # the first score only sets the baseline
        deviation = score - self.baseline
        std = math.sqrt(self.spread) if self.spread > 0 else abs(deviation)
        advantage = deviation / std if std > 0 else 0.0
        choices = self.space.choices
        for key, logits in self.logits.items():
            probs = _softmax(logits)
            grad = -probs
            grad[choices[key].index(arch[key])] += 1.0
            step = advantage * grad
            if self.entropy_weight > 0:
                logp = np.log(np.maximum(probs, 1e-12))
                entropy = -float(np.dot(probs, logp))
                step = step + self.entropy_weight * (-probs * (logp + entropy))
            logits += self.learning_rate * step
        decay = self.baseline_decay
        self.spread = decay * self.spread + (1 - decay) * deviation * deviation
        self.baseline = decay * self.baseline + (1 - decay) * score
        self.num_updates += 1

    # -- state ---------------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        return {
            "logits": {key: [float(x) for x in z] for key, z in self.logits.items()},
            "baseline": self.baseline,
            "spread": self.spread,
            "num_updates": self.num_updates,
        }

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        logits = {key: np.asarray(z, dtype=float) for key, z in state["logits"].items()}
        expected = {key: len(values) for key, values in self.space.choices.items()}
        if {key: len(z) for key, z in logits.items()} != expected:
            raise InvalidCheckpoint(
                f"ReinforceStrategy: state dict logits do not match space {self.space.name!r} (choices {expected})"
            )
        self.logits = logits
        self.baseline = state["baseline"]
        self.spread = state["spread"]
        self.num_updates = int(state["num_updates"])
