"""Latency table accuracy on ``tiny``: predicted (sum of table entries) vs measured latency.

For each variant ``TIMER:STATISTIC`` (``--variants``; default ``wall:median``, ``wall:p10``,
``thread_cpu:median``; see ``MeasureConfig.timer`` and ``MeasureConfig.statistic``):

1. ``measure_table`` times every distinct layer of ``tiny`` (249 entries: stem, every
   (stage, block index, widths, kernel, expand, stride, resolution) block, head) on the CPU,
   one thread, batch ``--batch-size`` (default 1), and calibrates the constant overhead on
   10 whole subnets (seed 1).
2. ``--subnets`` (default 40) other random subnets (seed ``--seed``, none of them a
   calibration subnet) are extracted to static ``MobileNet`` modules and timed whole with
   the same protocol (warm-up, repeats, same statistic), interleaved with the layers in the
   same shuffled rounds (``measure_table_and_subnets``), so that table and subnets see the
   same load from the other processes on the machine.
3. MAPE of predicted vs measured, with and without the overhead term, and Spearman and
   Kendall rank correlation (rank correlation does not depend on the constant term).

Timer and statistic are the same for the table and for the whole-subnet measurement, so
the two are comparable; the load average before and after is written next to the numbers.

Usage::

    python benchmarks/latency.py [--subnets 40] [--repeats 20] [--variants wall:median wall:p10 thread_cpu:median]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import platform
import random
import sys
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

import search_spaces  # noqa: E402
from raynas.latency import MeasureConfig, measure_table_and_subnets  # noqa: E402

logger = logging.getLogger("benchmarks.latency")


def run(variant: str, args: argparse.Namespace, space) -> dict:
    timer, _, statistic = variant.partition(":")
    config = MeasureConfig(device="cpu", batch_size=args.batch_size, threads=1, statistic=statistic, timer=timer,
                           calibration_subnets=10, seed=0, repeats=args.repeats, rounds=args.rounds)
    load_before = load_average()
    started = time.monotonic()
    net = space.build_supernet()
    calibration = space.sample_distinct(config.calibration_subnets, random.Random(config.seed + 1))
    archs = space.sample_distinct(args.subnets, random.Random(args.seed), exclude=calibration)
    table, measured = measure_table_and_subnets(space, archs, config, net=net)
    measured = np.array(measured)
    table_s = time.monotonic() - started
    if args.save_table:
        table.save(Path(args.save_table).with_suffix(f".{timer}-{statistic}.json"))
    bare = np.array([table.predict(space, a, overhead=False) for a in archs])
    full = bare + table.overhead_ms
    return {
        "statistic": f"{timer} clock, {statistic}", "entries": len(table), "overhead_ms": table.overhead_ms,
        "mape_sum": float(np.mean(np.abs(bare - measured) / measured) * 100),
        "mape": float(np.mean(np.abs(full - measured) / measured) * 100),
        "max_ape": float(np.max(np.abs(full - measured) / measured) * 100),
        "spearman": float(stats.spearmanr(full, measured).statistic),
        "kendall": float(stats.kendalltau(full, measured).statistic),
        "measured": measured, "predicted": full, "archs": archs, "table_s": table_s,
        "load_before": load_before, "load_after": load_average(), "device": table.device,
        "residuals": table.settings["overhead_calibration"]["residuals_ms"],
    }


def write(results: list[dict], args: argparse.Namespace, space, path: Path) -> None:
    device = results[0]["device"]
    lines = [
        "# Latency lookup table vs measured latency (`tiny`, CPU)",
        "",
        f"Written by `{command_line('latency.py')}` on {dt.date.today().isoformat()}.",
        "",
        f"- Device: {device['name']} ({device['cpu_count']} cores), {device['platform']}, torch {device['torch']}, "
        f"1 torch thread, batch {args.batch_size}, eval mode, `torch.inference_mode`.",
        "- **The machine was loaded**: other engineers' Ray jobs and tests ran on its 2 cores at the same time "
        "(load averages below), so every timing here is noisier than on an idle machine.",
        f"- Protocol: {args.rounds} rounds over all items in shuffled order; per item and round 5 warm-up calls and "
        f"{args.repeats} timed calls (one call per sample); the statistic over the {args.rounds * args.repeats} "
        "samples. Same protocol, timer and statistic for the table's layers and for the whole subnets, which are timed "
        "interleaved with the layers in the same shuffled rounds (`measure_table_and_subnets`), so both see the "
        "same load.",
        f"- Table: {results[0]['entries']} entries (stem, each (stage, block index, in/out width, kernel, expand, "
        "stride, input resolution) block, head) at the 3 resolutions. Constant overhead: median of (measured - "
        "sum of entries) over 10 calibration subnets (seed 1), none of which is among the evaluated subnets.",
        f"- Evaluated: {args.subnets} random subnets (seed {args.seed}), extracted static `MobileNet` modules, "
        "input already at the subnet's resolution.",
        "",
        "| timer, statistic | MAPE, sum of entries only | MAPE, with overhead | max APE | overhead (ms) | Spearman | "
        "Kendall tau | time (s) | load avg before -> after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['statistic']} | {r['mape_sum']:.1f}% | **{r['mape']:.1f}%** | {r['max_ape']:.1f}% | "
            f"{r['overhead_ms']:+.3f} | {r['spearman']:.3f} | {r['kendall']:.3f} | {r['table_s']:.0f} | "
            f"{r['load_before']} -> {r['load_after']} |"
        )
    lines += ["", "Calibration residuals (measured - sum of entries, ms) per variant:", ""]
    for r in results:
        lines.append(f"- {r['statistic']}: {', '.join(f'{v:+.3f}' for v in r['residuals'])}")
    lines += ["", "## Per subnet", "", "| # | resolution | depths | " +
              " | ".join(f"measured, {r['statistic']} (ms) | predicted (ms)" for r in results) + " |",
              "|---|---|---|" + "---|---|" * len(results)]
    for i, arch in enumerate(results[0]["archs"]):
        depths = "/".join(str(arch[f"s{s}.depth"]) for s in (1, 2, 3))
        cells = " | ".join(f"{r['measured'][i]:.3f} | {r['predicted'][i]:.3f}" for r in results)
        lines.append(f"| {i} | {arch['resolution']} | {depths} | {cells} |")
    lines += ["", "## Reading it", "", args.notes or "", ""]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subnets", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=["wall:median", "wall:p10", "thread_cpu:median"],
                        help="TIMER:STATISTIC pairs (MeasureConfig.timer, MeasureConfig.statistic)")
    parser.add_argument("--save-table", default=None, help="also save each table (path stem)")
    parser.add_argument("--notes", default="", help="text for the 'Reading it' section")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "latency.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.manual_seed(0)  # the random weights of the supernet the layers are cut from
    space = search_spaces.get("tiny")
    results = []
    for variant in args.variants:
        r = run(variant, args, space)
        logger.info("%s: MAPE %.1f%% (sum only %.1f%%), overhead %+.3f ms, Spearman %.3f, Kendall %.3f",
                    variant, r["mape"], r["mape_sum"], r["overhead_ms"], r["spearman"], r["kendall"])
        results.append(r)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write(results, args, space, out)
    logger.info("wrote %s (python %s)", out, platform.python_version())


if __name__ == "__main__":
    main()
