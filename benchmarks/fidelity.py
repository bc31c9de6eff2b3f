"""Ranking fidelity of the supernet training methods: `tiny` on `digits`.

For each method (sandwich, progressive, uniform) a supernet is trained by ``raynas.train``
(the Ray Train job) under the same budget (epochs, batch size, learning rate, workers).
The same subnets (the smallest, the largest, and the rest spread evenly over the FLOPs
range of a seeded sample) are then

- evaluated with weights inherited from each supernet, after BN re-calibration
  (``SupernetEvaluator``: 4 training batches of 128, then the validation split), and
- trained alone from scratch (``raynas.train.train_standalone``: the same recipe and
  epochs as the supernet) with every seed, as Ray tasks, one CPU each.

``--backend processes`` runs the very same training loop without Ray (the supernets through
``raynas.train.train_in_process``, one worker, which computes what a one-worker Ray Train
job computes) and everything in a pool of ``--cpus`` processes, so that a long benchmark on
a shared machine does not hold a Ray instance for its whole run.

Reported: Kendall tau (``scipy.stats.kendalltau``, tau-b) between each supernet's ranking
and the stand-alone ranking (mean over seeds), on validation accuracy and on validation
loss; the seed-to-seed ceiling (stand-alone seed vs seed, every pair, on the same subnets, in the
same run); and the accuracy gaps (supernet minus stand-alone mean) of the smallest and the
largest subnet.

Usage::

    python benchmarks/fidelity.py                      # the default size, well under an hour on 2 cores
    python benchmarks/fidelity.py --epochs 30 --standalone-epochs 30 --subnets 30 --seeds 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import search_spaces  # noqa: E402
from _records import command_line  # noqa: E402
from raynas.train import TrainConfig  # noqa: E402

logger = logging.getLogger("fidelity")

METHODS = ("sandwich", "progressive", "uniform")


def select_subnets(space: Any, count: int, seed: int, pool_size: int = 2000) -> list[dict[str, Any]]:
    """The smallest, the largest, and ``count - 2`` distinct subnets at evenly spaced FLOPs
    quantiles of a seeded uniform sample, ordered by FLOPs."""
    if count < 2:
        raise ValueError(f"--subnets must be >= 2 (smallest and largest), got {count}")
    rng = random.Random(seed)
    ends = {space.key(space.smallest()), space.key(space.largest())}
    pool: dict[str, dict[str, Any]] = {}
    for _ in range(pool_size):
        arch = space.sample(rng)
        if space.key(arch) not in ends:
            pool.setdefault(space.key(arch), arch)
    ranked = sorted(pool.values(), key=space.flops)
    middle = count - 2
    if middle > len(ranked):
        raise ValueError(f"--subnets {count}: only {len(ranked)} distinct subnets in the sample")
    picks = [ranked[round((i + 0.5) * len(ranked) / middle - 0.5)] for i in range(middle)]
    return [space.smallest()] + sorted(picks, key=space.flops) + [space.largest()]


def _train_supernet(config: TrainConfig, directory: str) -> tuple[str, list[dict[str, Any]]]:
    """One supernet through the training loop in this process; returns (supernet file, history)."""
    import shutil

    from raynas.train import train_in_process

    if os.path.exists(directory):
        shutil.rmtree(directory)
    history = train_in_process(config, directory)
    last = sorted(Path(directory).glob("checkpoint_*"))[-1]
    return str(last / "supernet.pt"), history


def kendall(a: list[float], b: list[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--epochs", type=int, default=8, help="supernet epochs, the same for every method")
    parser.add_argument("--dataset", default="digits",
                        help="data set (digits: embedded; see raynas.data.available()); the space takes its channels")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[8, 12, 16],
                        help="the tiny space's resolutions (its own default: 12 16 20; digits are 8 px)")
    parser.add_argument("--standalone-epochs", type=int, default=None, help="default: --epochs")
    parser.add_argument("--subnets", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=2, help="stand-alone seeds per subnet (>= 2 for the ceiling)")
    parser.add_argument("--workers", type=int, default=1, help="Ray Train workers per supernet")
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray or the process pool (default: all)")
    parser.add_argument("--backend", choices=["ray", "processes"], default="ray",
                        help="ray: Ray Train jobs and Ray tasks; processes: the same loop in a process pool, no Ray")
    parser.add_argument("--seed", type=int, default=0, help="seeds the data split, the subnet choice and training")
    parser.add_argument("--work-dir", default=None, help="where supernets go (default: a temporary folder)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fidelity.md"))
    parser.add_argument("--report-from", default=None, metavar="JSON",
                        help="print the report section of a previous run's raw numbers and exit")
    args = parser.parse_args(argv)
    if args.report_from:
        print(report(json.loads(Path(args.report_from).read_text()), json_name=Path(args.report_from).name))
        return 0
    if args.seeds < 2:
        parser.error("--seeds must be >= 2: the seed-to-seed ceiling needs two stand-alone runs per subnet")
    if args.backend == "processes" and args.workers != 1:
        parser.error("--backend processes trains each supernet with one worker; drop --workers or use --backend ray")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("ray").setLevel(logging.WARNING)

    from raynas.evaluate.supernet import SupernetEvaluator
    from raynas.train import train_standalone

    started = time.time()
    from raynas.data import load

    space_kwargs = {"resolutions": list(args.resolutions), "in_channels": load(args.dataset).in_channels}
    space = search_spaces.get("tiny", **space_kwargs)
    subnets = select_subnets(space, args.subnets, args.seed)
    common = dict(space="tiny", space_kwargs=space_kwargs, dataset=args.dataset, epochs=args.epochs,
                  batch_size=args.batch_size, lr=args.lr,
                  seed=args.seed, num_workers=args.workers)
    standalone_config = TrainConfig(**{**common, "epochs": args.standalone_epochs or args.epochs, "num_workers": 1})

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="fidelity-"))
    jobs = [(i, s) for s in range(args.seeds) for i in range(len(subnets))]
    configs = {method: TrainConfig(**common, method=method) for method in args.methods}
    if args.backend == "ray":
        import ray

        from raynas._ray import init_ray
        from raynas.train import train

        init_ray(num_cpus=args.cpus)
        remote = ray.remote(num_cpus=1)(train_standalone)
        pending = [remote.remote(standalone_config, subnets[i], seed=1000 + s) for i, s in jobs]
        logger.info("%d stand-alone trainings submitted (%d subnets x %d seeds, %d epochs)", len(pending),
                    len(subnets), args.seeds, standalone_config.epochs)
        checkpoints, histories = {}, {}
        for method, config in configs.items():
            result = train(config, work / method, overwrite=True)
            checkpoints[method], histories[method] = result.checkpoint, result.history
            logger.info("%s trained", method)
        standalone_results = ray.get(pending)
    else:
        import concurrent.futures
        import multiprocessing

        processes = args.cpus or os.cpu_count() or 1
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            supernet_futures = {method: pool.submit(_train_supernet, config, str(work / method))
                                for method, config in configs.items()}
            futures = [pool.submit(train_standalone, standalone_config, subnets[i], seed=1000 + s) for i, s in jobs]
            logger.info("%d supernets and %d stand-alone trainings submitted to %d processes", len(configs),
                        len(futures), processes)
            checkpoints, histories = {}, {}
            for method, future in supernet_futures.items():
                checkpoints[method], histories[method] = future.result()
                logger.info("%s trained", method)
            standalone_results = [f.result() for f in futures]
    standalone = dict(zip(jobs, standalone_results))

    supernet: dict[str, list[dict[str, float]]] = {}
    timings: dict[str, float] = {}
    finals: dict[str, dict[str, Any]] = {}
    for method in args.methods:
        timings[method] = sum(row["epoch_time_s"] for row in histories[method])
        finals[method] = histories[method][-1]
        evaluator = SupernetEvaluator(checkpoints[method], dataset=args.dataset, seed=args.seed, threads=1)
        supernet[method] = [evaluator(arch) for arch in subnets]
        logger.info("%s: %.0f s in training epochs; evaluated %d subnets", method, timings[method], len(subnets))

    per_seed = [[standalone[(i, s)] for s in range(args.seeds)] for i in range(len(subnets))]
    raw = {
        "command": command_line("fidelity.py", argv),
        "date": dt.date.today().isoformat(), "machine": f"{platform.machine()} / {os.cpu_count()} CPUs",
        "args": vars(args), "standalone_epochs": standalone_config.epochs,
        "subnets": subnets, "flops": [space.flops(a) for a in subnets],
        "standalone": [[{k: r[k] for k in ("accuracy", "loss")} for r in runs] for runs in per_seed],
        "supernet": {m: [{k: r[k] for k in ("accuracy", "loss")} for r in rows] for m, rows in supernet.items()},
        "train_s": timings, "final_epoch": finals, "elapsed_s": time.time() - started,
        "standalone_cpu_s": sum(r["train_time_s"] for runs in per_seed for r in runs),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))
    out.write_text(f"# Ranking fidelity of the training methods (`tiny` on `{args.dataset}`)\n\n"
                   + report(raw, json_name=out.with_suffix(".json").name))
    logger.info("wrote %s (%.0f s in all)", out, raw["elapsed_s"])
    summary, ceiling = summarise(raw)
    for method, row in summary.items():
        print(f"{method:12s} tau_acc {row['tau_acc']:+.3f} tau_loss {row['tau_loss']:+.3f} "
              f"gap_smallest {row['gap_smallest']:+.2f} gap_largest {row['gap_largest']:+.2f}")
    print(f"{'ceiling':12s} tau_acc {ceiling['pairs']['acc']:+.3f} tau_loss {ceiling['pairs']['loss']:+.3f}")
    return 0


def summarise(raw: dict[str, Any]) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Per method: tau on accuracy and loss against the stand-alone mean, gaps, train time; and the
    ceilings: seed vs seed (every pair), one seed vs the mean of the others, FLOPs alone."""
    per_seed = raw["standalone"]
    seeds = len(per_seed[0])
    mean = {key: [statistics.fmean(r[key] for r in runs) for runs in per_seed] for key in ("accuracy", "loss")}
    pairs = [(a, b) for a in range(seeds) for b in range(a + 1, seeds)]
    ceiling = {"pairs": {}, "one_vs_rest": {}, "flops": {}}
    for metric, key in (("acc", "accuracy"), ("loss", "loss")):
        column = [[runs[s][key] for runs in per_seed] for s in range(seeds)]
        ceiling["pairs"][metric] = statistics.fmean(kendall(column[a], column[b]) for a, b in pairs)
        ceiling["one_vs_rest"][metric] = statistics.fmean(
            kendall(column[s], [statistics.fmean(runs[t][key] for t in range(seeds) if t != s) for runs in per_seed])
            for s in range(seeds))
        sign = 1 if key == "accuracy" else -1  # more FLOPs: higher accuracy, lower loss
        ceiling["flops"][metric] = kendall([sign * f for f in raw["flops"]], mean[key])
    summary = {}
    for method, rows in raw["supernet"].items():
        acc = [r["accuracy"] for r in rows]
        gaps = [a - m for a, m in zip(acc, mean["accuracy"])]
        summary[method] = {
            "tau_acc": kendall(acc, mean["accuracy"]), "tau_loss": kendall([r["loss"] for r in rows], mean["loss"]),
            "gap_smallest": gaps[0], "gap_largest": gaps[-1], "mean_abs_gap": statistics.fmean(abs(g) for g in gaps),
            "train_s": raw["train_s"][method],
        }
    return summary, ceiling


def report(raw: dict[str, Any], *, json_name: str = "fidelity.json") -> str:
    """The markdown report of one run's raw numbers."""
    args = argparse.Namespace(**raw["args"])
    summary, ceiling = summarise(raw)
    per_seed, subnets = raw["standalone"], raw["subnets"]
    mean_acc = [statistics.fmean(r["accuracy"] for r in runs) for runs in per_seed]
    seeds = len(per_seed[0])
    best = max(summary, key=lambda m: summary[m]["tau_acc"]) if summary else None
    lines = [
        f"Measured {raw['date']} with `{raw['command']}`",
        f"on {raw['machine']} (shared with other work), in {raw['elapsed_s'] / 60:.0f} min.",
        "",
        f"- Supernets: {args.epochs} epochs each, batch {args.batch_size} per worker, {args.workers} worker(s), "
        f"lr {args.lr}, every other setting at its `TrainConfig` default; backend `{args.backend}`.",
        f"- Stand-alone: the same recipe for {raw['standalone_epochs']} epochs, {seeds} seeds per subnet, "
        f"{raw['standalone_cpu_s'] / 60:.0f} CPU-min in all.",
        f"- Space: `tiny` with resolutions {list(args.resolutions)}; data set `{getattr(args, 'dataset', 'digits')}`.",
        f"- {len(subnets)} subnets: the smallest, the largest, and {len(subnets) - 2} spread over the FLOPs "
        "quantiles of a seeded sample.",
        "- Supernet accuracy: inherited weights, BN re-calibrated on 4 training batches of 128; then the "
        "validation split (digits: 597 images, one image = 0.17 points).",
        "- tau: Kendall tau-b against the stand-alone mean over seeds. Reference rows: *seed vs seed* (the "
        "ceiling: stand-alone runs of the same subnets with different seeds, mean over every pair), *one seed vs "
        "the rest*, and *FLOPs* (ranking by FLOPs alone, no training).",
        "",
        "| method | tau (accuracy) | tau (loss) | gap smallest | gap largest | mean abs gap | train time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, row in summary.items():
        lines.append(f"| {method} | {row['tau_acc']:.3f} | {row['tau_loss']:.3f} | {row['gap_smallest']:+.2f} | "
                     f"{row['gap_largest']:+.2f} | {row['mean_abs_gap']:.2f} | {row['train_s']:.0f} |")
    for label, key in (("seed vs seed (ceiling)", "pairs"), ("one seed vs the rest", "one_vs_rest"),
                       ("FLOPs alone", "flops")):
        lines.append(f"| *{label}* | {ceiling[key]['acc']:.3f} | {ceiling[key]['loss']:.3f} | | | | |")
    lines += ["", "Gaps are supernet minus stand-alone accuracy, in points.", ""]
    if best is not None:
        met = summary[best]["tau_acc"] >= 0.7
        lines.append(f"Target tau >= 0.7 for the best method: best is **{best}** at {summary[best]['tau_acc']:.3f} "
                     f"-> **{'met' if met else 'not met'}** (seed-vs-seed ceiling {ceiling['pairs']['acc']:.3f}).")
    if "sandwich" in summary:
        gap = summary["sandwich"]["gap_smallest"]
        lines.append(f"Target sandwich smallest child within 1 point of stand-alone: {gap:+.2f} -> "
                     f"**{'met' if gap >= -1.0 else 'not met'}**.")
    lines += ["", "Per subnet (validation accuracy, %):", "",
              "| # | MFLOPs | " + " | ".join(f"alone s{s}" for s in range(seeds)) + " | alone mean | "
              + " | ".join(raw["supernet"]) + " |",
              "|---" * (3 + seeds + len(raw["supernet"])) + "|"]
    for i, flops in enumerate(raw["flops"]):
        alone = " | ".join(f"{r['accuracy']:.2f}" for r in per_seed[i])
        inherited = " | ".join(f"{rows[i]['accuracy']:.2f}" for rows in raw["supernet"].values())
        lines.append(f"| {i} | {flops / 1e6:.2f} | {alone} | {mean_acc[i]:.2f} | {inherited} |")
    lines += ["", f"Raw numbers: `{json_name}` beside this file (`--report-from` rebuilds this section from it).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
