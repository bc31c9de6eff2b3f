"""How well the default strategy's model ranks NAS-Bench-201 when fitted on a few uniform samples.

The default (``local``) orders neighbourhoods and picks restarts with a ridge regression on
``space.encode``. This measures that model, exactly as the strategy fits it, away from any
search: for each data set, number of samples N and seed, N distinct uniform random cells
are told to a fresh ``LocalSearchStrategy`` (as warm starts), and the fitted model ranks
all 15,625 cells of the table. Reported per (data set, N, targets), over the seeds:

- the model's rank (1 = its top pick) of the best cell by the signal (``*_val_12ep``),
  median and the share of seeds where it is among the model's top 10 and top 50;
- Spearman's rho between the model's scores and the signal over the whole table.

With every cell of the table as training data (``--samples 15625``, one seed) the figures
show what the model's form (one weight per key and choice) can do at best.

Usage::

    python benchmarks/nb201_model.py --samples 30 50 100 --seeds 100 \\
        --report benchmarks/results/nb201-model.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import search_spaces  # noqa: E402
from _records import command_line, load_average, machine  # noqa: E402
from nb201_sweep import DATASETS, Table  # noqa: E402
from raynas.evaluate.table import nb201_table_path  # noqa: E402
from strategies.local import _TARGETS, LocalSearchStrategy  # noqa: E402


def measure(space, table: Table, cells: list[dict], codes: np.ndarray, n: int, seeds: range, targets: str):
    """Per seed: (rank of the best-signal cell under the model, Spearman rho over the table)."""
    from scipy.stats import rankdata, spearmanr

    signal = np.array([table(cell)[0] for cell in cells])
    best = int(np.argmax(signal))
    out = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(cells), size=min(n, len(cells)), replace=False)
        strategy = LocalSearchStrategy(space, seed=seed, targets=targets)
        for i in picks:
            strategy.tell(cells[i], float(signal[i]))
        strategy._predict(cells[:1])  # fits the model on every result told
        scores = codes @ strategy._weights
        rank = int(rankdata(-scores, method="max")[best])  # ties count against the model
        out.append((rank, float(spearmanr(scores, signal).statistic)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[30, 50, 100], help="N: cells the model sees")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--targets", nargs="+", default=list(_TARGETS), choices=_TARGETS)
    parser.add_argument("--table", default=None, help=f"the NAS-Bench-201 CSV (default {nb201_table_path()})")
    parser.add_argument("--report", default=None, help="write the markdown report here")
    args = parser.parse_args(argv)
    bad = [n for n in args.samples if n < 2]
    if bad:
        parser.error(f"--samples: each N must be >= 2 (the model needs two results); got {bad}")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1; got {args.seeds}")

    started, load_before, t0 = time.strftime("%Y-%m-%d %H:%M %Z"), load_average(), time.time()
    space = search_spaces.get("nb201")
    cells = list(space.enumerate())
    codes = np.array([space.encode(cell) for cell in cells], dtype=np.float64)
    rows = []
    for dataset in args.datasets:
        table = Table(space, dataset, args.table)
        for n in sorted(args.samples):
            for targets in args.targets:
                seeds = range(1 if n >= len(cells) else args.seeds)
                result = measure(space, table, cells, codes, n, seeds, targets)
                ranks = [r for r, _ in result]
                rhos = [rho for _, rho in result]
                row = (dataset, n, targets, len(result), statistics.median(ranks),
                       sum(r <= 10 for r in ranks) / len(ranks), sum(r <= 50 for r in ranks) / len(ranks),
                       statistics.fmean(rhos), statistics.pstdev(rhos))
                rows.append(row)
                print("%-10s N=%-5d %-6s median rank %7.1f  top10 %.2f  top50 %.2f  rho %.3f ± %.3f"
                      % (row[0], row[1], row[2], *row[4:]), flush=True)
    if args.report:
        command = command_line("nb201_model.py", argv)
        lines = [
            "# The default's model on NAS-Bench-201, fitted on N uniform random cells",
            "",
            f"- command: `{command}`",
            f"- machine: {machine()}",
            f"- date: {started}; {time.time() - t0:.0f} s; load average {load_before} at the start, "
            f"{load_average()} at the end",
            f"- {len(cells)} cells; signal `*_val_12ep`; the model is `LocalSearchStrategy`'s ridge regression "
            "(its defaults), fitted on N distinct uniform random cells per seed (seeds 0..S-1).",
            "- rank: the model's rank of the best cell by the signal (1 = the model's top pick; ties count "
            "against the model); rho: Spearman's rho between the model and the signal over every cell.",
            "",
            "| data set | N | targets | seeds | median rank of the best cell | in the model's top 10 "
            "| in its top 50 | rho (mean ± std) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for dataset, n, targets, count, median, top10, top50, rho, spread in rows:
            lines.append(f"| {dataset} | {n} | {targets} | {count} | {median:g} | {top10:.2f} | {top50:.2f} "
                         f"| {rho:.3f} ± {spread:.3f} |")
        Path(args.report).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
