"""Search quality of every strategy on the NAS-Bench-201 table (CIFAR-10).

Each run searches the nb201 space with ``TableEvaluator(signal="cifar10_val_12ep")``: the
strategy sees only the 12-epoch validation accuracy. After N queries (trials), the run's
result is the 200-epoch test accuracy (``cifar10_test_200ep``) of the cell it ranks best
by that signal; regret = the table's best test accuracy (94.37) minus that value.

Paths, all reported separately in the output:

- ``--direct``: every registered strategy driven in-process through the very searcher
  ``strategies.get`` builds, under ``ConcurrencyLimiter(max_concurrent=--concurrency)``
  (default 4, as ``raynas.search``), with trials completed first-in-first-out. No Ray
  cluster; deterministic. ``tpe`` also runs with one trial in flight, where it asks
  Optuna exactly what the direct Optuna loop asks.
- ``--tune``: every registered strategy through ``raynas.search`` (Ray Tune, local Ray,
  ``max_concurrent=4``). Each seed runs once at the largest budget; the result at a
  smaller budget is read from the first N trials of its history (completion order).
- Always: Optuna's TPE (``TPESampler(seed)``) and nevergrad (``--nevergrad-optimizer``)
  used directly, without Tune or raynas, sequentially, one run per budget; and Optuna's
  TPE with ``--concurrency`` trials in flight (``constant_liar=True``), the fair reference
  for ``tpe`` at the same concurrency.

Usage::

    python benchmarks/nb201_strategies.py --direct --tune --seeds 10 --budgets 100 300
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import search_spaces  # noqa: E402
import strategies  # noqa: E402
from raynas.evaluate.table import TableEvaluator, nb201_table_path  # noqa: E402

SIGNAL = "cifar10_val_12ep"
TEST = "cifar10_test_200ep"


# -- one run = the list of (signal, test) of every query, in order ---------------------------------
def _result_at(trace: list[tuple[float, float]], budget: int) -> float:
    """Test accuracy of the best-by-signal cell among the first ``budget`` queries."""
    prefix = trace[:budget]
    return max(prefix, key=lambda st: st[0])[1]  # first of equal signals wins


def run_direct(name: str, space: Any, evaluator: TableEvaluator, budget: int, seed: int, concurrency: int,
               **options: Any):
    from ray.tune.search import ConcurrencyLimiter

    searcher = ConcurrencyLimiter(strategies.get(name, space=space, seed=seed, **options), max_concurrent=concurrency)
    trace: list[tuple[float, float]] = []
    in_flight: list[tuple[str, dict]] = []
    counter = 0
    finished = False

    def complete() -> None:
        trial_id, arch = in_flight.pop(0)
        metrics = evaluator(arch)
        trace.append((metrics["accuracy"], metrics["test_accuracy"]))
        searcher.on_trial_complete(trial_id, metrics)

    while counter < budget and not finished:
        if len(in_flight) >= concurrency:
            complete()
            continue
        config = searcher.suggest(f"t{counter}")
        if config == "FINISHED":
            finished = True
        elif config is None:
            complete()
        else:
            in_flight.append((f"t{counter}", config))
            counter += 1
    while in_flight:
        complete()
    return trace


def run_optuna_direct(space: Any, evaluator: TableEvaluator, budget: int, seed: int, concurrency: int = 1):
    """Optuna's ask/tell loop, no Tune. With ``concurrency`` > 1, that many trials are asked before the
    oldest is told (first in, first out), and the sampler uses ``constant_liar=True``, Optuna's own
    setting for parallel TPE (the setting ``tpe`` uses too)."""
    import optuna

    kwargs = {"constant_liar": True} if concurrency > 1 else {}
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, **kwargs))
    trace = []
    pending: list[tuple[Any, dict]] = []

    def tell_oldest() -> None:
        trial, arch = pending.pop(0)
        metrics = evaluator(arch)
        trace.append((metrics["accuracy"], metrics["test_accuracy"]))
        study.tell(trial, metrics["accuracy"])

    for _ in range(budget):
        if len(pending) >= concurrency:
            tell_oldest()
        trial = study.ask()
        pending.append((trial, {k: trial.suggest_categorical(k, list(v)) for k, v in space.choices.items()}))
    while pending:
        tell_oldest()
    return trace


def run_nevergrad_direct(space: Any, evaluator: TableEvaluator, budget: int, seed: int, optimizer: str):
    import nevergrad as ng
    import numpy as np

    param = ng.p.Dict(**{k: ng.p.Choice(list(v)) for k, v in space.choices.items()})
    param.random_state = np.random.RandomState(seed)
    opt = ng.optimizers.registry[optimizer](parametrization=param, budget=budget, num_workers=1)
    trace = []
    for _ in range(budget):
        cand = opt.ask()
        metrics = evaluator(dict(cand.value))
        trace.append((metrics["accuracy"], metrics["test_accuracy"]))
        opt.tell(cand, -metrics["accuracy"])
    return trace


def run_tune(name: str, space: Any, evaluator: TableEvaluator, budget: int, seed: int, workdir: str):
    import raynas

    result = raynas.search(space, evaluator, strategy=name, num_samples=budget, max_concurrent=4, seed=seed,
                           out_dir=os.path.join(workdir, f"{name}-{seed}"), name=f"{name}-{seed}", progress=False)
    trace = []
    for row in result.history:
        if row.get("status", "ok") == "ok" and row.get("accuracy") is not None:
            trace.append((row["accuracy"], row["test_accuracy"]))
    return trace


# -- reporting ----------------------------------------------------------------------------------------
def _summary(regrets: list[float]) -> str:
    mean = statistics.fmean(regrets)
    std = statistics.stdev(regrets) if len(regrets) > 1 else 0.0
    return f"{mean:.3f} | {std:.3f}"


def _table(rows: dict[str, dict[int, list[float]]], queries: dict[str, dict[int, list[int]]], budgets: list[int]):
    head = "| strategy | " + " | ".join(f"regret@{b} mean | std | queries" for b in budgets) + " |"
    sep = "|---|" + "---|---|---|" * len(budgets)
    lines = [head, sep]
    for name, per_budget in rows.items():
        cells = []
        for b in budgets:
            cells.append(_summary(per_budget[b]) + f" | {statistics.fmean(queries[name][b]):.0f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _checks(rows: dict[str, dict[int, list[float]]], budgets: list[int], prefix: str, reference: dict | None) -> list[str]:
    out = []
    mean = {n: {b: statistics.fmean(r[b]) for b in budgets} for n, r in rows.items()}
    for b, target in ((100, 0.15), (300, 0.02)):
        if b in budgets:
            best = min(mean, key=lambda n: mean[n][b])
            ok = mean[best][b] <= target
            out.append(f"- {prefix}best regret@{b} <= {target}: {'met' if ok else 'NOT met'} "
                       f"({best}: {mean[best][b]:.3f})")
    for name in ("evolution", "reinforce"):
        if name in mean and "random" in mean:
            for b in budgets:
                ok = mean[name][b] < mean["random"][b]
                out.append(f"- {prefix}{name} beats random at {b}: {'met' if ok else 'NOT met'} "
                           f"({mean[name][b]:.3f} vs {mean['random'][b]:.3f})")
    # reference: row label -> (what it is compared with, that one's per-budget regrets in seed order)
    for label, (ref_label, ref_rows) in (reference or {}).items():
        if label not in mean:
            continue
        for b in budgets:
            ref = statistics.fmean(ref_rows[b][:len(rows[label][b])])  # the same seeds
            ok = mean[label][b] <= ref
            out.append(f"- {prefix}{label} no worse than {ref_label} (same seeds) at {b}: "
                       f"{'met' if ok else 'NOT met'} ({mean[label][b]:.3f} vs {ref:.3f})")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--direct", action="store_true", help="run the strategies in-process (no Ray cluster)")
    parser.add_argument("--tune", action="store_true", help="run the strategies through raynas.search")
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 for the direct runs")
    parser.add_argument("--tune-seeds", type=int, default=None, help="seeds for --tune (default: --seeds)")
    parser.add_argument("--strategies", nargs="+", default=None, help="default: strategies.available()")
    parser.add_argument("--concurrency", type=int, default=4, help="trials in flight in --direct mode")
    parser.add_argument("--tpe-extra-seeds", type=int, default=0,
                        help="also compare tpe (direct, --concurrency) with Optuna direct on this many more seeds "
                             "(1000, 1001, ...), for a tighter estimate than the main seeds give")
    parser.add_argument("--nevergrad-optimizer", default="PortfolioDiscreteOnePlusOne")
    parser.add_argument("--table", default=None, help=f"the NAS-Bench-201 CSV (default {nb201_table_path()})")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "nb201.md"))
    args = parser.parse_args(argv)
    if not (args.direct or args.tune):
        args.direct = True

    logging.basicConfig(level=logging.WARNING)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = search_spaces.get("nb201")
    evaluator = TableEvaluator(args.table, signal=SIGNAL, space=space)
    optimum = evaluator.optimum
    names = args.strategies or strategies.available()
    budgets = sorted(args.budgets)
    seeds = list(range(args.seeds))
    started = time.time()
    sections = []

    def collect(label: str, run: Callable[[int, int], list], per_budget: bool, run_seeds=seeds):
        regrets = {b: [] for b in budgets}
        queries = {b: [] for b in budgets}
        t0 = time.time()
        for seed in run_seeds:
            traces = {b: run(b, seed) for b in budgets} if per_budget else dict.fromkeys(budgets, run(budgets[-1], seed))
            for b in budgets:
                trace = traces[b][:b]
                regrets[b].append(optimum - _result_at(trace, b))
                queries[b].append(len(trace))
        print(f"{label:<28} " + "  ".join(f"@{b}: {statistics.fmean(regrets[b]):.3f}" for b in budgets)
              + f"  ({time.time() - t0:.0f}s)", flush=True)
        return regrets, queries

    lib_rows, lib_queries = {}, {}
    lib_rows["optuna TPE (direct)"], lib_queries["optuna TPE (direct)"] = collect(
        "optuna TPE (direct)", lambda b, s: run_optuna_direct(space, evaluator, b, s), True)
    ng_label = f"nevergrad {args.nevergrad_optimizer} (direct)"
    lib_rows[ng_label], lib_queries[ng_label] = collect(
        ng_label, lambda b, s: run_nevergrad_direct(space, evaluator, b, s, args.nevergrad_optimizer), True)
    if args.concurrency != 1:
        par_label = f"optuna TPE (direct, {args.concurrency} in flight)"
        lib_rows[par_label], lib_queries[par_label] = collect(
            par_label, lambda b, s: run_optuna_direct(space, evaluator, b, s, args.concurrency), True)
    else:
        par_label = "optuna TPE (direct)"
    seq_ref = ("Optuna used directly, sequential", lib_rows["optuna TPE (direct)"])
    par_ref = (f"Optuna used directly, {args.concurrency} in flight", lib_rows[par_label])
    sections.append(("Libraries used directly (no Tune; sequential unless the row says how many trials are in "
                     "flight)", _table(lib_rows, lib_queries, budgets), []))

    if args.direct:
        rows, queries = {}, {}
        for name in names:
            rows[name], queries[name] = collect(
                f"{name} (direct)", lambda b, s, n=name: run_direct(n, space, evaluator, b, s, args.concurrency), True)
        if "tpe" in names and args.concurrency != 1:
            # at one trial in flight, tpe asks Optuna exactly what the direct Optuna loop asks
            label = "tpe, ConcurrencyLimiter(1)"
            rows[label], queries[label] = collect(
                label, lambda b, s: run_direct("tpe", space, evaluator, b, s, 1), True)
        sections.append((f"raynas strategies, direct (in-process searchers, ConcurrencyLimiter({args.concurrency}), "
                         "FIFO completion)", _table(rows, queries, budgets),
                         _checks(rows, budgets, "", {"tpe": par_ref, "tpe, ConcurrencyLimiter(1)": seq_ref})))
    if args.tpe_extra_seeds:
        extra = list(range(1000, 1000 + args.tpe_extra_seeds))
        rows, queries = {}, {}
        seq, par = "optuna TPE (direct)", f"optuna TPE (direct, {args.concurrency} in flight)"
        rows[seq], queries[seq] = collect(
            f"{seq} extra", lambda b, s: run_optuna_direct(space, evaluator, b, s), False, extra)
        if args.concurrency != 1:
            rows[par], queries[par] = collect(
                f"{par} extra", lambda b, s: run_optuna_direct(space, evaluator, b, s, args.concurrency), False, extra)
        label = f"tpe, ConcurrencyLimiter({args.concurrency})"
        rows[label], queries[label] = collect(
            "tpe (direct, extra)", lambda b, s: run_direct("tpe", space, evaluator, b, s, args.concurrency), False,
            extra)
        checks = []
        for ref in dict.fromkeys((par if args.concurrency != 1 else seq, seq)):
            for b in budgets:
                ours, theirs = statistics.fmean(rows[label][b]), statistics.fmean(rows[ref][b])
                checks.append(f"- {label} no worse than {ref} at {b}: {'met' if ours <= theirs else 'NOT met'} "
                              f"({ours:.3f} vs {theirs:.3f})")
        sections.append((f"tpe against Optuna used directly, seeds 1000..{extra[-1]} (smaller budgets read from "
                         "the first trials of the largest run)", _table(rows, queries, budgets), checks))
    if args.tune:
        import raynas  # noqa: F401 - fails early if raynas.search is missing

        rows, queries = {}, {}
        tune_seeds = list(range(args.tune_seeds if args.tune_seeds is not None else args.seeds))
        with tempfile.TemporaryDirectory(prefix="raynas-nb201-") as workdir:
            for name in names:
                rows[name], queries[name] = collect(
                    f"{name} (tune)", lambda b, s, n=name: run_tune(n, space, evaluator, b, s, workdir), False,
                    tune_seeds)
        sections.append((f"raynas strategies through raynas.search (Ray Tune, local Ray, max_concurrent=4, seeds "
                         f"0..{len(tune_seeds) - 1}; smaller budgets read from the first trials, in completion "
                         "order, of the largest run)", _table(rows, queries, budgets),
                         _checks(rows, budgets, "", {"tpe": par_ref})))

    elapsed = time.time() - started
    write_report(Path(args.out), sections, args, optimum, elapsed, argv)
    print(f"wrote {args.out} ({elapsed:.0f}s)")
    return 0


def _versions() -> str:
    out = []
    for module in ("ray", "optuna", "nevergrad", "numpy"):
        try:
            out.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            pass
    return ", ".join(out)


def write_report(path: Path, sections, args, optimum: float, elapsed: float, argv) -> None:
    command = "python benchmarks/nb201_strategies.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# NAS-Bench-201 (CIFAR-10): search quality of the strategies",
        "",
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- command: `{command.strip()}`",
        f"- machine: {platform.node()}, {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {_versions()}",
        f"- wall time: {elapsed:.0f} s",
        f"- seeds: {args.seeds} (0..{args.seeds - 1}) unless a section says otherwise; budgets: "
        f"{sorted(args.budgets)} queries. The strategies' default hyper-parameters were chosen on seeds "
        "100..299 of the direct runs, so these seeds were not used to tune them.",
        f"- signal: `{SIGNAL}` (what the strategies maximise); score: `{TEST}` of the cell ranked best by the "
        f"signal; regret = {optimum:.4f} (the table's best) minus that score. Lower is better; 0 is the optimum.",
        "- queries counts trials, repeats included; a strategy that finishes early (grid) uses fewer.",
        "",
    ]
    for title, table, checks in sections:
        lines += [f"## {title}", "", table, ""]
        if checks:
            lines += ["Targets:", "", *checks, ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
