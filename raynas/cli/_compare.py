"""``raynas compare``, ``raynas report`` and ``raynas export``: argv in, one call into the library, a short printout."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from raynas.cli import _fidelity
from raynas.errors import ConfigError
from raynas.export import FORMATS

__all__ = ["add_commands", "COMMANDS"]

TABLE_DATASETS = ("cifar10", "cifar100", "imagenet16")

COMPARE_EPILOG = """\
multi-objective (--objectives accuracy:max,flops:min): the result is the Pareto set of
every evaluated architecture (pareto.csv, report.md). How each strategy searches:
  tpe        Optuna's multi-objective TPE (OptunaSearch with a list of metrics and modes)
  evolution  NSGA-II: non-dominated sorting and crowding distance (strategies.nsga2)
  others     (random, reinforce, grid, nevergrad, ...) maximise the weighted sum
             sum(weight * sign * value / scale); give weights as name:mode:weight
             (default 1); flops and params are divided by the largest architecture's.

examples:
  raynas compare --benchmark nb201 --dataset cifar10 --strategies random,evolution,tpe \\
      --budget 100 --seeds 5 --out runs/cmp-nb201
  raynas compare --checkpoint runs/tiny --strategies random,evolution --budget 40 --seeds 3 \\
      --objectives accuracy:max,flops:min --out runs/cmp-tiny
"""

EXPORT_EPILOG = """\
formats:
  torchscript  torch.jit.load(PATH) runs it with torch alone (no raynas needed)
  torch_export torch.export.load(PATH).module() runs it with torch alone (.pt2; TorchScript's
               successor, torch 2.14 deprecates TorchScript); load only files you trust
  state_dict   a weights-only torch file; raynas.export.load_subnet(PATH) rebuilds the module
  onnx         needs `pip install onnx onnxscript` (or the raynas[onnx] extra); input of the
               exported resolution, any batch size

example:
  raynas export --checkpoint runs/tiny --arch runs/tiny-search/best.json --out subnet.pt
"""


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None], positive_int: Callable,
                 positive_float: Callable) -> None:
    """Add ``compare``, ``report`` and ``export`` to the subcommands ``sub``."""
    fmt = argparse.RawDescriptionHelpFormatter
    cmp = sub.add_parser(
        "compare", help="compare search strategies x seeds on one evaluator: tables, plots, report.md",
        description="Run every strategy with every seed through the same Ray Tune search, with the same "
                    "evaluator, budget and constraints, on a trained supernet (--checkpoint) or a tabular "
                    "benchmark (--benchmark nb201). Writes results.csv, summary.csv, PNG plots and report.md.",
        epilog=COMPARE_EPILOG, formatter_class=fmt)
    common(cmp)
    source = cmp.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", default=None, help="a supernet file or a `raynas train --out` folder")
    source.add_argument("--benchmark", choices=("nb201",), default=None,
                        help="a tabular benchmark: nb201 (NAS-Bench-201; signal <dataset>_val_12ep, "
                             "score <dataset>_test_200ep)")
    cmp.add_argument("--dataset", default=None,
                     help=f"with --benchmark: one of {', '.join(TABLE_DATASETS)} (default cifar10); with "
                          "--checkpoint: the data set to validate on (default: the one it was trained on)")
    cmp.add_argument("--table", default=None, help="the benchmark CSV, plain or .gz (default: $RAYNAS_NB201, else the table packaged with raynas)")
    cmp.add_argument("--data-dir", default=None, help="--checkpoint: the image folder's ROOT or torchvision's data "
                                                      "folder (default: the one it was trained on)")
    from raynas.cli._data import add_eval_data_options

    add_eval_data_options(cmp)
    cmp.add_argument("--strategies", default="random,evolution",
                     help="comma-separated strategy names (see strategies.available()); default random,evolution")
    cmp.add_argument("--budget", type=positive_int, default=50, help="evaluations per run (default 50)")
    cmp.add_argument("--seeds", type=positive_int, default=3, help="seeds per strategy: 0..S-1 (default 3)")
    cmp.add_argument("--concurrency", type=positive_int, default=2, help="trials evaluated at once (default 2)")
    cmp.add_argument("--max-flops", type=positive_float, default=None, help="only subnets with at most this many FLOPs")
    cmp.add_argument("--max-params", type=positive_float, default=None,
                     help="only subnets with at most this many parameters")
    cmp.add_argument("--objectives", default=None, metavar="NAME:MODE[:WEIGHT],...",
                     help="several objectives, e.g. accuracy:max,flops:min: returns the Pareto set (see below for "
                          "how each strategy handles them)")
    cmp.add_argument("--budgets", type=_int_list, default=None, metavar="N,N,...",
                     help="evaluation counts summarised in summary.csv (default: 1/4, 1/2, 3/4 and all of --budget)")
    cmp.add_argument("--out", required=True, help="output folder for the results, plots and report")
    cmp.add_argument("--overwrite", action="store_true", help="replace the comparison already in --out")
    _fidelity.add_options(cmp, positive_int)

    rep = sub.add_parser(
        "report", help="write report.html again from a compare or search folder's CSV files",
        description="Write DIR/report.html, one self-contained page (open it in any browser, no server or "
                    "network needed), from DIR/results.csv (raynas compare) or DIR/history.csv (raynas search), "
                    "with the settings in compare.json / search.json where present.")
    rep.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors")
    rep.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    rep.add_argument("dir", metavar="DIR", help="a `raynas compare --out` or `raynas search --out` folder")

    exp = sub.add_parser(
        "export", help="export a subnet as a standalone model (TorchScript, state dict, ONNX)",
        description="Extract an architecture from a trained supernet and write it as a model that runs "
                    "without the supernet (TorchScript and ONNX run without raynas).",
        epilog=EXPORT_EPILOG, formatter_class=fmt)
    exp.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors")
    exp.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    exp.add_argument("--checkpoint", required=True, help="a supernet file or a `raynas train --out` folder")
    exp.add_argument("--arch", required=True, metavar="JSON_OR_FILE",
                     help="the architecture: JSON text, a JSON file, or a search's best.json")
    exp.add_argument("--out", required=True, help="the file to write")
    exp.add_argument("--format", choices=FORMATS, default="torchscript",
                     help="default torchscript")
    exp.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    exp.add_argument("--dataset", default=None,
                     help="data the subnet's BN statistics are re-calibrated on, as the search did "
                          "(default: the one the supernet was trained on)")
    exp.add_argument("--data-dir", default=None, help="the image folder's ROOT or torchvision's data folder "
                                                      "(default: the one it was trained on)")
    exp.add_argument("--calib-images", type=positive_int, default=None, metavar="N",
                     help="training images for BN re-calibration, as the search's --calib-images (default: 4 batches)")
    exp.add_argument("--skip-corrupt", action="store_true",
                     help="skip unreadable images of an image folder instead of failing")
    exp.add_argument("--no-calibrate", action="store_true",
                     help="keep the checkpoint's BN statistics (training does not track them: rarely right)")


def _evaluator(args: argparse.Namespace):
    """(space, evaluator) from --checkpoint or --benchmark."""
    import search_spaces

    if args.benchmark is not None:
        from raynas.evaluate.table import TableEvaluator

        dataset = args.dataset or "cifar10"
        if dataset not in TABLE_DATASETS:
            raise ConfigError(f"--dataset for --benchmark {args.benchmark} must be one of {list(TABLE_DATASETS)}, "
                              f"got {dataset!r}")
        if args.data_dir is not None:
            raise ConfigError("--data-dir applies to --checkpoint only; a benchmark table needs no data")
        space = search_spaces.get(args.benchmark)
        return space, TableEvaluator(args.table, signal=f"{dataset}_val_12ep", space=space)
    from raynas.checkpoint import open_checkpoint
    from raynas.cli._data import supernet_evaluator

    if args.table is not None:
        raise ConfigError("--table applies to --benchmark only")
    return open_checkpoint(args.checkpoint).space, supernet_evaluator(
        args, args.checkpoint, val_chunks=_fidelity.val_chunks(args))


def cmd_compare(args: argparse.Namespace) -> int:
    import raynas
    from raynas.tune.compare import compare
    from raynas.tune.objectives import parse_objectives

    if args.objectives is not None:
        parse_objectives(args.objectives)  # fail before Ray starts
    _fidelity.check(args, supernet=args.benchmark is None)
    if args.objectives is not None and _fidelity.scheduler(args):
        raise ConfigError(f"--early-stop {args.early_stop} follows one metric; it cannot be combined with --objectives")
    from raynas.cli import _ray_options

    _ray_options.logger_names(args)  # a missing logger library: refused before Ray starts
    runtime_env = _ray_options.runtime_env(args)
    space, evaluator = _evaluator(args)
    constraints = raynas.Constraints(max_flops=args.max_flops, max_params=args.max_params)
    result = compare(space, evaluator, args.strategies, seeds=args.seeds, num_samples=args.budget,
                     max_concurrent=args.concurrency, constraints=constraints, objectives=args.objectives,
                     budgets=args.budgets, out_dir=args.out, overwrite=args.overwrite, address=args.address,
                     progress=False if args.quiet else None, scheduler=_fidelity.scheduler(args),
                     callbacks=_ray_options.search_callbacks(args, Path(args.out)), runtime_env=runtime_env)
    first = result.objectives[0]
    budget = max(int(r["budget"]) for r in result.summary)
    print(f"after {budget} evaluations, mean +- std over {args.seeds} seed(s):")
    best = result.final()
    regret = result.final("regret") if result.optimum is not None else {}
    for strategy, row in best.items():
        line = f"  {strategy:<12} best {first.name} {_num(row['mean'])} +- {_num(row['std'])}"
        if strategy in regret:
            line += f"   regret {_num(regret[strategy]['mean'])} +- {_num(regret[strategy]['std'])}"
        print(line)
    if result.pareto:
        names = [o.name for o in result.objectives]
        print(f"Pareto set: {len(result.pareto)} architectures ({', '.join(map(str, result.objectives))}):")
        for row in result.pareto[:10]:
            values = ", ".join(f"{n} {_num(row[n])}" for n in names)
            print(f"  {row['strategy']} seed {row['seed']} trial {row['trial']}: {values}  "
                  f"{json.dumps(row['arch'], sort_keys=True)}")
        if len(result.pareto) > 10:
            print(f"  ... {len(result.pareto) - 10} more in {result.path / 'pareto.csv'}")
    print(f"report: {result.path / 'report.html'} (open it in a browser); {result.report}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from raynas.report.html import write_html_report

    path = write_html_report(args.dir)
    print(f"report: {path} (open it in a browser)")
    return 0


def _floats(values: Any) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def cmd_export(args: argparse.Namespace) -> int:
    from raynas.export import export_subnet, load_arch

    arch = load_arch(args.arch)  # malformed JSON: one line, exit 2
    result = export_subnet(args.checkpoint, arch, args.out, format=args.format, overwrite=args.overwrite,
                           calibrate=not args.no_calibrate, dataset=args.dataset, data_dir=args.data_dir,
                           calib_images=args.calib_images, skip_corrupt=args.skip_corrupt)
    print(f"exported {args.format}: {result.path}")
    print(f"  arch {json.dumps(result['arch'], sort_keys=True)}")
    print(f"  input {'x'.join(map(str, result['input_shape']))} per image, FLOPs {result['flops'] / 1e6:.3f}M, "
          f"params {result['params'] / 1e3:.1f}K")
    prep = result["preprocessing"]
    if "mean" in prep:
        print(f"  preprocessing ({prep['dataset']}): x = (pixel * {prep['scale']:.6g} - mean) / std, mean "
              f"{_floats(prep['mean'])}, std {_floats(prep['std'])}; {prep['resize']}; "
              f"{prep['num_classes']} classes (recorded in the file)")
    else:
        print(f"  preprocessing: {prep.get('note', 'unknown')}; {prep['num_classes']} classes (recorded in the file)")
    if args.format == "torchscript":
        print(f"  load with torch alone: model = torch.jit.load({str(result.path)!r})")
    elif args.format == "torch_export":
        print(f"  load with torch alone: model = torch.export.load({str(result.path)!r}).module()")
    elif args.format == "state_dict":
        print(f"  load with: raynas.export.load_subnet({str(result.path)!r})")
    return 0


COMMANDS = {"compare": cmd_compare, "report": cmd_report, "export": cmd_export}
