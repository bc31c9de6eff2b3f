"""Accuracy predictor quality vs number of training pairs, and a latency-budgeted search verified by measurement.

Part 1 (predictor). (architecture, supernet accuracy) pairs of ``tiny`` come from
``--pairs`` (a file from ``raynas predictor collect``) or are collected here from
``--checkpoint``. The last ``--holdout`` pairs are held out; for each training size N the
predictor (``PredictorConfig()`` defaults: 3 hidden layers of 400, 200 epochs, Adam) is
fitted on N pairs drawn from the rest, for ``--seeds`` draws, and scored on the held-out
pairs: Kendall tau, Spearman rho and RMSE (accuracy points). Baselines on the same
held-out pairs: a constant predictor (the training mean) for RMSE, and FLOPs and
parameter counts as zero-cost rankers for tau.

Part 2 (search). A latency table of ``tiny`` on this CPU (``--table``, or measured here
with ``statistic="p10"``), a predictor fitted on the whole training pool, and for each
budget in ``--budgets-ms`` (default: the 30th and 60th percentiles of the predicted latency
of the held-out subnets): ``raynas.search`` with ``--strategy`` on the
``PredictorEvaluator`` under ``Constraints(max_latency_ms=budget)``, then the top
``--verify-top`` predicted subnets re-evaluated on the supernet (``verify_top``) and timed
whole on this CPU with the table's own protocol (``measure_subnets``).

Usage (Ray starts: prefix with ``flock /tmp/raynas-ray.lock`` on a shared machine)::

    raynas train --space tiny --dataset digits --epochs 4 --workers 2 --out /tmp/sn
    raynas predictor collect --checkpoint /tmp/sn --num-pairs 400 --out /tmp/pairs.json
    python benchmarks/predictor.py --checkpoint /tmp/sn --pairs /tmp/pairs.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _records import command_line, load_average  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402

import raynas  # noqa: E402
from raynas.evaluate.supernet import SupernetEvaluator  # noqa: E402
from raynas.latency import LatencyTable, MeasureConfig, measure_subnets, measure_table  # noqa: E402
from raynas.checkpoint import open_checkpoint  # noqa: E402
from raynas.predictor import (  # noqa: E402
    PredictorConfig,
    evaluate_archs,
    fit_predictor,
    load_pairs,
    sample_archs,
    save_pairs,
    score_predictor,
    verify_top,
)

logger = logging.getLogger("benchmarks.predictor")


def get_pairs(args, space, evaluator) -> tuple[list[dict], str]:
    if args.pairs:
        payload = load_pairs(args.pairs)
        return payload["rows"], f"`{args.pairs}` ({payload.get('meta', {})})"
    archs = sample_archs(space, args.num_pairs, seed=0)
    rows = evaluate_archs(evaluator, archs, concurrency=2)
    path = Path(tempfile.mkdtemp(prefix="raynas-pairs-")) / "pairs.json"
    save_pairs(path, rows, space=space, meta={"checkpoint": args.checkpoint, "sample_seed": 0})
    return rows, f"collected here ({path})"


def part_predictor(args, space, rows) -> tuple[list[dict], dict, list[dict], list[dict]]:
    ok = [r for r in rows if "error" not in r]
    test, pool = ok[-args.holdout :], ok[: -args.holdout]
    test_archs, test_y = [r["arch"] for r in test], np.array([r["accuracy"] for r in test])
    baselines = {
        "constant_rmse": float(np.sqrt(np.mean((test_y - np.mean([r["accuracy"] for r in pool])) ** 2))),
        "flops_tau": float(stats.kendalltau([space.flops(a) for a in test_archs], test_y).statistic),
        "params_tau": float(stats.kendalltau([space.params(a) for a in test_archs], test_y).statistic),
        "test_std": float(np.std(test_y)), "test_min": float(test_y.min()), "test_max": float(test_y.max()),
    }
    results = []
    sizes = [n for n in args.sizes if n <= len(pool)]
    for n in sizes:
        for seed in range(args.seeds):
            order = list(range(len(pool)))
            random.Random(seed).shuffle(order)
            train = [pool[i] for i in order[:n]]
            started = time.monotonic()
            predictor = fit_predictor(space, [r["arch"] for r in train], [r["accuracy"] for r in train],
                                      PredictorConfig(seed=seed))
            fit_s = time.monotonic() - started
            scores = score_predictor(predictor, test_archs, test_y)
            results.append({"n": n, "seed": seed, **scores, "fit_s": fit_s})
            logger.info("N=%d seed=%d: tau %.3f, RMSE %.3f (%.1fs)", n, seed, scores["kendall_tau"], scores["rmse"],
                        fit_s)
    return results, baselines, pool, test


def get_table(args, space) -> tuple[LatencyTable, str]:
    if args.table:
        return LatencyTable.load(args.table, expect_device="current", on_mismatch="error"), f"`{args.table}`"
    config = MeasureConfig(statistic="p10", repeats=20, rounds=3, threads=1, batch_size=1)
    table = measure_table(space, config)
    path = Path(tempfile.mkdtemp(prefix="raynas-table-")) / "tiny-cpu.json"
    table.save(path)
    return table, f"measured here with `MeasureConfig(statistic='p10', repeats=20)` ({path})"


def part_search(args, space, pool, test, table, evaluator, net) -> tuple[list[dict], list[float]]:
    predictor = fit_predictor(space, [r["arch"] for r in pool], [r["accuracy"] for r in pool], PredictorConfig())
    latencies = sorted(space.latency(r["arch"], table) for r in test)
    budgets = args.budgets_ms or [round(float(np.percentile(latencies, q)), 2) for q in (30, 60)]
    measure_config = MeasureConfig.from_table(table)
    out = []
    for budget in budgets:
        constraints = raynas.Constraints(max_latency_ms=budget, latency_table=table)
        started = time.monotonic()
        result = raynas.search(space, raynas.PredictorEvaluator(predictor, latency_table=table),
                               strategy=args.strategy, num_samples=args.search_trials, max_concurrent=4, seed=0,
                               constraints=constraints, out_dir=Path(tempfile.mkdtemp(prefix="raynas-hw-")) / "s")
        search_s = time.monotonic() - started
        rows = verify_top(result.history, evaluator, args.verify_top, space=space)
        measured = measure_subnets(space, [r["arch"] for r in rows], net=net, config=measure_config)
        for row, ms in zip(rows, measured):
            row["measured_latency_ms"] = ms
        # Reference: the best supernet accuracy among the pool's pairs whose predicted latency is within the budget.
        feasible = [r for r in pool + test if space.latency(r["arch"], table) <= budget]
        reference = max((r["accuracy"] for r in feasible), default=float("nan"))
        over = [r for r in rows if r["measured_latency_ms"] > budget]
        logger.info("budget %.2f ms: %d trials in %.0fs, %d/%d verified over budget when measured", budget,
                    len(result.history), search_s, len(over), len(rows))
        out.append({"budget": budget, "rows": rows, "trials": len(result.history), "search_s": search_s,
                    "failed": result.num_failed, "reference": reference, "num_feasible_pairs": len(feasible)})
    return out, budgets


def write(path: Path, args, space, pairs_source, table_source, results, baselines, pool, test, searches, table,
          load) -> None:
    cfg = PredictorConfig()
    lines = [
        "# Accuracy predictor and predictor-driven search (`tiny`, digits)",
        "",
        f"Written by `{command_line('predictor.py')}` on {dt.date.today().isoformat()}.",
        "",
        "- Supernet: " + args.checkpoint_note,
        f"- Pairs: {pairs_source}: {len(pool)} training-pool pairs and {len(test)} held-out pairs, each the "
        "supernet accuracy (inherited weights, BN re-calibrated on 4 training batches of 128, validated on the "
        "597 digits validation images) of a distinct random subnet.",
        f"- Held-out accuracy: mean {np.mean([r['accuracy'] for r in test]):.2f}%, std {baselines['test_std']:.2f}, "
        f"range {baselines['test_min']:.2f} to {baselines['test_max']:.2f}%. One validation image is 0.17 points.",
        f"- Predictor: `PredictorConfig()` defaults: MLP over `space.encode(arch)` "
        f"({len(space.encode(space.smallest()))} one-hot inputs, resolution included), {cfg.num_layers} hidden "
        f"layers of {cfg.hidden_size} ReLU units, Adam lr {cfg.lr:g} (cosine), weight decay {cfg.weight_decay:g}, "
        f"{cfg.epochs} epochs, batch {cfg.batch_size}. Each N is fitted on {args.seeds} different random draws of "
        f"N pairs (seeds 0..{args.seeds - 1}).",
        f"- The machine was loaded (load average {load}): other engineers' jobs shared its 2 cores.",
        "",
        "## Predictor quality vs number of training pairs (held-out subnets)",
        "",
        "| training pairs | Kendall tau | Spearman rho | RMSE (points) | MAE (points) | fit time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for n in sorted({r["n"] for r in results}):
        group = [r for r in results if r["n"] == n]

        def cell(key, fmt="{:.3f}"):
            values = [r[key] for r in group]
            spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
            return fmt.format(statistics.mean(values)) + spread

        lines.append(f"| {n} | {cell('kendall_tau')} | {cell('spearman')} | {cell('rmse')} | {cell('mae')} | "
                     f"{cell('fit_s', '{:.1f}')} |")
    lines += [
        "",
        f"Baselines on the same {len(test)} held-out subnets: a constant predictor (the training mean) has RMSE "
        f"**{baselines['constant_rmse']:.3f}**; ranking by FLOPs gives Kendall tau **{baselines['flops_tau']:.3f}**, "
        f"by parameters **{baselines['params_tau']:.3f}**. (mean ± standard deviation over the draws)",
        "",
    ]
    if table is not None:
        lines += _search_section(args, table_source, table, pool, searches)
    lines += ["## Reading it", "", args.notes or "", ""]
    path.write_text("\n".join(lines))


def _search_section(args, table_source, table, pool, searches) -> list[str]:
    lines = [
        "## Search under a latency budget, verified on the supernet and by measurement",
        "",
        f"- Latency table: {table_source}; {len(table)} entries, overhead {table.overhead_ms:+.3f} ms, timer "
        f"{table.settings.get('timer', 'wall')}, statistic {table.settings.get('statistic')}, "
        f"{table.settings.get('threads')} thread, batch "
        f"{table.settings.get('batch_size')}, on {table.device.get('name')}.",
        f"- Search: `raynas.search(space, PredictorEvaluator(predictor, table), strategy={args.strategy!r}, "
        f"num_samples={args.search_trials}, max_concurrent=4, constraints=Constraints(max_latency_ms=budget, "
        f"latency_table=table))`, predictor fitted on all {len(pool)} pool pairs.",
        f"- Then the top {args.verify_top} predicted subnets: accuracy re-evaluated on the supernet (`verify_top`), "
        "latency measured whole (extracted static subnet, same protocol and statistic as the table).",
        "- Reference: the best supernet accuracy among all collected pairs whose predicted latency is within the "
        "budget (what random sampling of that many subnets found).",
        "",
    ]
    for s in searches:
        measured_ok = sum(r["measured_latency_ms"] <= s["budget"] for r in s["rows"])
        lines += [
            f"### Budget {s['budget']:.2f} ms: {s['trials']} trials ({s['failed']} failed) in {s['search_s']:.0f}s; "
            f"{measured_ok}/{len(s['rows'])} verified subnets within the budget when measured",
            "",
            "| predicted rank | predicted accuracy | supernet accuracy | predicted latency (ms) | measured latency (ms) "
            "| within budget (measured) |",
            "|---|---|---|---|---|---|",
        ]
        for r in s["rows"]:
            lines.append(f"| {r['predicted_rank']} | {r['predicted_accuracy']:.2f} | {r.get('accuracy', float('nan')):.2f} "
                         f"| {r['predicted_latency_ms']:.3f} | {r['measured_latency_ms']:.3f} | "
                         f"{'yes' if r['measured_latency_ms'] <= s['budget'] else '**no**'} |")
        best = max(s["rows"], key=lambda r: r.get("accuracy", float("-inf")))
        lines += ["", f"Best verified: {best.get('accuracy', float('nan')):.2f}% on the supernet at "
                      f"{best['measured_latency_ms']:.3f} ms measured; reference (best of "
                      f"{s['num_feasible_pairs']} collected pairs within the budget): {s['reference']:.2f}%.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--checkpoint-note", default=None, help="how the supernet was trained (for the report)")
    parser.add_argument("--pairs", default=None)
    parser.add_argument("--num-pairs", type=int, default=400, help="pairs to collect when --pairs is not given")
    parser.add_argument("--holdout", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200, 300])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--table", default=None)
    parser.add_argument("--budgets-ms", type=float, nargs="*", default=None)
    parser.add_argument("--strategy", default="evolution")
    parser.add_argument("--search-trials", type=int, default=300)
    parser.add_argument("--verify-top", type=int, default=5)
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--predictor-results", default=None,
                        help="JSON file for part 1's numbers: read when it exists, else written (to run part 1 "
                             "without Ray and part 2 later)")
    parser.add_argument("--notes", default="")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "predictor.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("ray", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    torch.set_num_threads(1)
    load_before = load_average()
    saved = open_checkpoint(args.checkpoint)
    args.checkpoint_note = args.checkpoint_note or f"`{args.checkpoint}` ({saved.meta.get('train_config')})"
    space = saved.space
    evaluator = SupernetEvaluator(args.checkpoint, threads=1)
    rows, pairs_source = get_pairs(args, space, evaluator)
    cache = Path(args.predictor_results) if args.predictor_results else None
    if cache is not None and cache.exists():
        saved = json.loads(cache.read_text())
        results, baselines = saved["results"], saved["baselines"]
        ok = [r for r in rows if "error" not in r]
        pool, test = ok[: -args.holdout], ok[-args.holdout :]
        logger.info("part 1 results read from %s", cache)
    else:
        results, baselines, pool, test = part_predictor(args, space, rows)
        if cache is not None:
            cache.write_text(json.dumps({"results": results, "baselines": baselines}))
    table, table_source, searches = None, "", []
    if not args.skip_search:
        table, table_source = get_table(args, space)
        torch.manual_seed(0)
        net = space.build_supernet()
        searches, _ = part_search(args, space, pool, test, table, evaluator, net)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write(out, args, space, pairs_source, table_source, results, baselines, pool, test, searches, table,
          f"{load_before} at the start, {load_average()} at the end")
    logger.info("wrote %s", out)


if __name__ == "__main__":
    main()
