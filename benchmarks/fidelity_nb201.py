"""Ranking fidelity on NAS-Bench-201: does a weight-sharing supernet rank cells as the benchmark does?

The protocol NAS papers use: train the ``nb201`` cell supernet on CIFAR-10 with the standard
recipe (random crop with 4-pixel padding + horizontal flip), once per training method
(``--methods``, default ``uniform`` (SPOS) and ``sandwich`` (BigNAS)); then score ``--cells``
(default 200) distinct cells, drawn with a fixed seed, with inherited weights (BN
re-calibrated per cell on ``--calib-images`` training images, validated on the CIFAR-10 test
split, ``SupernetEvaluator``), and report Kendall tau between those accuracies and the
NAS-Bench-201 table's own CIFAR-10 accuracies (``cifar10_test_200ep``: each cell trained
alone for 200 epochs). For scale, the same cells' tau between the table's 12-epoch
validation accuracy (``cifar10_val_12ep``, a cheap proxy) and its 200-epoch test accuracy
is reported beside it.

The real run (CIFAR-10 is not downloadable on every machine; torchvision's
``cifar-10-batches-py`` folder under ``--data-dir``), on a machine with a GPU::

    python benchmarks/fidelity_nb201.py --data-dir CIFAR10_ROOT --epochs 100 --workers 1 --gpu \\
        --methods uniform,sandwich --cells 200 --out benchmarks/results/fidelity_nb201.md

It writes the table of tau per method to ``--out`` (and the per-cell scores beside it as
JSON). ``--dataset folder --data-dir ROOT`` runs the same protocol on an image folder (for
example a generated stand-in, as the test does; such a run's tau says nothing about CIFAR-10).
``--channels``, ``--cells-per-stage`` and ``--resolution`` shrink the supernet for such runs
(the benchmark's cell network: 16, 5, 32).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _records import command_line, load_average  # noqa: E402


def run(args) -> dict:
    from scipy.stats import kendalltau

    import search_spaces
    from raynas.evaluate.supernet import SupernetEvaluator
    from raynas.evaluate.table import TableEvaluator
    from raynas.train import TrainConfig, train, train_in_process

    space_kwargs = {"channels": args.channels, "cells_per_stage": args.cells_per_stage,
                    "resolution": args.resolution, "num_classes": 10}
    space = search_spaces.get("nb201", **space_kwargs)
    table = TableEvaluator(args.table, signal="cifar10_val_12ep", space=space)
    cells = space.sample_distinct(min(args.cells, space.size), random.Random(args.seed))
    reference = [table(cell) for cell in cells]
    test_200 = [r["test_accuracy"] for r in reference]
    proxy_tau = kendalltau([r["accuracy"] for r in reference], test_200).statistic
    results: dict = {"cells": cells, "table_test_200ep": test_200, "table_val_12ep_tau": proxy_tau, "methods": {}}
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="fidelity-nb201-"))
    for method in args.methods.split(","):
        config = TrainConfig(space="nb201", space_kwargs=space_kwargs, dataset=args.dataset, data_dir=args.data_dir,
                             method=method, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             num_workers=args.workers, use_gpu=args.gpu, amp=args.gpu, seed=args.seed,
                             loader_workers=args.loader_workers, calib_images=args.calib_images,
                             val_images=args.calib_images)
        started = time.time()
        out = workdir / method
        if args.workers == 1 and not args.gpu:  # one CPU process: no Ray Train job needed
            out.mkdir(parents=True, exist_ok=True)
            train_in_process(config, out / "run")
            checkpoint = max((out / "run").glob("checkpoint_*")) / "supernet.pt"
        else:
            checkpoint = train(config, out, overwrite=True).checkpoint
        trained_s = time.time() - started
        evaluator = SupernetEvaluator(checkpoint, dataset=args.dataset, data_dir=args.data_dir,
                                      calib_images=args.calib_images, batch_size=args.batch_size,
                                      device="cuda" if args.gpu else "cpu", loader_workers=args.loader_workers)
        scores = [evaluator(cell) for cell in cells]
        accuracy = [s["accuracy"] for s in scores]
        loss = [-s["loss"] for s in scores]
        results["methods"][method] = {
            "kendall_tau_accuracy": kendalltau(accuracy, test_200).statistic,
            "kendall_tau_loss": kendalltau(loss, test_200).statistic,
            "train_s": trained_s, "score_s": time.time() - started - trained_s, "accuracy": accuracy,
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="CIFAR-10 root (torchvision layout) or an image folder")
    parser.add_argument("--dataset", default="cifar10", help="cifar10 (default) or folder")
    parser.add_argument("--methods", default="uniform,sandwich")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=1, help="Ray Train workers (1 without --gpu: in-process)")
    parser.add_argument("--gpu", action="store_true", help="one GPU per worker, mixed precision")
    parser.add_argument("--loader-workers", type=int, default=4)
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--calib-images", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells-per-stage", type=int, default=5)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", default=None, help="the NAS-Bench-201 CSV (default: the packaged copy)")
    parser.add_argument("--workdir", default=None, help="where the supernets go (default: a temporary folder)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fidelity_nb201.md"))
    args = parser.parse_args(argv)
    load_before = load_average()
    results = run(args)
    command = command_line("fidelity_nb201.py", argv)
    lines = [
        "# Ranking fidelity on NAS-Bench-201 (CIFAR-10)",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{'GPU' if args.gpu else 'CPU only'}; date {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}; "
        f"load average before {load_before}, after {load_average()}  ",
        f"Data: {args.dataset} at {args.data_dir}; supernet nb201(channels={args.channels}, "
        f"cells_per_stage={args.cells_per_stage}, resolution={args.resolution}); {args.epochs} epochs; "
        f"{len(results['cells'])} cells (seed {args.seed}) scored with inherited weights, BN re-calibrated on "
        f"{args.calib_images} training images.",
        "",
        "Kendall tau against the table's `cifar10_test_200ep`:",
        "",
        "| method | tau (supernet accuracy) | tau (supernet loss) | train | score |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {m} | {r['kendall_tau_accuracy']:.3f} | {r['kendall_tau_loss']:.3f} | {r['train_s']:.0f} s | "
          f"{r['score_s']:.0f} s |" for m, r in results["methods"].items()),
        f"| (the table's own `cifar10_val_12ep`) | {results['table_val_12ep_tau']:.3f} | | | |",
        "",
    ]
    if args.dataset != "cifar10":
        lines += [f"Data set {args.dataset!r} is not CIFAR-10: these figures test the script, they say nothing about "
                  "the supernet's fidelity on NAS-Bench-201.", ""]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
