"""Ray Tune integration: the searcher adapter and the search entry points.

``raynas.tune.trainable(evaluator)`` is the trainable a raynas search runs, for Tune's own
``Tuner.restore(path, trainable=...)``; ``raynas.search`` is the search itself.
"""

from raynas.tune.search import SearchResult, evaluate_trial, trainable

__all__ = ["trainable", "evaluate_trial", "SearchResult"]
