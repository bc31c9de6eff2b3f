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

__all__ = ["get", "available", "register", "unregister", "options"]

_REGISTRY = Registry("strategy", {
    "random": "strategies.random:RandomStrategy",
    "evolution": "strategies.evolution:EvolutionStrategy",
    "reinforce": "strategies.reinforce:ReinforceStrategy",
    "grid": "strategies.grid:GridStrategy",
    "dna": "strategies.dna:DNAStrategy",
    "local": "strategies.local:LocalSearchStrategy",
    "guided": "strategies.guided:GuidedStrategy",
    "tpe": "strategies.library:tpe",
    "nevergrad": "strategies.library:nevergrad",
})
_COMMON = ("space", "seed", "constraints")


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
