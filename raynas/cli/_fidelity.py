"""``--early-stop`` and ``--val-chunks`` for ``raynas search`` and ``raynas compare``."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from raynas.errors import ConfigError
from raynas.tune.fidelity import EARLY_STOP

__all__ = ["add_options", "check", "val_chunks", "scheduler"]

DEFAULT_CHUNKS = 8


def add_options(p: argparse.ArgumentParser, positive_int: Callable[[str], int]) -> None:
    p.add_argument("--early-stop", choices=EARLY_STOP, default="none",
                   help="evaluate each subnet's validation set in chunks and let a Ray Tune scheduler stop poor "
                        "subnets early: asha (ASHA), hyperband (asynchronous HyperBand), median (median "
                        "stopping); the best is re-checked on the whole set (default: none)")
    p.add_argument("--val-chunks", type=positive_int, default=None, metavar="N",
                   help=f"validation chunks per subnet (default {DEFAULT_CHUNKS} with --early-stop, else 1)")


def check(args: argparse.Namespace, *, supernet: bool) -> None:
    """Refuse, before Ray starts, an early stop that cannot stop anything."""
    early = getattr(args, "early_stop", "none")
    if early == "none":
        return
    if not supernet:
        raise ConfigError(f"--early-stop {early} evaluates a supernet's validation set in chunks; it needs the "
                          "supernet evaluator (--checkpoint, not a predictor or a benchmark table)")
    if getattr(args, "archs_per_trial", 1) > 1:
        raise ConfigError(f"--early-stop {early} stops trials after a validation chunk; --archs-per-trial "
                          f"{args.archs_per_trial} evaluates several subnets per trial: use --archs-per-trial 1")
    if val_chunks(args) < 2:
        raise ConfigError(f"--early-stop {early} needs --val-chunks >= 2 (a subnet can only be stopped between "
                          f"chunks), got {args.val_chunks}")


def val_chunks(args: argparse.Namespace) -> int:
    if getattr(args, "val_chunks", None) is not None:
        return args.val_chunks
    return DEFAULT_CHUNKS if getattr(args, "early_stop", "none") != "none" else 1


def scheduler(args: argparse.Namespace) -> Any:
    """The scheduler name for ``raynas.search(scheduler=...)``, or None."""
    early = getattr(args, "early_stop", "none")
    return None if early == "none" else early
