"""The hardware-aware commands of the CLI: ``raynas latency ...``, ``raynas predictor ...``, and the
predictor / latency options of ``raynas search``. ``raynas.cli.main`` wires them in.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from pathlib import Path
from typing import Any, Callable

from raynas.errors import RaynasError

logger = logging.getLogger("raynas.cli")

WORKFLOW = """\
hardware-aware workflow (once-for-all style), for a supernet trained with
`raynas train --space tiny --dataset digits --out runs/sn`:

  1. measure  raynas latency measure --space tiny --device cpu --out tiny-cpu.json
              (times every layer configuration at every resolution on this device; on a
              machine shared with other work add --timer thread_cpu --statistic p10)
  2. fit      raynas predictor fit --checkpoint runs/sn --num-pairs 300 --out pred.pt
              (evaluates 300 random subnets on the supernet as Ray tasks, trains the MLP)
  3. search   raynas search --evaluator predictor --predictor pred.pt \\
                  --latency-table tiny-cpu.json --max-latency-ms 2.5 \\
                  --strategy evolution --budget 500 --out runs/hw
  4. verify   add  --checkpoint runs/sn --verify-top 5  to step 3: the 5 best predicted
              subnets are re-evaluated on the supernet and timed on this device
              (runs/hw/verified.json, runs/hw/verified_best.json)
  5. export   raynas export --checkpoint runs/sn --arch runs/hw/verified_best.json --out subnet.pt
              (TorchScript by default: torch.jit.load("subnet.pt") runs it without raynas)
"""

def _progress(what: str) -> Callable[[int, int], None]:
    """A progress callback that logs every ~10%."""
    def report(done: int, total: int) -> None:
        step = max(total // 10, 1)
        if done % step == 0 or done == total:
            logger.info("%s: %d/%d (%.0f%%)", what, done, total, 100.0 * done / total)
    return report


# -- parsers -----------------------------------------------------------------------------------
def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None], positive_int: Callable,
                 positive_float: Callable) -> None:
    """Add ``latency`` and ``predictor`` to the subcommands ``sub``."""
    fmt = argparse.RawDescriptionHelpFormatter
    latency = sub.add_parser("latency", help="latency lookup tables: measure per-layer latency on a device",
                             description="Latency lookup tables for hardware-aware search.", epilog=WORKFLOW,
                             formatter_class=fmt)
    lsub = latency.add_subparsers(dest="latency_command", required=True, parser_class=type(latency))
    measure = lsub.add_parser("measure", help="time every layer configuration of a space on this device",
                              description="Time every distinct layer configuration (stem, each block "
                                          "configuration at its input resolution, head) of a space on the current "
                                          "device, then calibrate a constant overhead on whole subnets, and write "
                                          "a JSON table with the device description inside.",
                              epilog=WORKFLOW, formatter_class=fmt)
    common(measure)
    measure.add_argument("--space", default=None, help="search space name (default: the checkpoint's, else tiny)")
    measure.add_argument("--checkpoint", default=None,
                         help="take the space and its arguments (e.g. input channels) from this supernet")
    measure.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to time (default cpu)")
    measure.add_argument("--out", required=True, help="the table file to write (JSON)")
    measure.add_argument("--batch-size", type=positive_int, default=1, help="images per timed call (default 1)")
    measure.add_argument("--threads", type=positive_int, default=1, help="torch threads while timing")
    measure.add_argument("--warmup", type=int, default=5, help="untimed calls per item and round")
    measure.add_argument("--repeats", type=positive_int, default=10, help="timed samples per item and round")
    measure.add_argument("--number", type=positive_int, default=1, help="calls per timed sample")
    measure.add_argument("--rounds", type=positive_int, default=3, help="shuffled passes over all items")
    measure.add_argument("--statistic", default="median",
                         help="median (default), min, or a percentile such as p10 (robust on a busy machine)")
    measure.add_argument("--timer", choices=("wall", "thread_cpu"), default="wall",
                         help="wall: the latency a caller sees (default); thread_cpu: CPU time of the timing thread, "
                              "which leaves out waiting for other processes on a shared machine (cpu, 1 thread)")
    measure.add_argument("--calibration-subnets", type=int, default=10,
                         help="whole subnets timed to measure the constant overhead (0: none)")
    measure.add_argument("--seed", type=int, default=0,
                         help="seeds the shuffled rounds and the calibration subnets (default 0)")
    show = lsub.add_parser("show", help="describe a table; with --arch, predict one subnet's latency layer by layer")
    common(show)
    show.add_argument("table", help="a latency table file from `raynas latency measure`")
    show.add_argument("--arch", default=None, help="an architecture as JSON, or a file holding it (best.json works)")

    predictor = sub.add_parser("predictor", help="accuracy predictors: collect (arch, accuracy) pairs, fit an MLP",
                               description="Accuracy predictors for hardware-aware search.", epilog=WORKFLOW,
                               formatter_class=fmt)
    psub = predictor.add_subparsers(dest="predictor_command", required=True, parser_class=type(predictor))
    collect = psub.add_parser("collect", help="evaluate random subnets on a supernet (Ray tasks) and save the pairs")
    common(collect)
    _collect_options(collect, positive_int, required=True)
    collect.add_argument("--out", required=True, help="pairs file to write (JSON)")
    fit = psub.add_parser("fit", help="fit an MLP accuracy predictor (from a pairs file, or collecting pairs first)",
                          description="Fit a once-for-all style accuracy predictor: an MLP with 3 hidden layers "
                                      "over the space's one-hot encoding (resolution included). Pairs come from "
                                      "--pairs, or are collected from --checkpoint first (and saved beside --out).",
                          epilog=WORKFLOW, formatter_class=fmt)
    common(fit)
    fit.add_argument("--pairs", default=None, help="a pairs file from `raynas predictor collect`")
    _collect_options(fit, positive_int, required=False)
    fit.add_argument("--out", required=True, help="the predictor file to write (torch, weights-only loadable)")
    fit.add_argument("--holdout", type=float, default=0.2,
                     help="fraction of pairs held out to report Kendall tau and RMSE (0: fit on all)")
    fit.add_argument("--epochs", type=positive_int, default=200, help="training epochs (default 200)")
    fit.add_argument("--hidden-size", type=positive_int, default=400, help="units per hidden layer (default 400)")
    fit.add_argument("--num-layers", type=positive_int, default=3, help="hidden layers (default 3)")
    fit.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate (default 1e-3)")
    fit.add_argument("--weight-decay", type=float, default=3e-2, help="weight decay (default 3e-2)")
    fit.add_argument("--fit-batch-size", type=positive_int, default=32, help="pairs per training step (default 32)")


def _collect_options(p: argparse.ArgumentParser, positive_int: Callable, *, required: bool) -> None:
    p.add_argument("--checkpoint", required=required, default=None, help="a supernet file or `raynas train --out` folder")
    p.add_argument("--num-pairs", type=positive_int, default=200, help="random subnets to evaluate")
    p.add_argument("--concurrency", type=positive_int, default=2, help="Ray tasks in flight")
    p.add_argument("--dataset", default=None, help="data set (default: the one the supernet was trained on)")
    p.add_argument("--data-dir", default=None, help="the image folder's ROOT (default: the one it was trained on)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the random subnets (and for fit, the hold-out split and the weights; default 0)")
    from raynas.cli._data import add_eval_data_options

    add_eval_data_options(p)


def add_search_options(search: argparse.ArgumentParser, positive_int: Callable, positive_float: Callable) -> None:
    """``--evaluator``, ``--predictor``, ``--latency-table``, ``--max-latency-ms``, ``--verify-top`` for ``raynas search``."""
    from raynas.latency import ON_MISMATCH

    search.formatter_class = argparse.RawDescriptionHelpFormatter
    search.epilog = WORKFLOW
    search.add_argument("--evaluator", choices=("supernet", "predictor"), default="supernet",
                        help="supernet: inherited weights (needs --checkpoint); predictor: --predictor's accuracy "
                             "estimate, no supernet")
    search.add_argument("--predictor", default=None, help="a predictor file from `raynas predictor fit`")
    search.add_argument("--latency-table", default=None, help="a table from `raynas latency measure`")
    search.add_argument("--on-device-mismatch", choices=ON_MISMATCH, default="error",
                        help="when --latency-table was measured on another device than this one: refuse (error), "
                             "warn, or ignore (searching for a target device from elsewhere)")
    search.add_argument("--max-latency-ms", type=positive_float, default=None,
                        help="latency budget in ms, predicted with --latency-table")
    search.add_argument("--verify-top", type=int, default=0, metavar="K",
                        help="re-evaluate the K best predicted subnets on the supernet (--checkpoint) and time "
                             "them on this device")


# -- search integration ------------------------------------------------------------------------
def load_table(args: argparse.Namespace):
    """The ``--latency-table`` (device-checked per ``--on-device-mismatch``), or None."""
    from raynas.latency import LatencyTable

    path = getattr(args, "latency_table", None)
    if getattr(args, "max_latency_ms", None) is not None and path is None:
        raise RaynasError("--max-latency-ms needs --latency-table (a table from `raynas latency measure`)")
    if path is None:
        return None
    return LatencyTable.load(path, expect_device="current", on_mismatch=getattr(args, "on_device_mismatch", "error"))


def latency_constraint(args: argparse.Namespace, table: Any) -> dict[str, Any]:
    """Keyword arguments of ``Constraints`` for the latency budget (empty without one)."""
    budget = getattr(args, "max_latency_ms", None)
    return {} if budget is None else {"max_latency_ms": budget, "latency_table": table}


def check_search_args(args: argparse.Namespace) -> None:
    evaluator = getattr(args, "evaluator", "supernet")
    if evaluator == "supernet" and not getattr(args, "checkpoint", None):
        raise RaynasError("--checkpoint is required with --evaluator supernet")
    if evaluator == "predictor" and not getattr(args, "predictor", None):
        raise RaynasError("--evaluator predictor needs --predictor (a file from `raynas predictor fit`)")
    verify = getattr(args, "verify_top", 0) or 0
    if verify < 0:
        raise RaynasError(f"--verify-top must be >= 0, got {verify}")
    if verify and not getattr(args, "checkpoint", None):
        raise RaynasError("--verify-top needs --checkpoint (the supernet to re-evaluate the candidates on)")


def predictor_setup(args: argparse.Namespace, checkpoint: str | None):
    """``(space, PredictorEvaluator, table)`` for ``--evaluator predictor``."""
    from raynas.evaluate.predictor import PredictorEvaluator
    from raynas.predictor import AccuracyPredictor

    predictor = AccuracyPredictor.load(args.predictor)
    space = predictor.space
    if checkpoint:
        from raynas.checkpoint import read_checkpoint

        info = read_checkpoint(checkpoint)
        if info["space"] != space.name or dict(info["space_kwargs"]) != dict(space.kwargs):
            raise RaynasError(f"predictor {args.predictor!r} is for space {space.name!r} {space.kwargs}, the "
                              f"checkpoint for {info['space']!r} {info['space_kwargs']}")
    table = load_table(args)
    return space, PredictorEvaluator(predictor, latency_table=table), table


def verify(args: argparse.Namespace, space: Any, result: Any) -> None:
    """``--verify-top K``: re-evaluate the best predicted subnets on the supernet; time them when possible."""
    from raynas.cli._data import supernet_evaluator
    from raynas.predictor import verify_top

    evaluator = supernet_evaluator(args, args.checkpoint)
    rows = verify_top(result.history, evaluator, args.verify_top, space=space, metric=result.metric,
                      mode=result.mode, concurrency=args.concurrency, address=args.address)
    from raynas.latency import LatencyTable

    # Already device-checked when the search loaded it; _time_candidates times only on the same device.
    table = LatencyTable.load(args.latency_table) if getattr(args, "latency_table", None) else None
    budget = getattr(args, "max_latency_ms", None)
    if table is not None:
        _time_candidates(args, space, table, rows)
    ok = [r for r in rows if "error" not in r]
    best = max(ok, key=lambda r: r["accuracy"]) if ok else None
    (result.path / "verified.json").write_text(json.dumps(rows, indent=2))
    if best is not None:
        metrics = {k: v for k, v in best.items() if k != "arch"}
        (result.path / "verified_best.json").write_text(json.dumps({"arch": best["arch"], "metrics": metrics,
                                                                    "metric": "accuracy", "mode": "max"}, indent=2))
    print(f"verified the top {len(rows)} predicted subnets on the supernet:")
    for r in rows:
        if "error" in r:
            print(f"  #{r['predicted_rank']}: failed: {r['error']}")
            continue
        line = (f"  #{r['predicted_rank']}: predicted {r.get('predicted_accuracy', float('nan')):.2f}%  "
                f"supernet {r['accuracy']:.2f}%")
        if "predicted_latency_ms" in r:
            line += f"  latency predicted {r['predicted_latency_ms']:.3f} ms"
        if "measured_latency_ms" in r:
            line += f", measured {r['measured_latency_ms']:.3f} ms"
            if budget is not None:
                line += " (within budget)" if r["measured_latency_ms"] <= budget else " (OVER budget)"
        print(line)
    if best is not None:
        print(f"best verified subnet: {json.dumps(best['arch'])}")
        print(f"  accuracy {best['accuracy']:.2f}% on the supernet; written to {result.path / 'verified_best.json'}")


def _time_candidates(args: argparse.Namespace, space: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """Time the verified subnets on this machine with the table's own protocol (same device kind only)."""
    from raynas.latency import MeasureConfig, device_differences, describe_device, measure_subnets

    kind = table.device.get("kind", "cpu")
    try:
        here = describe_device(kind, threads=table.settings.get("threads"))
    except RaynasError as exc:
        logger.warning("not timing the candidates: %s", exc)
        return
    if device_differences(table.device, here):
        logger.warning("not timing the candidates: the latency table is from another device")
        return
    config = MeasureConfig.from_table(table)
    ok = [r for r in rows if "error" not in r]
    measured = measure_subnets(space, [r["arch"] for r in ok], config=config)
    for row, ms in zip(ok, measured):
        row["measured_latency_ms"] = ms


# -- commands ----------------------------------------------------------------------------------
def _space_from(args: argparse.Namespace):
    import search_spaces

    if getattr(args, "checkpoint", None):
        from raynas.checkpoint import open_checkpoint

        space = open_checkpoint(args.checkpoint).space
        if args.space is not None and args.space != space.name:
            raise RaynasError(f"--space {args.space!r} differs from the checkpoint's space {space.name!r}")
        return space
    return search_spaces.get(args.space or "tiny")


def cmd_latency(args: argparse.Namespace) -> int:
    if args.latency_command == "measure":
        from raynas.latency import MeasureConfig, measure_table

        space = _space_from(args)
        config = MeasureConfig(device=args.device, batch_size=args.batch_size, threads=args.threads,
                               warmup=args.warmup, repeats=args.repeats, number=args.number, rounds=args.rounds,
                               statistic=args.statistic, timer=args.timer,
                               calibration_subnets=args.calibration_subnets, seed=args.seed)
        table = measure_table(space, config, progress=_progress("timing layers"))
        path = table.save(args.out)
        print(f"latency table: {path}")
        print(f"  {len(table)} layer entries of space {space.name!r} on {table.device['name']} "
              f"({args.device}, {args.threads} thread(s), batch {args.batch_size}, {args.timer} clock, "
              f"{args.statistic})")
        print(f"  constant overhead {table.overhead_ms:+.4f} ms; smallest subnet "
              f"{space.latency(space.smallest(), table):.3f} ms, largest {space.latency(space.largest(), table):.3f} ms")
        return 0
    from raynas.latency import LatencyTable

    from raynas.checkpoint import space_from_record

    table = LatencyTable.load(args.table)
    space = space_from_record(table.space, table.space_kwargs, source=f"latency table {args.table!r}")
    print(f"latency table {args.table}: space {table.space!r}, {len(table)} entries, measured {table.created}")
    print(f"  device: {table.device.get('name')} ({table.device.get('kind')}), torch {table.device.get('torch')}, "
          f"threads {table.device.get('threads')}")
    print("  settings: " + ", ".join(f"{k}={v}" for k, v in table.settings.items() if not isinstance(v, dict)))
    print(f"  overhead {table.overhead_ms:+.4f} ms; smallest subnet {space.latency(space.smallest(), table):.3f} ms, "
          f"largest {space.latency(space.largest(), table):.3f} ms")
    if args.arch:
        arch = _read_arch(args.arch)
        for key, ms in table.breakdown(space, arch):
            print(f"  {key:<48} {ms:8.4f} ms")
        print(f"  {'overhead':<48} {table.overhead_ms:8.4f} ms")
        print(f"  {'total':<48} {space.latency(arch, table):8.4f} ms")
    return 0


def _read_arch(text: str) -> dict[str, Any]:
    try:
        if text.lstrip().startswith("{"):
            data = json.loads(text)
        else:
            path = Path(text)
            if not path.is_file():
                raise RaynasError(f"--arch must be a JSON object or a file holding one; no file {text!r}")
            data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RaynasError(f"--arch must be a JSON object or a file holding one, got {text!r}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("arch"), dict):
        data = data["arch"]
    if not isinstance(data, dict):
        raise RaynasError(f"--arch must be a JSON object (an architecture), got {type(data).__name__}")
    return data


def _collect(args: argparse.Namespace):
    """Sample and evaluate ``--num-pairs`` subnets of the checkpoint's supernet; return (space, rows, meta)."""
    from raynas.checkpoint import open_checkpoint
    from raynas.cli._data import supernet_evaluator
    from raynas.predictor import evaluate_archs, sample_archs

    space = open_checkpoint(args.checkpoint).space
    evaluator = supernet_evaluator(args, args.checkpoint)
    dataset = evaluator.dataset
    archs = sample_archs(space, args.num_pairs, seed=args.seed)
    rows = evaluate_archs(evaluator, archs, concurrency=args.concurrency, address=args.address)
    meta = {"checkpoint": str(Path(args.checkpoint).resolve()), "dataset": dataset, "num_sampled": len(archs),
            "sample_seed": args.seed}
    return space, rows, meta


def cmd_predictor(args: argparse.Namespace) -> int:
    from raynas.predictor import PredictorConfig, fit_predictor, load_pairs, save_pairs, score_predictor

    if args.predictor_command == "collect":
        space, rows, meta = _collect(args)
        path = save_pairs(args.out, rows, space=space, meta=meta)
        failed = sum("error" in r for r in rows)
        print(f"pairs: {path} ({len(rows) - failed} evaluated, {failed} failed)")
        return 0
    if (args.pairs is None) == (args.checkpoint is None):
        raise RaynasError("predictor fit needs exactly one of --pairs (a pairs file) or --checkpoint (collect first)")
    if not 0.0 <= args.holdout < 1.0:
        raise RaynasError(f"--holdout must be in [0, 1), got {args.holdout}")
    if args.pairs is not None:
        from raynas.checkpoint import space_from_record

        payload = load_pairs(args.pairs)
        space = space_from_record(payload["space"], payload["space_kwargs"], source=f"pairs file {args.pairs!r}")
        rows, meta = payload["rows"], dict(payload.get("meta", {}), pairs_file=str(Path(args.pairs).resolve()))
    else:
        space, rows, meta = _collect(args)
        pairs_path = save_pairs(Path(args.out).with_suffix(".pairs.json"), rows, space=space, meta=meta)
        meta["pairs_file"] = str(pairs_path.resolve())
        print(f"pairs: {pairs_path}")
    ok = [r for r in rows if "error" not in r and isinstance(r.get("accuracy"), (int, float))]
    if len(ok) < 4:
        raise RaynasError(f"only {len(ok)} usable (arch, accuracy) pairs; collect more (--num-pairs)")
    order = list(range(len(ok)))
    random.Random(args.seed).shuffle(order)
    held = int(round(len(ok) * args.holdout))
    test, train = [ok[i] for i in order[:held]], [ok[i] for i in order[held:]]
    config = PredictorConfig(hidden_size=args.hidden_size, num_layers=args.num_layers, epochs=args.epochs,
                             batch_size=args.fit_batch_size, lr=args.lr, weight_decay=args.weight_decay, seed=args.seed)
    scores: dict[str, Any] = {}
    predictor = fit_predictor(space, [r["arch"] for r in train], [r["accuracy"] for r in train], config,
                              meta={"source": meta, "target": "accuracy"})
    if len(test) >= 2:
        scores = score_predictor(predictor, [r["arch"] for r in test], [r["accuracy"] for r in test])
        predictor.meta["holdout"] = scores
    path = predictor.save(args.out)
    print(f"predictor: {path} (space {space.name!r}, {len(train)} training pairs)")
    if scores:
        print(f"  held-out {scores['num_pairs']} pairs: Kendall tau {scores['kendall_tau']:.3f}, "
              f"RMSE {scores['rmse']:.3f} accuracy points, Spearman {scores['spearman']:.3f}")
    return 0
