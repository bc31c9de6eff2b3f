"""Settings sweep of the ask/tell strategies on the NAS-Bench-201 table, without Ray.

Each run drives a strategy's own ask/tell interface (the searcher ``strategies.get`` builds for
the library strategies, ``tpe`` and ``nevergrad``) with ``--concurrency`` trials in flight
(first in, first out, as ``benchmarks/nb201_strategies.py --direct`` completes them): for a
table evaluator this is the exact sequence a Tune search with that many trials in flight
and equal trial durations would see, at a fraction of the cost. Every run goes to the
largest budget; the result at a smaller budget is read from its first trials (a strategy
does not know the budget). Regret is measured as in ``nb201_strategies.py``, on each of the
three data sets (signal ``*_val_12ep``, score ``*_test_200ep``).

Settings are ranked by their mean rank over the columns (data set x budget), each column
ranking the settings by mean regret over seeds. Sweep on seeds other than those the
results file reports (the default start, 100, keeps clear of the reported 0..99).

Usage::

    nice -n 10 python benchmarks/nb201_sweep.py --seeds 20 --seed-start 100 \\
        --settings local:step=first guided guided:acquisition=ucb evolution:population_size=20
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import search_spaces  # noqa: E402
from _records import command_line, machine  # noqa: E402
from raynas.evaluate.table import TableEvaluator, nb201_table_path  # noqa: E402

DATASETS = ("cifar10", "cifar100", "imagenet16")
CLASSES = {
    "random": "strategies.random:RandomStrategy",
    "evolution": "strategies.evolution:EvolutionStrategy",
    "reinforce": "strategies.reinforce:ReinforceStrategy",
    "local": "strategies.local:LocalSearchStrategy",
    "guided": "strategies.guided:GuidedStrategy",
    "bo": "strategies.bayesopt:BayesOptStrategy",
}


class Table:
    """``arch -> (signal, test)`` for one data set, and the table's best test value."""

    def __init__(self, space: Any, dataset: str, path: str | None = None):
        self.evaluator = TableEvaluator(path, signal=f"{dataset}_val_12ep", space=space)
        self.space = space
        self.optimum = self.evaluator.optimum
        self._cache: dict[str, tuple[float, float]] = {}

    def strings_with_signal(self, value: float) -> list[str]:
        """The cells whose signal equals ``value``."""
        column = self.evaluator.signal
        return [text for text in _strings(self.evaluator.path) if self.evaluator.lookup(text)[column] == value]

    def test_of(self, text: str) -> float:
        return self.evaluator.lookup(text)[self.evaluator.test_column]

    def __call__(self, arch: dict[str, Any]) -> tuple[float, float]:
        text = self.space.to_string(arch)
        out = self._cache.get(text)
        if out is None:
            row = self.evaluator.lookup(text)
            out = self._cache[text] = (row[self.evaluator.signal], row[self.evaluator.test_column])
        return out


def _strings(path: Path) -> list[str]:
    """Every cell string of the table (its first column)."""
    import csv
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as handle:
        return [row[0] for i, row in enumerate(csv.reader(handle)) if i > 0]


def simulate(strategy: Any, table: Callable[[dict], tuple[float, float]], budget: int, concurrency: int):
    """Drive ``strategy`` (ask/tell) for ``budget`` proposals, ``concurrency`` in flight, FIFO.

    Returns the ``(signal, test)`` of every proposal, in completion order.
    """
    from strategies import FINISHED

    trace: list[tuple[float, float]] = []
    in_flight: list[dict[str, Any]] = []
    asked = 0

    def complete() -> None:
        arch = in_flight.pop(0)
        signal, test = table(arch)
        trace.append((signal, test))
        strategy.tell(arch, signal)

    while asked < budget:
        if len(in_flight) >= concurrency:
            complete()
            continue
        arch = strategy.ask()
        if arch is FINISHED:
            break
        if arch is None:
            if not in_flight:
                raise RuntimeError(f"{type(strategy).__name__} returned None with nothing in flight")
            complete()
            continue
        in_flight.append(arch)
        asked += 1
    while in_flight:
        complete()
    return trace


def simulate_searcher(searcher: Any, table: Callable[[dict], tuple[float, float]], budget: int, concurrency: int):
    """:func:`simulate` for a ``ray.tune.search.Searcher`` (metric ``accuracy``, mode ``max``),
    under ``ConcurrencyLimiter(concurrency)``: what ``strategies.get`` builds, adapter included."""
    from ray.tune.search import ConcurrencyLimiter

    searcher = ConcurrencyLimiter(searcher, max_concurrent=concurrency)
    trace: list[tuple[float, float]] = []
    in_flight: list[tuple[str, dict]] = []
    asked = 0

    def complete() -> None:
        trial_id, arch = in_flight.pop(0)
        signal, test = table(arch)
        trace.append((signal, test))
        searcher.on_trial_complete(trial_id, {"accuracy": signal})

    while asked < budget:
        if len(in_flight) >= concurrency:
            complete()
            continue
        config = searcher.suggest(f"t{asked}")
        if config == "FINISHED":
            break
        if config is None:
            if not in_flight:
                raise RuntimeError(f"{type(searcher).__name__} returned None with nothing in flight")
            complete()
            continue
        in_flight.append((f"t{asked}", config))
        asked += 1
    while in_flight:
        complete()
    return trace


def result_at(trace: list[tuple[float, float]], budget: int) -> float:
    """Test value of the best-by-signal cell among the first ``budget`` results."""
    return max(trace[:budget], key=lambda st: st[0])[1]


def parse_setting(text: str) -> tuple[str, dict[str, Any]]:
    """``"local:step='best',restart_samples=2"`` -> ``("local", {"step": "best", "restart_samples": 2})``."""
    name, _, rest = text.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value  # a bare word: a string option
    return name, options


def run(name: str, space: Any, seed: int, options: dict[str, Any], table: Any, budget: int, concurrency: int):
    """One run of a setting: a raw ask/tell strategy of :data:`CLASSES`, or any other registered
    strategy through the searcher ``strategies.get`` builds."""
    if name in CLASSES:
        return simulate(make(name, space, seed, options), table, budget, concurrency)
    import strategies

    return simulate_searcher(strategies.get(name, space=space, seed=seed, **options), table, budget, concurrency)


def make(name: str, space: Any, seed: int, options: dict[str, Any]):
    module, attr = CLASSES[name].split(":")
    return getattr(importlib.import_module(module), attr)(space, seed=seed, **options)


_FORKED: Callable[[Any], Any] | None = None  # what fork_map's worker processes call


def _call_forked(item: Any) -> Any:
    return _FORKED(item)


def fork_map(fn: Callable[[Any], Any], items: list[Any], jobs: int) -> list[Any]:
    """``[fn(item) for item in items]`` in ``jobs`` forked processes, in order (forked, so ``fn``
    need not pickle: a closure over tables loaded once in the parent will do)."""
    global _FORKED
    if jobs <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    import multiprocessing

    _FORKED = fn
    try:
        with multiprocessing.get_context("fork").Pool(min(jobs, len(items))) as pool:
            return pool.map(_call_forked, items, chunksize=1)
    finally:
        _FORKED = None


def mean_ranks(table: dict[str, dict[str, float]]) -> dict[str, float]:
    """``setting -> column -> mean regret`` to ``setting -> mean rank over columns`` (ties share)."""
    settings = list(table)
    columns = list(next(iter(table.values())))
    ranks = {s: [] for s in settings}
    for column in columns:
        values = sorted(table[s][column] for s in settings)
        for s in settings:
            v = table[s][column]
            below, equal = sum(x < v for x in values), sum(x == v for x in values)
            ranks[s].append(below + (equal + 1) / 2)
    return {s: statistics.fmean(r) for s, r in ranks.items()}


_TITLE = "NAS-Bench-201 settings sweep (mean regret over seeds; ranked within each group)"


def render(paths: list[str], report: Path, title: str = _TITLE) -> None:
    """A markdown table per group of settings run on the same seeds and concurrency, ranked within it."""
    groups: dict[tuple, dict[str, dict[str, float]]] = {}
    runs: dict[tuple, dict[str, dict[str, Any]]] = {}  # the commands behind a group, where recorded
    notes: dict[tuple, dict[str, None]] = {}  # the notes of a group's records, in order, once each
    for path in paths:
        for line in Path(path).read_text().splitlines():
            record = json.loads(line)
            key = (tuple(record["seeds"]), record["concurrency"], tuple(record["mean_regret"]))
            groups.setdefault(key, {})[record["setting"]] = record["mean_regret"]
            if "command" in record:
                runs.setdefault(key, {}).setdefault(record["command"], record)
            if "note" in record:  # e.g. what a label means that a later change of defaults would blur
                notes.setdefault(key, {})[record["note"]] = None
    rerun = ["--render", *(Path(p).name for p in paths), *(["--title", title] if title != _TITLE else [])]
    lines = [f"# {title}", "",
             f"Rendered {time.strftime('%Y-%m-%d')} by `{command_line('nb201_sweep.py', rerun)}` "
             "from the JSON lines of the sweeps (in this folder).", ""]
    for (seeds, concurrency, columns), table in groups.items():
        ranks = mean_ranks(table)
        lines += [f"## seeds {seeds[0]}..{seeds[1] - 1}, {concurrency} in flight", ""]
        for command, record in runs.get((seeds, concurrency, columns), {}).items():
            lines.append(f"- `{command}` ({record['date']}; {record['machine']}; load average at the end "
                         f"(1/5/15 min): {record['load']})")
        lines += [f"- note: {note}" for note in notes.get((seeds, concurrency, columns), {})]
        if (seeds, concurrency, columns) in runs:
            lines.append("")
        lines += ["| setting | mean rank | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
        for setting in sorted(table, key=lambda k: ranks[k]):
            lines.append(f"| `{setting}` | {ranks[setting]:.2f} | "
                         + " | ".join(f"{table[setting][c]:.3f}" for c in columns) + " |")
        lines.append("")
    report.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", default=[], help="name[:key=value,...] per setting")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--seed-start", type=int, default=100)
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100, 300])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes running seeds at once (the results do not depend on it)")
    parser.add_argument("--table", default=None, help=f"the NAS-Bench-201 CSV (default {nb201_table_path()})")
    parser.add_argument("--out", default=None, help="append one JSON line per setting here")
    parser.add_argument("--render", nargs="+", default=None, metavar="JSONL",
                        help="write --report from these --out files instead of running anything")
    parser.add_argument("--title", default=_TITLE, help="the report's heading (with --render)")
    parser.add_argument("--report", default=None, help="the markdown table (with --render)")
    args = parser.parse_args(argv)
    if args.render:
        if not args.report:
            parser.error("--render needs --report PATH")
        render(args.render, Path(args.report), args.title)
        return 0
    if not args.settings:
        parser.error("--settings is required (or --render)")

    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    space = search_spaces.get("nb201")
    tables = {d: Table(space, d, args.table) for d in args.datasets}
    budgets = sorted(args.budgets)
    seeds = range(args.seed_start, args.seed_start + args.seeds)
    summary: dict[str, dict[str, float]] = {}
    for text in args.settings:
        name, options = parse_setting(text)
        t0 = time.time()
        tasks = [(d, seed) for d in args.datasets for seed in seeds]

        def one(task: tuple[str, int]) -> list[float]:
            table = tables[task[0]]
            trace = run(name, space, task[1], options, table, budgets[-1], args.concurrency)
            return [table.optimum - result_at(trace, b) for b in budgets]

        regrets = {f"{d}@{b}": [] for d in args.datasets for b in budgets}
        for (dataset, _), values in zip(tasks, fork_map(one, tasks, args.jobs)):
            for b, value in zip(budgets, values):
                regrets[f"{dataset}@{b}"].append(value)
        summary[text] = {c: statistics.fmean(r) for c, r in regrets.items()}
        _report_setting(args, argv, text, summary[text], regrets, seeds, t0)
    if len(summary) > 1:
        print("\nmean rank over the columns (lower is better):")
        for text, rank in sorted(mean_ranks(summary).items(), key=lambda kv: kv[1]):
            print(f"  {rank:5.2f}  {text}")
    return 0


def _report_setting(args: argparse.Namespace, argv: list[str] | None, text: str, summary: dict[str, float],
                    regrets: dict[str, list[float]], seeds: range, t0: float) -> None:
    print(f"{text:<60} " + " ".join(f"{c}={v:.3f}" for c, v in summary.items())
          + f" ({time.time() - t0:.0f}s)", flush=True)
    if args.out:
        with open(args.out, "a") as handle:
            handle.write(json.dumps({"setting": text, "seeds": [seeds.start, seeds.stop],
                                     "concurrency": args.concurrency, "mean_regret": summary,
                                     "regrets": regrets,
                                     "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
                                     "load": "%.1f / %.1f / %.1f" % os.getloadavg(),
                                     "command": command_line("nb201_sweep.py", argv)})
                         + "\n")


if __name__ == "__main__":
    sys.exit(main())
