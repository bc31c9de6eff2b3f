"""``raynas``: run | train | search | compare | report | export | latency | predictor | import. Errors are one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from raynas.cli import _compare, _data, _fidelity, _hardware, _import, _ray_options
from raynas.cli._types import positive_float, positive_int
from raynas.errors import RaynasError, SearchFailed

logger = logging.getLogger("raynas.cli")


class CliError(Exception):
    """A user error the CLI reports in one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2; main() adds the "raynas: error:" prefix
        command = self.prog.split(" ", 1)[1] if " " in self.prog else None
        raise CliError(f"{command}: {message}" if command else message)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors")
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    p.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")


def _train_options(p: argparse.ArgumentParser, *, epochs: int) -> None:
    p.add_argument("--space", default="tiny", help="search space name (see search_spaces.available())")
    p.add_argument("--dataset", default="digits", help=_data.DATASET_HELP)
    p.add_argument("--data-dir", default=None, help="the image folder's ROOT (folder, imagenet); where torchvision "
                                                    "data sets live")
    p.add_argument("--download", action="store_true", help="let torchvision download a missing data set")
    p.add_argument("--method", default="sandwich",
                   help="training method: sandwich (BigNAS), progressive (once-for-all), uniform (SPOS) or dna "
                        "(block-wise distillation from --teacher; --workers blocks train at once)")
    p.add_argument("--teacher", default=None, metavar="CHECKPOINT",
                   help="dna: a trained supernet (file or `raynas train --out` folder) whose largest subnet is the teacher")
    p.add_argument("--dna-candidates", type=positive_int, default=1000, metavar="N",
                   help="dna: candidates scored per block (every one when the block has at most N, else N sampled)")
    p.add_argument("--phase-epochs", type=int, nargs=6, default=None, metavar="N",
                   help="progressive: epochs of the phases full, kernel, depth1, depth2, width1, width2 "
                        "(default: OFA's proportions of --epochs)")
    p.add_argument("--sampling", default="uniform", choices=["uniform", "flops"],
                   help="uniform: draw subnets uniformly, or a FLOPs bucket first (flops)")
    p.add_argument("--amp", action="store_true",
                   help="mixed precision: float16 with loss scaling on CUDA, bfloat16 on CPU")
    p.add_argument("--stop-after-epoch", type=positive_int, default=None,
                   help="stop after this epoch with a checkpoint; --resume continues the run")
    p.add_argument("--epochs", type=positive_int, default=epochs, help=f"training epochs (default {epochs})")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per worker and step (default 64)")
    p.add_argument("--lr", type=positive_float, default=0.25, help="peak learning rate (default 0.25)")
    p.add_argument("--workers", type=positive_int, default=2, help="Ray Train workers (data-parallel)")
    p.add_argument("--gpu", action="store_true", help="one GPU per worker (NCCL)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--checkpoint-every", type=positive_int, default=1, help="epochs between checkpoints")
    p.add_argument("--max-failures", type=int, default=0, help="worker failures Ray Train recovers from")
    from raynas.data import AUGMENTS

    _data.add_train_data_options(p, AUGMENTS)


def build_parser() -> argparse.ArgumentParser:
    import strategies

    strategy_help = (f"search strategy: {', '.join(strategies.available())} (default: 'default', that is "
                     f"{strategies.DEFAULT!r}; NSGA-II with several --objectives)")
    parser = _Parser(prog="raynas", description="Neural-architecture search with weight sharing, on Ray.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="the main job: train a tiny supernet on digits, search it, print the best subnet",
                         description="Train the `tiny` supernet on the embedded digits data as a Ray Train job, "
                                     "search it through Ray Tune, and print the best subnet. No download.")
    _common(run)
    _train_options(run, epochs=8)
    run.add_argument("--out", default=None, help="output folder (default: runs/run-<time>)")
    run.add_argument("--strategy", default="default", help=strategy_help)
    run.add_argument("--budget", type=positive_int, default=40, help="number of subnets to evaluate")
    run.add_argument("--concurrency", type=positive_int, default=2, help="trials evaluated at once")
    _ray_options.add_options(run)

    train = sub.add_parser("train", help="train a supernet as a Ray Train job")
    _common(train)
    _train_options(train, epochs=10)
    train.add_argument("--out", default=None, help="output folder for supernet.pt and the training history")
    train.add_argument("--resume", nargs="?", const="", default=None, metavar="DIR",
                       help="continue the run in DIR (or --out) from its last checkpoint, with its saved settings")
    train.add_argument("--overwrite", action="store_true", help="replace the results already in --out")
    train.add_argument("--storage-path", default=None,
                       help="where Ray Train keeps checkpoints (default: --out/ray); on a cluster, a path every "
                            "node reaches")
    _ray_options.add_options(train)

    search = sub.add_parser("search", help="search a trained supernet with a strategy through Ray Tune")
    _common(search)
    search.add_argument("--checkpoint", default=None,
                        help="a supernet file or a `raynas train --out` folder (needed by --evaluator supernet)")
    search.add_argument("--strategy", default="default", help=strategy_help)
    search.add_argument("--budget", type=positive_int, default=None,
                        help="number of trials (default 100; with --resume, the budget the search started with)")
    search.add_argument("--concurrency", type=positive_int, default=2, help="trials evaluated at once")
    search.add_argument("--gpus-per-trial", type=float, default=0.0,
                        help="GPU share reserved per trial; > 0 evaluates on CUDA (0.25: four trials per GPU)")
    search.add_argument("--storage-path", default=None,
                        help="where Tune keeps the experiment (default: --out/tune); on a cluster, a path every "
                             "node reaches")
    search.add_argument("--archs-per-trial", type=positive_int, default=1,
                        help="subnets evaluated in one Tune trial: pays Tune's per-trial cost once per batch "
                             "(worth it when one evaluation takes well under a second)")
    search.add_argument("--seed", type=int, default=0, help="the strategy's seed (default 0)")
    search.add_argument("--max-flops", type=positive_float, default=None,
                        help="only subnets with at most this many FLOPs")
    search.add_argument("--max-params", type=positive_float, default=None,
                        help="only subnets with at most this many parameters")
    search.add_argument("--dataset", default=None, help="data set (default: the one the supernet was trained on)")
    search.add_argument("--data-dir", default=None,
                        help="the image folder's ROOT or torchvision's data folder (default: the one it was trained on)")
    _data.add_eval_data_options(search)
    search.add_argument("--out", required=True, help="output folder for history.csv and best.json")
    search.add_argument("--resume", action="store_true", help="continue an interrupted search in --out")
    search.add_argument("--overwrite", action="store_true", help="replace the results already in --out")
    _ray_options.add_options(search)
    _hardware.add_search_options(search, positive_int, positive_float)
    _fidelity.add_options(search, positive_int)
    _hardware.add_commands(sub, _common, positive_int, positive_float)
    _compare.add_commands(sub, _common, positive_int, positive_float)
    _import.add_commands(sub, _common)
    _ray_options.add_options(sub.choices["compare"])
    return parser


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("ray", "filelock", "matplotlib"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    if not args.verbose:
        _quiet_auth_notice()


class _DropAuthNotice(logging.Filter):
    """Drops Ray's notice that token authentication is on (and how to opt out): raynas keeps it on
    on purpose, so the notice is no news. Every other authentication message passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Token authentication is enabled for this Ray cluster")


def _quiet_auth_notice() -> None:
    notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if not any(isinstance(f, _DropAuthNotice) for f in notice.filters):
        notice.addFilter(_DropAuthNotice())


def _train_config(args: argparse.Namespace):
    from raynas.train import TrainConfig

    return TrainConfig(space=args.space, space_kwargs=_data.space_options(args.space_option),
                       augment=args.augment, loader_workers=args.loader_workers, val_images=args.val_images,
                       calib_images=args.calib_images, skip_corrupt=args.skip_corrupt, dataset=args.dataset, data_dir=args.data_dir, download=args.download,
                       method=args.method, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       num_workers=args.workers, use_gpu=args.gpu, seed=args.seed,
                       checkpoint_every=args.checkpoint_every, max_failures=args.max_failures,
                       phase_epochs=tuple(args.phase_epochs or ()), sampling=args.sampling, amp=args.amp,
                       stop_after_epoch=args.stop_after_epoch, teacher=args.teacher,
                       dna_candidates=args.dna_candidates)


def _check_names(args: argparse.Namespace) -> None:
    """Fail fast, before Ray starts, on unknown space, data set or strategy names."""
    import search_spaces

    from raynas.data import available as datasets

    if getattr(args, "space", None) is not None:
        search_spaces.get(args.space, **_data.space_options(getattr(args, "space_option", None)))
    dataset = getattr(args, "dataset", None)
    if dataset is not None and dataset not in datasets():
        raise RaynasError(f"unknown data set {dataset!r}; available: {', '.join(datasets())}")
    if getattr(args, "strategy", None) is not None:
        import strategies

        if args.strategy not in strategies.available():
            raise RaynasError(f"unknown strategy {args.strategy!r}; available: {', '.join(strategies.available())}")


def _fmt_arch(arch: dict[str, Any]) -> str:
    return json.dumps(arch, sort_keys=False)


def _cmd_train(args: argparse.Namespace) -> int:
    from raynas.train import train

    _check_names(args)
    out = args.out
    if args.resume:
        if out is not None and os.path.abspath(out) != os.path.abspath(args.resume):
            raise CliError(f"--resume {args.resume} and --out {out} name different folders; give one")
        out = args.resume
    if out is None:
        raise CliError("give --out DIR (a new run) or --resume DIR (continue one)")
    config = _train_config(args)
    _ray_options.logger_names(args)  # a missing logger library: refused before Ray starts
    _start_ray(args)
    with _ray_options.training_logger(args, Path(out)) as metrics_logger:
        result = train(config, out, resume=args.resume is not None, overwrite=args.overwrite,
                       storage_path=args.storage_path, address=args.address, on_epoch=metrics_logger.log)
    final = result.final_metrics
    print(f"supernet: {result.checkpoint}")
    print("final epoch: " + ", ".join(f"{k}={v:.4g}" for k, v in final.items() if isinstance(v, (int, float))))
    return 0


def _start_ray(args: argparse.Namespace) -> None:
    """Start or join Ray with the job's --runtime-env / --working-dir (training reaches Ray through this)."""
    env = _ray_options.runtime_env(args)
    if env is not None:
        from raynas._ray import init_ray

        init_ray(args.address, runtime_env=env)


def _resolve_budget(args: argparse.Namespace, out: Path, resume: bool) -> int:
    """--budget, or the budget a resumed search started with, or 100."""
    if args.budget is not None:
        return args.budget
    if resume:
        try:
            saved = json.loads((out / "search.json").read_text()).get("num_samples")
        except (OSError, ValueError):
            saved = None
        if isinstance(saved, int):
            return saved
    return 100


def _search(args: argparse.Namespace, checkpoint: str, out: Path, *, resume: bool, overwrite: bool):
    import raynas
    from raynas.checkpoint import open_checkpoint

    if getattr(args, "evaluator", "supernet") == "predictor":
        space, evaluator, table = _hardware.predictor_setup(args, checkpoint)
    else:
        space = open_checkpoint(checkpoint).space
        device = "cuda" if getattr(args, "gpus_per_trial", 0) else "cpu"
        evaluator = _data.supernet_evaluator(args, checkpoint, device=device, val_chunks=_fidelity.val_chunks(args))
        table = _hardware.load_table(args)
    constraints = raynas.Constraints(max_flops=getattr(args, "max_flops", None),
                                     max_params=getattr(args, "max_params", None),
                                     **_hardware.latency_constraint(args, table))
    args.budget = _resolve_budget(args, out, resume)
    options = _dna_options(checkpoint, args.budget) if args.strategy == "dna" else None
    return space, raynas.search(space, evaluator, strategy=args.strategy, num_samples=args.budget,
                                max_concurrent=args.concurrency, seed=args.seed, constraints=constraints,
                                out_dir=out, resume=resume, overwrite=overwrite, address=args.address,
                                progress=False if args.quiet else None, strategy_options=options,
                                archs_per_trial=getattr(args, "archs_per_trial", 1),
                                gpus_per_trial=getattr(args, "gpus_per_trial", 0.0),
                                storage_path=getattr(args, "storage_path", None),
                                scheduler=_fidelity.scheduler(args),
                                callbacks=_ray_options.search_callbacks(args, out),
                                runtime_env=_ray_options.runtime_env(args))


def _dna_options(checkpoint: str | None, budget: int) -> dict[str, Any]:
    """The dna strategy's options: the block table saved with ``checkpoint``, the top ``budget`` architectures."""
    from raynas.block_table import BlockTable
    from raynas.checkpoint import read_checkpoint

    if checkpoint is None:
        raise CliError("--strategy dna reads the block table from --checkpoint; give the folder of "
                       "`raynas train --method dna`")
    table = read_checkpoint(checkpoint)["meta"].get("block_table")
    if table is None:
        raise CliError(f"--strategy dna: checkpoint {checkpoint!r} holds no block table; train it with "
                       "`raynas train --method dna --teacher CHECKPOINT`")
    return {"block_losses": BlockTable.from_dict(table), "top_k": budget}


def _print_best(space, result) -> None:
    m = result.best_metrics
    print(f"best subnet: {_fmt_arch(result.best_arch)}")
    print(f"  accuracy {m.get('accuracy', float('nan')):.2f}%  loss {m.get('loss', float('nan')):.4f}  "
          f"FLOPs {space.flops(result.best_arch) / 1e6:.3f}M  params {space.params(result.best_arch) / 1e3:.1f}K")
    stopped = f", {result.num_stopped} stopped early" if result.num_stopped else ""
    print(f"  trials: {len(result.history)} ({result.num_failed} failed{stopped})")
    if result.num_stopped:
        print("  the best was evaluated on the whole validation set and re-checked (best.json)")


def _cmd_search(args: argparse.Namespace) -> int:
    args.space = None
    _check_names(args)
    _hardware.check_search_args(args)
    _fidelity.check(args, supernet=args.evaluator == "supernet")
    _ray_options.logger_names(args)  # a missing logger library: refused before Ray starts
    _ray_options.runtime_env(args)
    space, result = _search(args, args.checkpoint, Path(args.out), resume=args.resume, overwrite=args.overwrite)
    if args.evaluator == "predictor":
        print("accuracy below is the predictor's estimate")
    _print_best(space, result)
    if args.verify_top:
        _hardware.verify(args, space, result)
    print(f"results: {result.path}")
    if (result.path / "report.html").exists():
        print(f"report: {result.path / 'report.html'} (open it in a browser)")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from raynas.train import train

    _check_names(args)
    out = Path(args.out or os.path.join("runs", time.strftime("run-%Y%m%d-%H%M%S")))
    started = time.monotonic()
    config = _train_config(args)
    _ray_options.logger_names(args)
    _ray_options.runtime_env(args)
    _start_ray(args)
    with _ray_options.training_logger(args, out / "supernet") as metrics_logger:
        trained = train(config, out / "supernet", address=args.address, on_epoch=metrics_logger.log)
    train_s = time.monotonic() - started
    args.data_dir = args.data_dir
    space, result = _search(args, str(trained.checkpoint), out / "search", resume=False, overwrite=False)
    search_s = time.monotonic() - train_s - started
    final = trained.final_metrics
    print(f"trained supernet in {train_s:.0f}s: largest child {final.get('val_accuracy_largest', float('nan')):.2f}%, "
          f"smallest child {final.get('val_accuracy_smallest', float('nan')):.2f}% (validation)")
    import strategies

    used = f"{args.strategy} ({strategies.DEFAULT})" if args.strategy == "default" else args.strategy
    print(f"searched {len(result.history)} subnets with {used} in {search_s:.0f}s "
          f"({len(result.history) / max(search_s, 1e-9):.2f} trials/s)")
    _print_best(space, result)
    if (result.path / "report.html").exists():
        print(f"report: {(result.path / 'report.html').resolve()} (open it in a browser)")
    print(f"everything is in {out.resolve()}")
    return 0


_COMMANDS = {"run": _cmd_run, "train": _cmd_train, "search": _cmd_search,
             "latency": _hardware.cmd_latency, "predictor": _hardware.cmd_predictor, **_compare.COMMANDS, **_import.COMMANDS}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``raynas`` console script."""
    try:
        args = build_parser().parse_args(argv)
        _setup_logging(args)
        return _COMMANDS[args.command](args)
    except SearchFailed as exc:  # the search ran and found nothing: exit 1, not a usage error
        message = " ".join(str(exc).split())
        print(f"raynas: error: {message}", file=sys.stderr)
        return 1
    except (CliError, RaynasError, ValueError, TypeError, FileNotFoundError, NotImplementedError) as exc:
        message = " ".join(str(exc).split())
        print(f"raynas: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("raynas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
