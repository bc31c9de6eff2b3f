"""The strategy contract suite, shipped with the package (as ``optuna.testing`` is), next to
the space suite :mod:`search_spaces.testing`.

Every check takes a registered strategy name and a search space, drives the searcher
that ``strategies.get`` builds directly through the ``ray.tune.search.Searcher`` API
(``suggest`` / ``on_trial_complete`` with made-up trial ids and a deterministic scoring
function; no Ray cluster), and raises :class:`ContractError` (an ``AssertionError``)
when the strategy breaks the contract, or :class:`NotApplicable` when the check does not
apply to that strategy. A test suite runs every check for every pair::

    import pytest, strategies
    from strategies import testing

    @pytest.mark.parametrize("check", testing.CHECKS, ids=lambda c: c.__name__)
    @pytest.mark.parametrize("name", strategies.available())
    def test_contract(check, name):
        try:
            check(name, my_space, constraints=None)
        except testing.NotApplicable as exc:
            pytest.skip(str(exc))

A user's own strategy (``strategies.register("mine", factory)``) is checked the same way.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from typing import Any, Callable, Mapping

import numpy as np

from raynas.testing import ContractError, NotApplicable

__all__ = [
    "CHECKS",
    "ContractError",
    "NotApplicable",
    "check_all",
    "check_bad_results",
    "check_concurrency",
    "check_finishes",
    "check_mode_sign",
    "check_save_restore",
    "check_search_properties",
    "check_seeded_repeat",
    "check_suggest_before_configured",
    "check_valid_and_feasible",
    "drive",
    "make_searcher",
    "required_options",
    "run_searcher",
    "score_function",
]

METRIC = "score"
_FINISHED = "FINISHED"  # ray.tune.search.Searcher.FINISHED


def _fail(name: str, message: str) -> None:
    raise ContractError(f"strategy {name!r}: {message}")


def score_function(space: Any, seed: int = 0) -> Callable[[Mapping[str, Any]], float]:
    """A deterministic score of an architecture: a fixed random linear function of ``space.encode``
    plus a pairwise interaction, so strategies have something to learn."""
    size = len(space.encode(space.smallest()))
    rng = np.random.default_rng(seed)
    linear = rng.normal(size=size)
    pairwise = rng.normal(scale=0.3, size=(size, size))

    def score(arch: Mapping[str, Any]) -> float:
        x = space.encode(arch).astype(float)
        return float(linear @ x + x @ pairwise @ x)

    return score


def make_searcher(
    name: str,
    space: Any,
    *,
    seed: int = 0,
    constraints: Any = None,
    metric: str | None = METRIC,
    mode: str | None = "max",
    options: Mapping[str, Any] | None = None,
):
    """``strategies.get(name, ...)`` with the suite's metric name and :func:`required_options`."""
    import strategies

    options = {**required_options(name, space), **dict(options or {})}
    return strategies.get(name, space=space, seed=seed, constraints=constraints, metric=metric, mode=mode, **options)


_TABLES: dict[str, Any] = {}


def required_options(name: str, space: Any) -> dict[str, Any]:
    """Options a strategy cannot be built without, made up for the suite.

    ``dna`` gets a synthetic block table over ``space.blocks()`` (seeded made-up losses,
    at most 24 candidates per block; :meth:`raynas.block_table.BlockTable.synthetic`),
    cached per space. Every other built-in strategy needs nothing.
    """
    if name != "dna":
        return {}
    from raynas.block_table import BlockTable

    key = json.dumps([space.name, space.kwargs, space.blocks()], sort_keys=True, default=str)
    if key not in _TABLES:
        _TABLES[key] = BlockTable.synthetic(space, seed=0, max_candidates=24)
    return {"block_losses": _TABLES[key]}


def drive(strategy: Any, score: Callable[[Mapping[str, Any]], Any], n: int) -> list[dict[str, Any]]:
    """Ask/tell a bare :class:`strategies.Strategy` ``n`` times, one trial at a time; returns the
    proposals (stops at ``FINISHED``). A sequential driver never has a trial in flight, so a
    ``None`` proposal is an error."""
    from strategies._base import FINISHED

    out = []
    for _ in range(n):
        arch = strategy.ask()
        if arch is FINISHED:
            break
        if arch is None:
            raise ContractError(f"{type(strategy).__name__}.ask returned None with no trial in flight")
        out.append(arch)
        strategy.tell(arch, score(arch))
    return out


def _limited(searcher: Any, max_concurrent: int):
    from ray.tune.search import ConcurrencyLimiter

    return ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)


def run_searcher(
    searcher: Any,
    score: Callable[[Mapping[str, Any]], float],
    num_trials: int,
    *,
    concurrency: int = 1,
    order: str = "fifo",
    start: int = 0,
    seed: int = 0,
    metric: str = METRIC,
    sign: float = 1.0,
    name: str = "?",
) -> tuple[list[dict[str, Any]], bool]:
    """Suggest up to ``num_trials`` architectures, at most ``concurrency`` in flight, completing
    them first-in-first-out (``order="fifo"``) or in a seeded random order (``"random"``) with
    ``{metric: sign * score(arch)}``. Trial ids are ``trial_{start}``, ``trial_{start+1}``, ...

    Returns the suggested architectures in order and whether the searcher returned FINISHED.
    Every in-flight trial is completed before returning.
    """
    rng = random.Random(seed)
    in_flight: list[tuple[str, dict[str, Any]]] = []
    suggested: list[dict[str, Any]] = []
    finished = False
    counter = start

    def complete_one() -> None:
        index = 0 if order == "fifo" else rng.randrange(len(in_flight))
        trial_id, arch = in_flight.pop(index)
        searcher.on_trial_complete(trial_id, {metric: sign * score(arch), "training_iteration": 1})

    while len(suggested) < num_trials and not finished:
        if len(in_flight) >= concurrency:
            complete_one()
            continue
        trial_id = f"trial_{counter}"
        config = searcher.suggest(trial_id)
        if isinstance(config, str) and config == _FINISHED:
            finished = True
        elif config is None:
            if not in_flight:
                _fail(name, f"suggest({trial_id!r}) returned None with no trial running: the search would stall")
            complete_one()
        elif not isinstance(config, dict):
            _fail(name, f"suggest({trial_id!r}) returned {config!r}; expected a dict, None or FINISHED")
        else:
            counter += 1
            suggested.append(dict(config))
            in_flight.append((trial_id, dict(config)))
    while in_flight:
        complete_one()
    return suggested, finished


def _check_archs(name: str, space: Any, constraints: Any, archs: list[dict[str, Any]]) -> None:
    from raynas.errors import InvalidArchitecture

    for arch in archs:
        try:
            valid = space.validate(arch)
        except InvalidArchitecture as exc:
            _fail(name, f"suggested an invalid architecture {arch!r}: {exc}")
        if space.canonical(valid) != arch:
            _fail(name, f"suggested {arch!r}, which is not in canonical form {space.canonical(valid)!r}")
        try:
            json.dumps(arch)
        except TypeError as exc:
            _fail(name, f"suggested an architecture that is not JSON-serialisable: {arch!r} ({exc})")
        if constraints is not None and not constraints.satisfied(space, arch):
            _fail(name, f"suggested an infeasible architecture {arch!r}: {constraints.violations(space, arch)}")


# -- the checks -------------------------------------------------------------------------------
def check_valid_and_feasible(name, space, *, constraints=None, num_trials=24, seed=0, options=None) -> None:
    """Every suggestion is a valid, canonical, JSON-serialisable and feasible architecture."""
    searcher = _limited(make_searcher(name, space, seed=seed, constraints=constraints, options=options), 1)
    archs, _ = run_searcher(searcher, score_function(space), num_trials, name=name)
    if not archs:
        _fail(name, "suggested nothing")
    _check_archs(name, space, constraints, archs)


def check_seeded_repeat(name, space, *, constraints=None, num_trials=24, seed=0, options=None) -> None:
    """Two searchers built with the same seed suggest the same sequence."""
    runs = []
    for _ in range(2):
        searcher = _limited(make_searcher(name, space, seed=seed, constraints=constraints, options=options), 1)
        runs.append(run_searcher(searcher, score_function(space), num_trials, name=name)[0])
    if runs[0] != runs[1]:
        first = next(i for i, (a, b) in enumerate(zip(runs[0] + [None], runs[1] + [None])) if a != b)
        _fail(name, f"same seed, different sequences from suggestion {first}: {runs[0][first:first + 1]} "
                    f"vs {runs[1][first:first + 1]}")


def check_save_restore(name, space, *, constraints=None, num_trials=24, seed=0, options=None) -> None:
    """``save`` then ``restore`` into a freshly built searcher (other seed, no metric/mode)
    continues the same sequence under ``ConcurrencyLimiter(max_concurrent=1)``."""
    score = score_function(space)
    half = max(1, num_trials // 2)
    original = _limited(make_searcher(name, space, seed=seed, constraints=constraints, options=options), 1)
    _, finished = run_searcher(original, score, half, name=name)
    if finished:
        raise NotApplicable(f"{name!r} finished within {half} trials on this space; nothing left to continue")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "searcher.pkl")
        original.save(path)
        expected, _ = run_searcher(original, score, num_trials - half, start=half, name=name)
        bare = make_searcher(name, space, seed=seed + 1, constraints=constraints, metric=None, mode=None, options=options)
        restored = _limited(bare, 1)
        restored.restore(path)
        got, _ = run_searcher(restored, score, num_trials - half, start=half, name=name)
    if got != expected:
        first = next(i for i, (a, b) in enumerate(zip(got + [None], expected + [None])) if a != b)
        _fail(name, f"restored searcher diverged at suggestion {half + first}: {got[first:first + 1]} "
                    f"instead of {expected[first:first + 1]}")
    _check_archs(name, space, constraints, got)


def check_bad_results(name, space, *, constraints=None, num_trials=24, seed=0, options=None) -> None:
    """Errors, NaN, inf, missing or non-numeric metrics, unknown and repeated completions never
    raise, and the search goes on with valid suggestions."""
    searcher = make_searcher(name, space, seed=seed, constraints=constraints, options=options)
    bad = [
        (None, True),
        ({METRIC: float("nan")}, False),
        ({METRIC: float("inf")}, False),
        ({METRIC: float("-inf")}, False),
        ({"other": 1.0}, False),
        (None, False),
        ({METRIC: "high"}, False),
        ({METRIC: 1.0}, True),
    ]
    archs = []
    for i, (result, error) in enumerate(bad):
        config = searcher.suggest(f"bad_{i}")
        if not isinstance(config, dict):
            break
        archs.append(config)
        searcher.on_trial_complete(f"bad_{i}", result, error=error)
    if not archs:
        _fail(name, "suggested nothing")
    searcher.on_trial_complete("bad_0", {METRIC: 1.0})  # completed twice
    searcher.on_trial_complete("never_suggested", {METRIC: 1.0})
    more, _ = run_searcher(_limited(searcher, 1), score_function(space), num_trials, name=name)
    _check_archs(name, space, constraints, archs + more)


def check_search_properties(name, space, *, constraints=None, num_trials=24, seed=0, options=None) -> None:
    """``set_search_properties`` configures a bare searcher once, then returns False."""
    configured = make_searcher(name, space, seed=seed, constraints=constraints, options=options)
    if configured.set_search_properties(METRIC, "max", space.to_tune()) is not False:
        _fail(name, "set_search_properties returned a true value on a searcher whose metric/mode were set")
    bare = make_searcher(name, space, seed=seed, constraints=constraints, metric=None, mode=None, options=options)
    if bare.set_search_properties(METRIC, "max", space.to_tune()) is not True:
        _fail(name, "set_search_properties did not return True on a searcher without metric/mode")
    archs, _ = run_searcher(_limited(bare, 1), score_function(space), 3, name=name)
    _check_archs(name, space, constraints, archs)
    if bare.set_search_properties("other", "min", {}) is not False:
        _fail(name, "set_search_properties returned a true value a second time")


def check_suggest_before_configured(name, space, *, constraints=None, num_trials=24, seed=0, options=None) -> None:
    """``suggest`` before metric and mode are known raises a ValueError that says so."""
    bare = make_searcher(name, space, seed=seed, constraints=constraints, metric=None, mode=None, options=options)
    try:
        bare.suggest("trial_0")
    except ValueError as exc:
        if "metric" not in str(exc):
            _fail(name, f"suggest before metric/mode raised a ValueError that does not mention the metric: {exc}")
        return
    except Exception as exc:  # noqa: BLE001 - the type is the point of the check
        _fail(name, f"suggest before metric/mode raised {type(exc).__name__} ({exc}), expected ValueError")
    _fail(name, "suggest before metric/mode did not raise")


def check_finishes(name, space, *, constraints=None, num_trials=24, seed=0, options=None, limit=5000) -> None:
    """An exhaustive strategy ends with FINISHED, without repeating an architecture, and stays finished."""
    searcher = make_searcher(name, space, seed=seed, constraints=constraints, options=options)
    strategy = getattr(searcher, "strategy", None)
    if not getattr(strategy, "exhaustive", False):
        raise NotApplicable(f"{name!r} is not an exhaustive strategy")
    limited = _limited(searcher, 1)
    archs, finished = run_searcher(limited, score_function(space), limit, name=name)
    if not finished:
        _fail(name, f"an exhaustive strategy did not return FINISHED within {limit} suggestions")
    keys = [space.key(a) for a in archs]
    if len(set(keys)) != len(keys):
        _fail(name, "an exhaustive strategy suggested an architecture twice")
    if limited.suggest("after_finished") != _FINISHED:
        _fail(name, "suggest after FINISHED did not return FINISHED again")
    _check_archs(name, space, constraints, archs)


def check_concurrency(name, space, *, constraints=None, num_trials=24, seed=0, options=None) -> None:
    """Under ``ConcurrencyLimiter(max_concurrent=4)``: four trials in flight, the limiter holds the
    fifth back, completions out of order, and the search continues."""
    score = score_function(space)
    searcher = _limited(make_searcher(name, space, seed=seed, constraints=constraints, options=options), 4)
    live = []
    for i in range(4):
        config = searcher.suggest(f"c_{i}")
        if not isinstance(config, dict):
            break  # a strategy may wait (None) or finish on a small space
        live.append((f"c_{i}", config))
    if not live:
        _fail(name, "suggested nothing under ConcurrencyLimiter(4)")
    if len(live) == 4 and searcher.suggest("c_4") is not None:
        _fail(name, "the limiter let a fifth trial through")
    for trial_id, arch in [live[i] for i in (2, 0, 3, 1) if i < len(live)]:
        searcher.on_trial_complete(trial_id, {METRIC: score(arch)})
    more, _ = run_searcher(searcher, score, num_trials, concurrency=4, order="random", start=100, seed=seed, name=name)
    _check_archs(name, space, constraints, [a for _, a in live] + more)


def check_mode_sign(name, space, *, constraints=None, num_trials=24, seed=0, options=None) -> None:
    """Minimising ``-score`` suggests exactly what maximising ``score`` does."""
    runs = []
    for mode, sign in (("max", 1.0), ("min", -1.0)):
        searcher = _limited(
            make_searcher(name, space, seed=seed, constraints=constraints, mode=mode, options=options), 1
        )
        runs.append(run_searcher(searcher, score_function(space), num_trials, sign=sign, name=name)[0])
    if runs[0] != runs[1]:
        _fail(name, "mode='min' on -score did not repeat mode='max' on score: the metric sign is mishandled")


CHECKS: tuple[Callable[..., None], ...] = (
    check_valid_and_feasible,
    check_seeded_repeat,
    check_save_restore,
    check_bad_results,
    check_search_properties,
    check_suggest_before_configured,
    check_finishes,
    check_concurrency,
    check_mode_sign,
)
"""Every check of the contract, in a stable order."""


def check_all(name: str, space: Any, *, constraints: Any = None, num_trials: int = 24, seed: int = 0,
              options: Mapping[str, Any] | None = None) -> list[str]:
    """Run every check; returns the names of those that did not apply. Raises on the first failure."""
    skipped = []
    for check in CHECKS:
        try:
            check(name, space, constraints=constraints, num_trials=num_trials, seed=seed, options=options)
        except NotApplicable:
            skipped.append(check.__name__)
    return skipped

