"""The registry of strategies: ``get(name, *, space, ...)``, ``available()``, ``register(name, factory)``.

A factory is called as ``factory(space=space, seed=seed, constraints=constraints, **options)``
and returns either a :class:`strategies.Strategy` (wrapped in
:class:`strategies.searcher.StrategySearcher`) or a ready ``ray.tune.search.Searcher``.
Ray is imported only when :func:`get` builds a searcher, so ``import strategies`` stays light.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

from raynas.constraints import Constraints
from raynas.errors import ConfigError
from raynas.registry import Registry

__all__ = ["get", "available", "register", "unregister", "options", "fit_budget", "DEFAULT"]

#: The strategy ``raynas search`` uses when none is named, reachable as ``"default"`` too. It
#: was chosen by the mean rank over NAS-Bench-201's three data sets at 50, 100 and 300 trials
#: with 4 in flight (``benchmarks/nb201_sweep.py``; results in ``benchmarks/results/nb201.md``).
DEFAULT = "bo"

_BUILTIN = {
    "random": "strategies.random:RandomStrategy",
    "evolution": "strategies.evolution:EvolutionStrategy",
    "reinforce": "strategies.reinforce:ReinforceStrategy",
    "grid": "strategies.grid:GridStrategy",
    "dna": "strategies.dna:DNAStrategy",
    "local": "strategies.local:LocalSearchStrategy",
    "guided": "strategies.guided:GuidedStrategy",
    "bo": "strategies.bayesopt:BayesOptStrategy",
    "tpe": "strategies.library:tpe",
    "nevergrad": "strategies.library:nevergrad",
}
_REGISTRY = Registry("strategy", {**_BUILTIN, "default": _BUILTIN[DEFAULT]})
_COMMON = ("space", "seed", "constraints")

# Built-in strategies whose option counts evaluations spent before the strategy itself acts
# (evolution: random members until the population is full; tpe: random start-up trials;
# local: the random samples its first climb starts from; bo: the random samples before its
# model proposes), and the smallest value the option takes.
_WARM_UP_OPTIONS = {"evolution": ("population_size", 2), "tpe": ("n_startup_trials", 1),
                    "local": ("initial_samples", 1), "bo": ("initial_samples", 2)}


def register(name: str, factory: Callable[..., Any], *, overwrite: bool = False) -> None:
    """Make ``factory`` reachable as ``strategies.get(name, space=..., ...)``.

    ``factory(space=..., seed=..., constraints=..., **options)`` must return a
    :class:`strategies.Strategy` subclass instance (a ``Strategy`` class itself works) or a
    ``ray.tune.search.Searcher``.
    """
    _REGISTRY.register(name, factory, overwrite=overwrite)


def unregister(name: str) -> None:
    """Remove a strategy added with :func:`register` (built-ins cannot be removed)."""
    _REGISTRY.unregister(name)


def available() -> list[str]:
    """Names accepted by :func:`get`, sorted."""
    return _REGISTRY.available()


def options(name: str) -> dict[str, Any] | None:
    """The strategy's own options and their defaults (``None`` when the factory takes ``**kwargs``)."""
    signature = inspect.signature(_REGISTRY.factory(name))
    out: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if param.name in _COMMON or param.kind in (inspect.Parameter.VAR_POSITIONAL,):
            continue
        out[param.name] = None if param.default is inspect.Parameter.empty else param.default
    return out


def get(
    name: str,
    *,
    space: Any,
    metric: str | Sequence[str] | None = "accuracy",
    mode: str | Sequence[str] | None = "max",
    seed: int = 0,
    constraints: Constraints | None = None,
    **strategy_options: Any,
):
    """Build strategy ``name`` as a ``ray.tune.search.Searcher``.

    Args:
        name: one of :func:`available`.
        space: a ``search_spaces.SearchSpace`` or a registered space name.
        metric, mode: what to optimise; sequences of them for several objectives (strategies
            with ``multi_objective``, and ``tpe``); ``None`` leaves them for Tune to set.
        seed: seeds the strategy's own generator.
        constraints: a :class:`raynas.Constraints`; only feasible architectures are proposed.
        strategy_options: the strategy's own options (see :func:`options`).

    Raises:
        ConfigError: unknown name (lists :func:`available`) or unknown option (lists the valid ones).
        InfeasibleConstraints: no architecture of the space meets ``constraints``.
    """
    factory = _REGISTRY.factory(name)
    if isinstance(space, str):
        import search_spaces

        space = search_spaces.get(space)
    valid = options(name)
    if valid is not None:
        unknown = sorted(set(strategy_options) - set(valid))
        if unknown:
            listed = ", ".join(f"{k}={v!r}" for k, v in valid.items()) or "none"
            raise ConfigError(f"unknown option(s) {unknown} for strategy {name!r}; valid options: {listed}")
    built = factory(space=space, seed=seed, constraints=constraints, **strategy_options)

    from ray.tune.search import Searcher

    from strategies._base import Strategy
    from strategies.searcher import StrategySearcher

    if isinstance(built, Strategy):
        return StrategySearcher(built, metric=metric, mode=mode)
    if isinstance(built, Searcher):
        if metric is not None or mode is not None:
            built.set_search_properties(metric, mode, {})
        return built
    raise TypeError(
        f"factory of strategy {name!r} returned {type(built).__name__}; expected a strategies.Strategy or a "
        "ray.tune.search.Searcher"
    )


def fit_budget(name: str, num_samples: int, strategy_options: dict[str, Any] | None = None
               ) -> tuple[dict[str, Any], str | None]:
    """Options for ``name`` that let it act within ``num_samples`` evaluations, and what was done, in words.

    Evolution fills its population (``population_size``) and TPE its start-up trials
    (``n_startup_trials``) with uniform random samples before they act. When that warm-up
    takes the whole budget, the strategy would behave exactly as random search:

    - with the option at its default, it is adapted to a quarter of the budget, and the note says so;
    - set by the user, it is kept, and the note warns that the strategy will not act.

    Returns ``(options, note)``; ``note`` is ``None`` when nothing needed saying.
    """
    options_out = dict(strategy_options or {})
    builtin = DEFAULT if name == "default" else name  # "default" warms up as the strategy it names
    if builtin not in _WARM_UP_OPTIONS or _REGISTRY.is_user(name):
        return options_out, None
    option, lowest = _WARM_UP_OPTIONS[builtin]
    given = option in options_out
    value = options_out[option] if given else (options(name) or {}).get(option)
    if not isinstance(value, int) or value < num_samples:
        return options_out, None
    if given:
        return options_out, (f"strategy {name!r}: {option}={value} is not below the budget of {num_samples} "
                             f"evaluations, so every evaluation is a uniform random sample and {name} acts as random "
                             f"search; give a {option} below {num_samples} or a larger budget")
    adapted = max(lowest, num_samples // 4)
    if adapted >= num_samples:
        return options_out, (f"strategy {name!r}: a budget of {num_samples} evaluations is too small for it to act "
                             f"({option} is at least {lowest}); it acts as random search")
    options_out[option] = adapted
    return options_out, (f"strategy {name!r}: its default {option}={value} is not below the budget of "
                         f"{num_samples} evaluations, so it would only ever sample at random; using "
                         f"{option}={adapted} (a quarter of the budget) instead")
