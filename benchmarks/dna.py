"""DNA: block-wise training wall time (1 vs 2 workers), traversal time, and DNA's ranking vs evolution.

1. Teacher: a ``tiny`` supernet trained on ``digits`` with the sandwich rule
   (``--teacher-epochs``, 2 Ray Train workers), or ``--teacher CHECKPOINT``. DNA's teacher
   is its largest subnet.
2. Block-wise training (``TrainConfig(method="dna")``), the same run with ``--workers 1``
   and with ``--workers 2`` (each block a Ray task; ``--dna-epochs`` epochs, then every
   candidate of every block scored, ``--dna-candidates`` per block at most): wall time of
   ``raynas.train.train``, teacher features and block scoring included. The 2-worker run's
   table (tiny: 2,457 + 819 + 819 = 4,095 candidates when enumerated) is used below.
3. Traversal time (``DNAStrategy.ranked()``, one process): on tiny with the trained table,
   and on ``ofa-mbv3`` with a synthetic table (made-up losses; ``--ofa-candidates`` sampled
   candidates per block: training DNA on ofa-mbv3 is out of reach on this machine), for
   top-10 and top-100, unconstrained and under FLOPs budgets at 50% and 10% of the way from
   the smallest to the largest architecture (candidate costs computed inside the timing).
4. Ranking: under the same FLOPs budget on tiny, DNA's top-10 vs the 10 best of an
   evolution search of ``--evolution-budget`` trials, all evaluated on the teacher
   supernet (``SupernetEvaluator``: inherited weights, BN re-calibration, validation).

Usage (Ray starts; on a shared machine serialise heavy runs)::

    nice -n 5 flock /tmp/raynas-bench.lock flock /tmp/raynas-ray.lock .venv/bin/python benchmarks/dna.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import torch  # noqa: E402
from _records import command_line  # noqa: E402

import raynas  # noqa: E402
import search_spaces  # noqa: E402
from raynas.block_table import BlockTable  # noqa: E402
from raynas.evaluate.supernet import SupernetEvaluator  # noqa: E402
from raynas.train import TrainConfig, train  # noqa: E402
from strategies.dna import DNAStrategy  # noqa: E402

logger = logging.getLogger("benchmarks.dna")


def _midway(space, fraction: float = 0.5) -> raynas.Constraints:
    low, high = space.flops(space.smallest()), space.flops(space.largest())
    return raynas.Constraints(max_flops=low + fraction * (high - low))


def _traversal(space, table, constraints, top_k) -> dict:
    strategy = DNAStrategy(space, block_losses=table, constraints=constraints, top_k=top_k)
    started = time.perf_counter()
    ranked = strategy.ranked()
    return {"space": space.name, "candidates": table.num_candidates, "top_k": top_k,
            "max_flops": constraints.max_flops, "found": len(ranked), "seconds": time.perf_counter() - started}


def _summary(rows: list[dict]) -> dict:
    acc = [r["accuracy"] for r in rows]
    return {"mean_accuracy": statistics.mean(acc), "max_accuracy": max(acc), "min_accuracy": min(acc),
            "mean_mflops": statistics.mean(r["flops"] for r in rows) / 1e6}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default=None, help="a trained tiny supernet (default: train one here)")
    parser.add_argument("--teacher-epochs", type=int, default=6)
    parser.add_argument("--dna-epochs", type=int, default=3)
    parser.add_argument("--dna-candidates", type=int, default=4096)
    parser.add_argument("--ofa-candidates", type=int, default=1000)
    parser.add_argument("--evolution-budget", type=int, default=100)
    parser.add_argument("--out", default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--report-from", default=None, help="only rewrite dna.md from this dna.json")
    args = parser.parse_args(argv)
    if args.report_from:
        (Path(args.results) / "dna.md").write_text(report(json.loads(Path(args.report_from).read_text())))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("ray").setLevel(logging.WARNING)
    work = Path(args.out or tempfile.mkdtemp(prefix="raynas-dna-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"date": dt.date.today().isoformat(), "machine": f"{platform.node()}, {os.cpu_count()} CPUs, "
                     f"{platform.processor() or platform.machine()}", "torch": torch.__version__,
                     "command": command_line("dna.py", argv)}
    raynas.init_ray(num_cpus=2)

    # 1. the teacher
    teacher = args.teacher
    if teacher is None:
        started = time.perf_counter()
        trained = train(TrainConfig(space="tiny", dataset="digits", method="sandwich", epochs=args.teacher_epochs,
                                    num_workers=2), work / "teacher", overwrite=True)
        teacher = str(trained.checkpoint)
        results["teacher"] = {"epochs": args.teacher_epochs, "seconds": time.perf_counter() - started,
                              "val_accuracy_largest": trained.final_metrics.get("val_accuracy_largest"),
                              "val_accuracy_smallest": trained.final_metrics.get("val_accuracy_smallest")}
    else:
        results["teacher"] = {"checkpoint": teacher}
    logger.info("teacher: %s", results["teacher"])

    # 2. block-wise training, 1 and 2 workers
    results["training"] = []
    for workers in (1, 2):
        config = TrainConfig(space="tiny", dataset="digits", method="dna", teacher=teacher, epochs=args.dna_epochs,
                             num_workers=workers, dna_candidates=args.dna_candidates)
        started = time.perf_counter()
        trained = train(config, work / f"dna-{workers}", overwrite=True)
        seconds = time.perf_counter() - started
        table = BlockTable.load(trained.out_dir)
        losses = {str(b): [r["loss"] for r in trained.history if r["block"] == b] for b in range(len(table.blocks))}
        epoch_s = {str(b): sum(r["epoch_time_s"] for r in trained.history if r["block"] == b)
                   for b in range(len(table.blocks))}
        results["training"].append({"workers": workers, "seconds": seconds, "candidates": table.num_candidates,
                                    "per_block": [len(b) for b in table.blocks], "epoch_losses": losses,
                                    "epoch_seconds": epoch_s})
        logger.info("DNA with %d worker(s): %.1fs, %d candidates", workers, seconds, table.num_candidates)
    dna_dir = work / "dna-2"
    table = BlockTable.load(dna_dir)

    # 3. traversal time
    tiny = search_spaces.get("tiny")
    ofa = search_spaces.get("ofa-mbv3")
    started = time.perf_counter()
    ofa_table = BlockTable.synthetic(ofa, seed=0, max_candidates=args.ofa_candidates)
    results["ofa_table_seconds"] = time.perf_counter() - started
    results["traversal"] = []
    for space, space_table in ((tiny, table), (ofa, ofa_table)):
        for constraints in (raynas.Constraints(), _midway(space), _midway(space, 0.1)):
            for top_k in (10, 100):
                row = _traversal(space, space_table, constraints, top_k)
                results["traversal"].append(row)
                logger.info("traversal %s", row)

    # 4. DNA's top-10 vs evolution's top-10 under the budget, on the teacher supernet
    budget = _midway(tiny)
    evaluator = SupernetEvaluator(teacher, dataset="digits", threads=1)
    student = SupernetEvaluator(dna_dir, dataset="digits", threads=1)
    top = DNAStrategy(tiny, block_losses=table, constraints=budget, top_k=10).ranked()
    dna_rows = []
    for rank, (loss, arch) in enumerate(top, start=1):
        metrics = evaluator(arch)
        dna_rows.append({"rank": rank, "dna_loss": loss, "accuracy": metrics["accuracy"], "flops": metrics["flops"],
                         "student_accuracy": student(arch)["accuracy"], "arch": arch})
    started = time.perf_counter()
    search = raynas.search(tiny, evaluator, strategy="evolution", num_samples=args.evolution_budget,
                           max_concurrent=2, seed=0, constraints=budget, out_dir=work / "evolution", overwrite=True,
                           progress=False)
    evolution_s = time.perf_counter() - started
    ok = sorted((r for r in search.history if r.get("status") == "ok"), key=lambda r: -r["accuracy"])[:10]
    evo_rows = [{"rank": i + 1, "accuracy": r["accuracy"], "flops": r["flops"], "arch": r["arch"]}
                for i, r in enumerate(ok)]
    largest = evaluator(tiny.largest())
    results["ranking"] = {"max_flops": budget.max_flops, "dna": dna_rows, "evolution": evo_rows,
                          "dna_summary": _summary(dna_rows), "evolution_summary": _summary(evo_rows),
                          "evolution_seconds": evolution_s, "evolution_trials": len(search.history),
                          "largest_accuracy": largest["accuracy"]}
    (Path(args.results) / "dna.json").write_text(json.dumps(results, indent=1))
    (Path(args.results) / "dna.md").write_text(report(results))
    logger.info("wrote %s", Path(args.results) / "dna.md")
    return 0


def report(r: dict) -> str:
    lines = ["# DNA: block-wise training, traversal, ranking", "",
             f"Command: `{r['command']}` (under `nice -n 5 flock /tmp/raynas-bench.lock flock /tmp/raynas-ray.lock`)",
             f"Machine: {r['machine']}; torch {r['torch']}; date {r['date']}. The machine is shared: wall times "
             "include other users' load.", "",
             "## Teacher", "", f"`{json.dumps(r['teacher'])}`", "",
             "## Block-wise training (`tiny` on `digits`, one Ray task per block)", "",
             "Wall time covers the whole `raynas.train.train` call: teacher features, Ray tasks, the block "
             "epochs and the scoring of every candidate (BN re-calibration on 4 batches of 64, then the "
             "599 validation images), which dominates.", "",
             "| workers | wall time (s) | block epochs, summed per block (s) | candidates scored (per block) | "
             "training MSE per epoch, block 0 / 1 / 2 |",
             "|---|---|---|---|---|"]
    for t in r["training"]:
        losses = " / ".join(" -> ".join(f"{v:.3g}" for v in t["epoch_losses"][str(b)])
                            for b in range(len(t["per_block"])))
        epochs = " / ".join(f"{t['epoch_seconds'][str(b)]:.1f}" for b in range(len(t["per_block"])))
        lines.append(f"| {t['workers']} | {t['seconds']:.1f} | {epochs} | {t['candidates']} "
                     f"({', '.join(map(str, t['per_block']))}) | {losses} |")
    one, two = r["training"][0]["seconds"], r["training"][1]["seconds"]
    lines += ["", f"Speed-up with 2 workers: {one / two:.2f}x (3 blocks on 2 cores; block 0 holds resolution and "
              "so 3x the candidates of the others, which bounds the gain).", "",
              "## Traversal (`DNAStrategy.ranked()`, one process)", "",
              f"ofa-mbv3's table is synthetic (made-up losses over sampled candidates; built in "
              f"{r['ofa_table_seconds']:.1f}s).", "",
              "| space | candidates | top-k | max FLOPs | found | seconds |", "|---|---|---|---|---|---|"]
    for t in r["traversal"]:
        budget = "none" if t["max_flops"] is None else f"{t['max_flops'] / 1e6:.2f} M"
        lines.append(f"| {t['space']} | {t['candidates']} | {t['top_k']} | {budget} | {t['found']} | {t['seconds']:.3f} |")
    k = r["ranking"]
    d, e = k["dna_summary"], k["evolution_summary"]
    lines += ["", f"## Ranking: top-10 under max FLOPs {k['max_flops'] / 1e6:.2f} M, evaluated on the teacher supernet",
              "", f"Largest subnet (over budget, for scale): {k['largest_accuracy']:.2f}%. Evolution: "
              f"{k['evolution_trials']} trials in {k['evolution_seconds']:.0f}s.", "",
              "| set | mean accuracy | best | worst | mean MFLOPs |", "|---|---|---|---|---|",
              f"| DNA top-10 (table order) | {d['mean_accuracy']:.2f} | {d['max_accuracy']:.2f} | {d['min_accuracy']:.2f} "
              f"| {d['mean_mflops']:.2f} |",
              f"| evolution top-10 (by accuracy) | {e['mean_accuracy']:.2f} | {e['max_accuracy']:.2f} | "
              f"{e['min_accuracy']:.2f} | {e['mean_mflops']:.2f} |", "",
              "| DNA rank | summed loss | accuracy on teacher supernet | accuracy on DNA student supernet | MFLOPs |",
              "|---|---|---|---|---|"]
    for row in k["dna"]:
        lines.append(f"| {row['rank']} | {row['dna_loss']:.4f} | {row['accuracy']:.2f} | {row['student_accuracy']:.2f} "
                     f"| {row['flops'] / 1e6:.2f} |")
    slowest = max(t["seconds"] for t in r["traversal"])
    student = statistics.mean(row["student_accuracy"] for row in k["dna"])
    dna_losses = [row["dna_loss"] for row in k["dna"]]
    spread = (max(dna_losses) - min(dna_losses)) / min(dna_losses)
    lines += ["", "## Reading", "",
              f"- Training: the block epochs take seconds; scoring the {r['training'][0]['candidates']} candidates "
              f"takes the rest. Two workers gave {one / two:.2f}x; block 0 alone (2,457 candidates) bounds it.",
              f"- Traversal: at most {slowest:.1f}s for every case (DNA reports minutes on one CPU for a 6-stage "
              "space): met. Tighter budgets cost more, as fewer branches reach a feasible leaf; the time includes "
              "computing every candidate's cost.",
              f"- Ranking: DNA's top-10, chosen without evaluating any whole subnet, score "
              f"{d['mean_accuracy'] - e['mean_accuracy']:+.2f} points (mean) against evolution's top-10 on the "
              "teacher supernet. Evolution's 10 are the best of its evaluations by the very metric shown (a "
              f"selection bias in its favour); DNA's summed losses differ by {spread:.2%} across its top 10, so "
              "its order inside the top 10 carries little signal here.",
              f"- The assembled student supernet classifies poorly ({student:.1f}% mean over DNA's top-10): each "
              "block learnt from the teacher's features, not from the student blocks before it, so errors compound "
              "when the blocks are chained. It is the table, not the student, that DNA's search uses."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
