"""Library strategies through Ray Tune's own searchers: Optuna's TPE and nevergrad.

Both are Ray Tune searchers (``OptunaSearch``, ``NevergradSearch``) over the space
converted once from ``space.to_tune()``, wrapped in
:class:`strategies.searcher.ConstrainedSearcher` so that infeasible proposals are
never evaluated. This module imports Ray, Optuna and nevergrad; ``strategies`` loads
it only when one of these strategies is requested.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from raynas.checks import check_bool, check_int
from raynas.constraints import Constraints
from raynas.errors import ConfigError
from strategies.searcher import ConstrainedSearcher

__all__ = ["tpe", "nevergrad"]


def _make_optuna(distributions: dict, sampler_kwargs: dict, metric: str, mode: str):
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    sampler = optuna.samplers.TPESampler(**sampler_kwargs)
    return OptunaSearch(space=dict(distributions), metric=metric, mode=mode, sampler=sampler)


def tpe(
    *,
    space: Any,
    seed: int = 0,
    constraints: Constraints | None = None,
    n_startup_trials: int = 10,
    n_ei_candidates: int = 24,
    multivariate: bool | None = None,
    constant_liar: bool = True,
    max_retries: int = 100,
    infeasible: str = "penalty",
    repeats: str = "reuse",
) -> ConstrainedSearcher:
    """Optuna's TPE via ``ray.tune.search.optuna.OptunaSearch`` with ``TPESampler(seed=seed)``.

    Args:
        space, seed, constraints: as for every strategy.
        n_startup_trials, n_ei_candidates, multivariate, constant_liar: passed to
            ``optuna.samplers.TPESampler`` (``None`` keeps Optuna's default).
        max_retries: infeasible proposals in a row before giving up.
        infeasible: ``"penalty"`` or ``"fail"``: how TPE hears of an infeasible proposal
            (see :class:`~strategies.searcher.ConstrainedSearcher`).
        repeats: ``"reuse"`` (a proposal of an architecture already handed out is answered
            with its known result, not a trial) or ``"evaluate"`` (see
            :class:`~strategies.searcher.ConstrainedSearcher`).
    """
    from ray.tune.search.optuna import OptunaSearch

    owner = "tpe"
    seed = check_int(owner, "seed", seed, low=0, high=2**32 - 1)
    sampler_kwargs: dict[str, Any] = {
        "seed": seed,
        "n_startup_trials": check_int(owner, "n_startup_trials", n_startup_trials, low=0),
        "n_ei_candidates": check_int(owner, "n_ei_candidates", n_ei_candidates, low=1),
        "constant_liar": check_bool(owner, "constant_liar", constant_liar),
    }
    if multivariate is not None:
        sampler_kwargs["multivariate"] = check_bool(owner, "multivariate", multivariate)
    distributions = OptunaSearch.convert_search_space(space.to_tune())
    make = functools.partial(_make_optuna, distributions, sampler_kwargs)
    return ConstrainedSearcher(
        make, space=space, constraints=constraints, max_retries=max_retries, infeasible=infeasible, repeats=repeats,
        multi_objective=True, name="tpe"
    )


def _make_nevergrad(parametrization: Any, optimizer: str, seed: int, num_workers: int, metric: str, mode: str):
    import nevergrad as ng
    from ray.tune.search.nevergrad import NevergradSearch

    parametrization = parametrization.copy()
    parametrization.random_state = np.random.RandomState(seed)
    opt = ng.optimizers.registry[optimizer](parametrization, budget=None, num_workers=num_workers)
    return NevergradSearch(optimizer=opt, space=None, metric=metric, mode=mode)


def nevergrad(
    *,
    space: Any,
    seed: int = 0,
    constraints: Constraints | None = None,
    optimizer: str = "TwoPointsDE",
    num_workers: int = 1,
    max_retries: int = 100,
    infeasible: str = "penalty",
    repeats: str = "reuse",
) -> ConstrainedSearcher:
    """A nevergrad discrete optimizer via ``ray.tune.search.nevergrad.NevergradSearch``.

    The space becomes an ``ng.p.Dict`` of ``ng.p.Choice`` (``NevergradSearch.convert_search_space``);
    the parametrization's ``random_state`` is seeded with ``seed``.

    Args:
        space, seed, constraints: as for every strategy.
        optimizer: a name from ``nevergrad.optimizers.registry``. The default, ``TwoPointsDE``
            (differential evolution on nevergrad's relaxation of the choices), came first of six
            optimizers on NAS-Bench-201 (three data sets x 50/100/300 trials, 4 in flight;
            ``benchmarks/nb201_sweep.py``, seeds 100-119: ``NGOpt``, ``DiscreteDE``, ``cGA``,
            ``RecombiningPortfolioDiscreteOnePlusOne`` and ``DiscreteOnePlusOne`` ranked below
            it). On the 100 seeds ``benchmarks/results/nb201.md`` reports (0-99) it beats random
            search in all nine columns; on seeds 100-199 it was behind random at 100 trials on
            CIFAR-10 (0.657 against 0.646). ``DiscreteOnePlusOne``, the default before, lost to
            random search in 7 of those 9 columns. It still ranks well below ``local`` (the
            default), ``evolution`` and ``tpe``.
        num_workers: the optimizer's expected number of parallel evaluations.
        max_retries: infeasible proposals in a row before giving up.
        infeasible: ``"penalty"`` or ``"fail"``: how nevergrad hears of an infeasible proposal
            (see :class:`~strategies.searcher.ConstrainedSearcher`).
        repeats: ``"reuse"`` (a proposal of an architecture already handed out is answered
            with its known result, not a trial) or ``"evaluate"`` (see
            :class:`~strategies.searcher.ConstrainedSearcher`).
    """
    import nevergrad as ng
    from ray.tune.search.nevergrad import NevergradSearch

    owner = "nevergrad"
    seed = check_int(owner, "seed", seed, low=0, high=2**32 - 1)
    num_workers = check_int(owner, "num_workers", num_workers, low=1)
    if not isinstance(optimizer, str) or optimizer not in ng.optimizers.registry:
        discrete = sorted(n for n in ng.optimizers.registry if "Discrete" in n)
        raise ConfigError(
            f"nevergrad: optimizer must be a name in nevergrad.optimizers.registry, got {optimizer!r}; "
            f"discrete ones include {', '.join(discrete[:12])}, ..."
        )
    parametrization = NevergradSearch.convert_search_space(space.to_tune())
    make = functools.partial(_make_nevergrad, parametrization, optimizer, seed, num_workers)
    return ConstrainedSearcher(
        make, space=space, constraints=constraints, max_retries=max_retries, infeasible=infeasible, repeats=repeats,
        name="nevergrad"
    )
