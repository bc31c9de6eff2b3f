"""Search quality of every strategy and of the plain peers on the NAS-Bench-201 table.

Each run searches the nb201 space on one of the table's three data sets (CIFAR-10,
CIFAR-100, ImageNet16-120): the strategy sees only the 12-epoch validation accuracy
(``*_val_12ep``). After N queries (trials), the run's result is the 200-epoch test accuracy
(``*_test_200ep``) of the cell it ranks best by that signal; regret = the data set's best
test accuracy minus that value.

Rows, all reported per data set and budget (mean and std over seeds):

- peers, used directly (no Tune, no raynas strategy, sequential: one trial at a time,
  which gives them every result before each proposal): random search, regularized
  evolution (Real et al. 2019: population 20, tournament 5, one choice mutated), Optuna's
  TPE (``TPESampler(seed)``) and nevergrad (``--nevergrad-optimizer``, told the budget);
- raynas strategies, direct: the very searcher ``strategies.get`` builds, driven
  in-process under ``ConcurrencyLimiter(4)`` with trials completed first in, first out (no
  Ray cluster; for a table evaluator this is the sequence a Tune search with 4 trials in
  flight and equal trial times produces);
- raynas strategies through ``raynas.search`` (Ray Tune, local Ray, ``max_concurrent=4``)
  with ``--tune-seeds`` seeds (``--tune-seeds 1 default=20``: one seed each, 20 for the default).

Every run goes to the largest budget; smaller budgets are read from its first trials (in
completion order), except nevergrad used directly, which is told its budget and runs once
per budget. A rank table ranks the peers and the raynas strategies (direct, same seeds) by
mean regret in every column (data set x budget) and orders them by mean rank.

Usage::

    python benchmarks/nb201_strategies.py --seeds 20 --tune-seeds 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import search_spaces  # noqa: E402
import strategies  # noqa: E402
from _records import command_line  # noqa: E402
from nb201_sweep import DATASETS, Table, fork_map, machine, mean_ranks, result_at, simulate_searcher  # noqa: E402
from raynas.evaluate.table import TableEvaluator, nb201_table_path  # noqa: E402

DEFAULT = "default"
Trace = list[tuple[float, float]]  # (signal, test) of every query, in completion order


# -- peers, used directly -------------------------------------------------------------------------
def run_random(space: Any, table: Table, budget: int, seed: int) -> Trace:
    rng = random.Random(seed)
    return [table(space.sample(rng)) for _ in range(budget)]


def run_regularized_evolution(space: Any, table: Table, budget: int, seed: int, population: int = 20,
                              tournament: int = 5) -> Trace:
    """Real et al. 2019, sequential: the child of the best of ``tournament`` random members, one
    choice changed to another value; the oldest member dies."""
    rng = random.Random(seed)
    members: deque[tuple[dict, float]] = deque()
    trace = []
    keys = list(space.choices)
    for i in range(budget):
        if i < population:
            arch = space.sample(rng)
        else:
            parent = max(rng.sample(list(members), tournament), key=lambda m: m[1])[0]
            key = rng.choice(keys)
            arch = dict(parent, **{key: rng.choice([v for v in space.choices[key] if v != parent[key]])})
        signal, test = table(arch)
        trace.append((signal, test))
        members.append((arch, signal))
        if len(members) > population:
            members.popleft()
    return trace


def run_optuna(space: Any, table: Table, budget: int, seed: int) -> Trace:
    import optuna

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    trace = []
    for _ in range(budget):
        trial = study.ask()
        arch = {k: trial.suggest_categorical(k, list(v)) for k, v in space.choices.items()}
        signal, test = table(arch)
        trace.append((signal, test))
        study.tell(trial, signal)
    return trace


def run_nevergrad(space: Any, table: Table, budget: int, seed: int, optimizer: str) -> Trace:
    import nevergrad as ng
    import numpy as np

    param = ng.p.Dict(**{k: ng.p.Choice(list(v)) for k, v in space.choices.items()})
    param.random_state = np.random.RandomState(seed)
    opt = ng.optimizers.registry[optimizer](parametrization=param, budget=budget, num_workers=1)
    trace = []
    for _ in range(budget):
        cand = opt.ask()
        signal, test = table(dict(cand.value))
        trace.append((signal, test))
        opt.tell(cand, -signal)
    return trace


# -- raynas strategies --------------------------------------------------------------------------
def run_direct(name: str, space: Any, table: Table, budget: int, seed: int, concurrency: int = 4) -> Trace:
    """The searcher ``strategies.get`` builds, under ``ConcurrencyLimiter``, FIFO completion."""
    return simulate_searcher(strategies.get(name, space=space, seed=seed), table, budget, concurrency)


def run_tune(name: str, space: Any, evaluator: TableEvaluator, budget: int, seed: int, workdir: str) -> Trace:
    import raynas

    result = raynas.search(space, evaluator, strategy=name, num_samples=budget, max_concurrent=4, seed=seed,
                           out_dir=os.path.join(workdir, f"{name}-{evaluator.signal}-{seed}-{budget}"),
                           name=f"{name}-{seed}", progress=False)
    return [(row["accuracy"], row["test_accuracy"]) for row in result.history
            if row.get("status", "ok") == "ok" and row.get("accuracy") is not None]


# -- collecting and reporting -------------------------------------------------------------------
Rows = dict[str, dict[str, list[float]]]  # row label -> "dataset@budget" -> regrets over seeds


class Cache:
    """Rows measured before (``--cache``), reused when their seeds, data sets and budgets match, so
    one row can be re-measured (``--rerun``) without the others; a row measured on seeds ``0..M-1``
    is extended, not re-measured, when ``0..N-1`` (N > M) are asked for."""

    def __init__(self, path: Path | None, rerun: list[str]):
        self.path, self.rerun, self.reused = path, set(rerun), []
        self.data = json.loads(path.read_text()) if path is not None and path.exists() else {}

    def get(self, label: str, key: str) -> dict[str, list[float]] | None:
        entry = self.data.get(label)
        if label in self.rerun or entry is None or entry["key"] != key:
            return None
        return entry["rows"]

    def prefix(self, label: str, key: str) -> tuple[list[int], dict[str, Any]] | None:
        """The seeds and the entry of ``label`` when it is a shorter run of ``key`` (same data sets
        and budgets, its seeds a prefix of the seeds asked for)."""
        entry = self.data.get(label)
        if label in self.rerun or entry is None:
            return None
        datasets, budgets, seeds = json.loads(key)
        had_datasets, had_budgets, had_seeds = json.loads(entry["key"])
        if [had_datasets, had_budgets] != [datasets, budgets] or not had_seeds \
                or len(had_seeds) >= len(seeds) or seeds[: len(had_seeds)] != had_seeds:
            return None
        return had_seeds, entry

    def put(self, label: str, key: str, rows: dict[str, list[float]], seconds: float, extends: str = "") -> None:
        if self.path is None:
            return
        date = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        self.data[label] = {"key": key, "rows": rows, "seconds": round(seconds), "date": date}
        if extends:
            self.data[label]["extends"] = extends
        self.path.write_text(json.dumps(self.data, indent=1))


CACHE = Cache(None, [])
JOBS = 1
Task = tuple[str, int, list[int], bool]  # data set, seed, budgets, one run per budget


def _measure(run: Callable[[str, int, int], Trace], task: Task) -> list[Trace]:
    dataset, seed, budgets, per_budget = task
    if per_budget:
        return [run(dataset, b, seed) for b in budgets]
    return [run(dataset, budgets[-1], seed)] * len(budgets)


def _measure_all(run: Callable[[str, int, int], Trace], tasks: list[Task], jobs: int) -> list[list[Trace]]:
    """Every (data set, seed) run of one row, in ``jobs`` forked processes; each run is seeded, so
    the rows do not depend on ``jobs``."""
    return fork_map(lambda task: _measure(run, task), tasks, jobs)


def collect(rows: Rows, label: str, tables: dict[str, Table], budgets: list[int], seeds: list[int],
            run: Callable[[str, int, int], Trace], per_budget: bool = False, measure: bool = True,
            jobs: int | None = None) -> None:
    t0 = time.time()
    key = json.dumps([list(tables), budgets, seeds])
    cached = CACHE.get(label, key)
    if cached is not None:
        rows[label] = cached
        CACHE.reused.append(f"{label} ({CACHE.data[label]['date']}, {CACHE.data[label]['seconds']} s)")
        print(f"{label:<34} reused from {CACHE.path} (measured {CACHE.data[label]['date']})", flush=True)
        return
    if not measure:
        return
    out = rows.setdefault(label, {})
    extends, seconds_before = "", 0.0
    earlier = CACHE.prefix(label, key)
    if earlier is not None:  # measure only the seeds after the cached ones
        had_seeds, entry = earlier
        extends = f"seeds {had_seeds[0]}..{had_seeds[-1]} measured {entry['date']} ({entry['seconds']} s)"
        seconds_before = float(entry["seconds"])
        out.update({column: list(regrets) for column, regrets in entry["rows"].items()})
        print(f"{label:<34} extends {extends}", flush=True)
        CACHE.reused.append(f"{label} ({extends}; seeds {seeds[len(had_seeds)]}..{seeds[-1]} measured now)")
        seeds = seeds[len(had_seeds):]
    tasks = [(dataset, seed, budgets, per_budget) for dataset in tables for seed in seeds]
    for (dataset, seed, _, _), traces in zip(tasks, _measure_all(run, tasks, JOBS if jobs is None else jobs)):
        table = tables[dataset]
        for b, trace in zip(budgets, traces):
            if len(trace) < min(b, 2):
                raise RuntimeError(f"{label}: {len(trace)} results at budget {b} ({dataset}, seed {seed})")
            out.setdefault(f"{dataset}@{b}", []).append(table.optimum - result_at(trace, b))
    CACHE.put(label, key, out, seconds_before + time.time() - t0, extends)
    means = " ".join(f"{c}={statistics.fmean(r):.3f}" for c, r in out.items())
    print(f"{label:<34} {means} ({time.time() - t0:.0f}s)", flush=True)


def _cell(regrets: list[float]) -> str:
    std = statistics.stdev(regrets) if len(regrets) > 1 else 0.0
    return f"{statistics.fmean(regrets):.3f} ± {std:.3f}"


def regret_table(rows: Rows, dataset: str, budgets: list[int]) -> str:
    lines = ["| strategy | " + " | ".join(f"regret@{b}" for b in budgets) + " |",
             "|---|" + "---|" * len(budgets)]
    for label, columns in rows.items():
        lines.append(f"| {label} | " + " | ".join(_cell(columns[f'{dataset}@{b}']) for b in budgets) + " |")
    return "\n".join(lines)


def rank_table(rows: Rows, columns: list[str]) -> str:
    if not rows:
        return "(no rows)"
    means = {label: {c: statistics.fmean(rows[label][c]) for c in columns} for label in rows}
    ranks = {label: {} for label in rows}
    for c in columns:
        single = mean_ranks({label: {c: means[label][c]} for label in rows})
        for label in rows:
            ranks[label][c] = single[label]
    overall = mean_ranks(means)
    lines = ["| strategy | mean rank | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for label in sorted(rows, key=lambda k: overall[k]):
        lines.append(f"| {label} | {overall[label]:.2f} | " + " | ".join(f"{ranks[label][c]:g}" for c in columns)
                     + " |")
    return "\n".join(lines)


def targets(rows: Rows, peers: list[str], label: str, columns: list[str]) -> list[str]:
    if label not in rows or not peers:
        return []
    mean = {k: {c: statistics.fmean(rows[k][c]) for c in columns} for k in [*peers, label]}
    out = []
    if "cifar10@100" in columns:
        value = mean[label]["cifar10@100"]
        out.append(f"- {label}: regret@100 on cifar10 <= 0.05: {'met' if value <= 0.05 else 'NOT met'} ({value:.3f})")
    for c in columns:
        best_peer = min(peers, key=lambda p: mean[p][c])
        ok = mean[label][c] < mean[best_peer][c]
        out.append(f"- {label} better than every peer at {c}: {'met' if ok else 'NOT met'} "
                   f"({mean[label][c]:.3f} vs {best_peer} {mean[best_peer][c]:.3f}"
                   f"{_p_lower(rows[label][c], rows[best_peer][c])})")
    return out


def against_strategies(rows: Rows, label: str, others: list[str], columns: list[str]) -> list[str]:
    """Whether ``label`` has the lowest mean regret among the raynas strategies in each column,
    and, where another is lower, how sure that is (one-sided Mann-Whitney for "theirs is lower")."""
    others = [o for o in others if o in rows and o != label]
    if label not in rows or not others:
        return []
    mean = {k: {c: statistics.fmean(rows[k][c]) for c in columns} for k in [*others, label]}
    out = []
    for c in columns:
        best = min(others, key=lambda o: mean[o][c])
        if mean[label][c] <= mean[best][c]:
            out.append(f"- {label} lowest of the raynas strategies at {c}: met ({mean[label][c]:.3f}; next "
                       f"{best} {mean[best][c]:.3f})")
        else:
            p = _p_lower(rows[best][c], rows[label][c], claim="that it is lower, ")
            out.append(f"- {label} lowest of the raynas strategies at {c}: NOT met ({best} {mean[best][c]:.3f} "
                       f"vs {mean[label][c]:.3f}{p})")
    return out


def _p_lower(ours: list[float], theirs: list[float], claim: str = "") -> str:
    """One-sided Mann-Whitney U p-value for "ours has lower regret than theirs" (runs of different
    strategies share a seed number, not a random stream, so the samples are unpaired); ``claim``
    prefixes the test's name in the text."""
    if len(ours) < 5 or len(theirs) < 5:
        return ""
    from scipy.stats import mannwhitneyu

    return f"; {claim}one-sided Mann-Whitney p = {mannwhitneyu(ours, theirs, alternative='less').pvalue:.2g}"


def beats_random(rows: Rows, names: list[str], columns: list[str], reference: str) -> list[str]:
    out = []
    for name in names:
        if name not in rows or reference not in rows:
            continue
        lost = [c for c in columns if statistics.fmean(rows[name][c]) >= statistics.fmean(rows[reference][c])]
        out.append(f"- {name} beats {reference} on every column: " + ("met" if not lost else
                   f"NOT met (not at {', '.join(lost)})"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--budgets", type=int, nargs="+", default=[50, 100, 300])
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 for the peers and the direct runs")
    parser.add_argument("--tune-seeds", nargs="+", default=["0"], metavar="M|NAME=M",
                        help="seeds 0..M-1 through raynas.search for every --tune-strategies entry (0: none); "
                        "NAME=M sets one strategy's count")
    parser.add_argument("--strategies", nargs="+", default=None, help="default: strategies.available()")
    parser.add_argument("--tune-strategies", nargs="+", default=None, help="default: --strategies")
    parser.add_argument("--tune-datasets", nargs="+", default=None, choices=DATASETS, help="default: --datasets")
    parser.add_argument("--nevergrad-optimizer", default="PortfolioDiscreteOnePlusOne")
    parser.add_argument("--table", default=None, help=f"the NAS-Bench-201 table (default {nb201_table_path()})")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "nb201.md"))
    parser.add_argument("--cache", default=str(REPO / "benchmarks" / "results" / "nb201.json"),
                        help="rows measured before, reused when seeds, data sets and budgets match, extended when "
                        "they hold the first of the seeds asked for ('' for none)")
    parser.add_argument("--no-direct", action="store_true",
                        help="measure only the --tune-seeds runs; peers and direct rows come from the cache or "
                        "are left out")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: write the report from the cached rows (rows not cached are left out)")
    parser.add_argument("--rerun", nargs="*", default=[], metavar="LABEL", help="re-measure these rows")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes for the direct runs (peers and raynas strategies); the rows do not "
                        "depend on it")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    global CACHE, JOBS
    CACHE = Cache(Path(args.cache) if args.cache else None, args.rerun)
    JOBS = args.jobs
    args.tune_counts = _tune_counts(parser, args.tune_seeds)

    logging.basicConfig(level=logging.WARNING)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = search_spaces.get("nb201")
    tables = {d: Table(space, d, args.table) for d in args.datasets}
    budgets = sorted(args.budgets)
    columns = [f"{d}@{b}" for d in args.datasets for b in budgets]
    # dna needs block tables; strategies.DEFAULT runs as its alias "default" (one row, not two)
    names = args.strategies or [n for n in strategies.available() if n not in ("dna", strategies.DEFAULT)]
    seeds = list(range(args.seeds))
    tune_names = args.tune_strategies or names
    unknown = sorted(set(args.tune_counts) - {"*", *tune_names})
    if unknown:
        parser.error(f"--tune-seeds names {unknown}, which are not among the Tune strategies {tune_names}")
    args.tune_counts = {name: args.tune_counts.get(name, args.tune_counts["*"]) for name in tune_names}
    started = time.time()

    rows: Rows = {}
    peers = ["random (direct)", "regularized evolution P=20 T=5 (direct)", "optuna TPE (direct)",
             f"nevergrad {args.nevergrad_optimizer} (direct)"]
    measure = not (args.no_direct or args.report_only)
    collect(rows, peers[0], tables, budgets, seeds, lambda d, b, s: run_random(space, tables[d], b, s),
            measure=measure)
    collect(rows, peers[1], tables, budgets, seeds, lambda d, b, s: run_regularized_evolution(space, tables[d], b, s),
            measure=measure)
    collect(rows, peers[2], tables, budgets, seeds, lambda d, b, s: run_optuna(space, tables[d], b, s),
            measure=measure)
    collect(rows, peers[3], tables, budgets, seeds,
            lambda d, b, s: run_nevergrad(space, tables[d], b, s, args.nevergrad_optimizer), per_budget=True,
            measure=measure)
    for name in names:
        collect(rows, name, tables, budgets, seeds, lambda d, b, s, n=name: run_direct(n, space, tables[d], b, s),
                measure=measure)
    peers = [p for p in peers if p in rows]

    tune_rows: Rows = {}
    if any(args.tune_counts.values()):
        with tempfile.TemporaryDirectory(prefix="raynas-nb201-") as workdir:
            for name in tune_names:
                tune_seeds = list(range(args.tune_counts[name]))
                for dataset in (args.tune_datasets or args.datasets) if tune_seeds else []:  # a cached row each
                    part: Rows = {}
                    collect(part, f"{name} (tune, {dataset})", {dataset: tables[dataset]}, budgets, tune_seeds,
                            lambda d, b, s, n=name: run_tune(n, space, tables[d].evaluator, b, s, workdir),
                            measure=not args.report_only, jobs=1)  # one Ray at a time
                    if part:
                        tune_rows.setdefault(f"{name} (tune)", {}).update(*part.values())

    elapsed = time.time() - started
    write_report(Path(args.out), args, rows, tune_rows, peers, tables, budgets, columns, elapsed, argv)
    print(f"wrote {args.out} ({elapsed:.0f}s)")
    return 0


def _tune_counts(parser: argparse.ArgumentParser, entries: list[str]) -> dict[str, int]:
    """``["1", "default=20"]`` -> ``{"*": 1, "default": 20}`` (``"*"``: every other strategy)."""
    counts = {"*": 0}
    for entry in entries:
        name, _, value = entry.rpartition("=")
        try:
            count = int(value)
        except ValueError:
            count = -1
        if count < 0:
            parser.error(f"--tune-seeds takes M or NAME=M with M >= 0, got {entry!r}")
        counts[name or "*"] = count
    return counts


def _versions() -> str:
    out = []
    for module in ("ray", "optuna", "nevergrad", "numpy", "sklearn"):
        try:
            out.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            pass
    return ", ".join(out)


def _describe_counts(counts: dict[str, int]) -> str:
    if not any(counts.values()):
        return "none"
    by_count: dict[int, list[str]] = {}
    for name, count in counts.items():
        by_count.setdefault(count, []).append(name)
    return "; ".join(f"M = {count} for {', '.join(names)}" for count, names in sorted(by_count.items()))


def _ceiling(table: Table) -> str:
    """Regret of the cells with the best signal in the whole table (what a perfect optimiser of the
    signal scores; a range when several cells tie on the signal)."""
    evaluator = table.evaluator
    top = evaluator.best(evaluator.signal)
    regrets = sorted(table.optimum - table.test_of(text) for text in table.strings_with_signal(top))
    return f"{regrets[0]:.3f}" if regrets[0] == regrets[-1] else \
        f"{regrets[0]:.3f} to {regrets[-1]:.3f} ({len(regrets)} cells tie)"


_REPORT_ONLY = " (--report-only: every row comes from the cache; 'rows reused' lists when each was measured)"


def write_report(path: Path, args, rows: Rows, tune_rows: Rows, peers: list[str], tables: dict[str, Table],
                 budgets: list[int], columns: list[str], elapsed: float, argv) -> None:
    command = command_line("nb201_strategies.py", argv)
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# NAS-Bench-201: search quality of the strategies and of the plain peers",
        "",
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- command: `{command.strip()}`",
        f"- machine: {machine()}; {_versions()}; load average at the end (1/5/15 min): {load}",
        f"- wall time: {elapsed:.0f} s" + (_REPORT_ONLY if args.report_only else ""),
        f"- seeds: {args.seeds} (0..{args.seeds - 1}) for the peers and the direct runs; through raynas.search, "
        f"{_describe_counts(args.tune_counts)}, for the strategies and data sets whose Tune tables appear below "
        "(seeds 0..M-1). The strategies' settings (and the default) were chosen with "
        "`benchmarks/nb201_sweep.py` on seeds 100 and up, never on these: `nb201-sweep.md`. With "
        f"{args.seeds} seeds a column's mean has a standard error of its std / {math.sqrt(args.seeds):.1f}; "
        "`nb201-heldout.md` compares `local` (the default before `bo`) with evolution and the plain hill climber "
        "on seeds 0..99 with the sweep driver.",
        "- signal: `*_val_12ep` (what the strategies maximise); score: `*_test_200ep` of the cell ranked best by "
        "the signal; regret = the data set's best `*_test_200ep` minus that score. Lower is better.",
        "- the ceiling of a perfect optimiser of the signal (regret of the table's best-signal cell): "
        + ", ".join(f"{d} {_ceiling(t)}" for d, t in tables.items())
        + ". Where it is above 0, a search that stops short of that cell can score better than one that finds it.",
        f"- `{DEFAULT}` is what `raynas search` uses without `--strategy`: `strategies.DEFAULT` = "
        f"`{strategies.DEFAULT}` with its default options (its row stands for both names).",
        "- rows reused from the cache of an earlier run of this script (same seeds, data sets, budgets; the "
        "date each was measured): " + ("; ".join(CACHE.reused) or "none"),
        "",
        "## Rank over every column (peers and raynas strategies direct, same seeds)",
        "",
        "Each column ranks the rows by mean regret (1 = best; ties share); rows are ordered by the mean rank.",
        "",
        rank_table(rows, columns),
        "",
        "Targets:",
        "",
        *targets(rows, peers, DEFAULT, columns),
        *against_strategies(rows, DEFAULT, [k for k in rows if k not in peers], columns),
        *beats_random(rows, ["reinforce", "nevergrad"], columns, "random"),
        *(beats_random(rows, ["reinforce", "nevergrad"], columns, peers[0]) if peers else []),
        "",
    ]
    for dataset in tables:
        lines += [f"## {dataset}: regret, mean ± std over seeds", "", regret_table(rows, dataset, budgets), ""]
        tuned = {k: v for k, v in tune_rows.items() if f"{dataset}@{budgets[0]}" in v}
        if tuned:
            shown = {f"{k[:-1]}, seeds 0..{len(v[f'{dataset}@{budgets[0]}']) - 1})": v for k, v in tuned.items()}
            few = " Rows of fewer than 5 seeds check that the Tune path runs and lands where the direct path " \
                "does; they are not a statistic." if any(len(v[f"{dataset}@{budgets[0]}"]) < 5
                                                          for v in tuned.values()) else ""
            lines += [f"Through raynas.search (Ray Tune, max_concurrent=4, seeds 0..M-1).{few}", "",
                      regret_table(shown, dataset, budgets), ""]
    if f"{DEFAULT} (tune)" in tune_rows:
        tuned_columns = [c for c in columns if c in tune_rows[f"{DEFAULT} (tune)"]]
        count = len(tune_rows[f"{DEFAULT} (tune)"][tuned_columns[0]])
        same_seeds = {p: {c: rows[p][c][:count] for c in tuned_columns} for p in peers}
        lines += ["## Targets through raynas.search", "",
                  *targets({**tune_rows, **same_seeds}, peers, f"{DEFAULT} (tune)", tuned_columns),
                  "", f"(the peers, used directly, on the same seeds as the Tune runs: 0..{count - 1})", ""]
        # the other strategies measured through Tune on at least as many seeds, cut to the same seeds
        # (rows of fewer are left out: 5 seeds check the Tune path, they are not a statistic)
        matched = {k: {c: v[c][:count] for c in tuned_columns} for k, v in tune_rows.items()
                   if k != f"{DEFAULT} (tune)" and all(len(v.get(c, [])) >= count for c in tuned_columns)}
        if matched:
            lines += [*against_strategies({**tune_rows, **matched}, f"{DEFAULT} (tune)", list(matched),
                                          tuned_columns), "",
                      f"(against the raynas strategies measured through Tune on the same seeds, 0..{count - 1}: "
                      f"{', '.join(k.removesuffix(' (tune)') for k in matched)})", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
