"""Search strategies: pure ask/tell algorithms, served to Ray Tune as searchers.

Reach a strategy through the registry::

    import strategies
    searcher = strategies.get("evolution", space=space, metric="accuracy", mode="max", seed=0)

``strategies.get("default", ...)`` is :data:`DEFAULT`, the strategy ``raynas search`` uses
when none is named. ``import strategies`` does not import Ray; :func:`get` does.
"""

from strategies._base import FINISHED, Strategy
from strategies._registry import DEFAULT, available, fit_budget, get, options, register, unregister

__all__ = ["Strategy", "FINISHED", "DEFAULT", "available", "get", "options", "register", "unregister", "fit_budget"]
