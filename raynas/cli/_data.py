"""Data options shared by the commands that train on or evaluate with data, and the one place
a ``SupernetEvaluator`` is built from argv."""

from __future__ import annotations

import argparse
import json
from typing import Any

from raynas.cli._types import non_negative_int, positive_int

__all__ = ["add_train_data_options", "add_eval_data_options", "supernet_evaluator", "space_options",
           "DATASET_HELP"]

DATASET_HELP = ("data set: digits (embedded), synthetic, cifar10, cifar100, mnist, fashionmnist, folder (an image "
                "folder: --data-dir ROOT with ROOT/train/<class>/* and ROOT/val/<class>/*), imagenet (the same "
                "layout, ImageNet's recipe)")


def _space_option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. in_channels=3), got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value  # a plain string
    return key.strip(), parsed


def space_options(pairs: list[tuple[str, Any]] | None) -> dict[str, Any]:
    """``--space-option`` pairs as a dict; a key given twice is an error."""
    out: dict[str, Any] = {}
    for key, value in pairs or []:
        if key in out:
            from raynas.errors import ConfigError

            raise ConfigError(f"--space-option {key} given twice ({out[key]!r} and {value!r}); give it once")
        out[key] = value
    return out


def add_eval_data_options(p: argparse.ArgumentParser, *, loader_workers_default: int | None = 0) -> None:
    """``--val-images``, ``--calib-images``, ``--loader-workers``, ``--skip-corrupt``."""
    p.add_argument("--val-images", type=positive_int, default=None, metavar="N",
                   help="validate on a fixed, seeded subset of N validation images (default: all)")
    p.add_argument("--calib-images", type=positive_int, default=None, metavar="N",
                   help="training images for each subnet's BN re-calibration, a fixed seeded subset "
                        "(default: 4 batches; once-for-all uses 2000)")
    p.add_argument("--loader-workers", type=non_negative_int, default=loader_workers_default, metavar="N",
                   help="DataLoader processes reading image folders"
                        + (" (default: 2 for image folders, 0 for in-memory data)" if loader_workers_default is None
                           else f" (default {loader_workers_default}: in the evaluating process)"))
    p.add_argument("--skip-corrupt", action="store_true",
                   help="skip and count unreadable images of an image folder instead of failing")


def add_train_data_options(p: argparse.ArgumentParser, augments: tuple[str, ...]) -> None:
    """``--augment``, ``--space-option`` and the evaluation data options, for ``train`` and ``run``."""
    p.add_argument("--augment", default=None, choices=augments,
                   help="training recipe (default: standard for cifar and image folders, none otherwise): "
                        "standard = random crop (+pad 4) + flip for cifar, RandomResizedCrop + flip for folders; "
                        "autoaugment / randaugment add that policy")
    p.add_argument("--space-option", type=_space_option, action="append", default=None, metavar="KEY=VALUE",
                   help="a search-space argument, recorded in the checkpoint, e.g. in_channels=3 or "
                        "resolutions=[24,28,32] (VALUE is JSON, else a string); repeat for several")
    add_eval_data_options(p, loader_workers_default=None)


def supernet_evaluator(args: argparse.Namespace, checkpoint: str, *, device: str = "cpu", val_chunks: int = 1):
    """The ``SupernetEvaluator`` the command's data options describe; the data set and its folder
    default to those the checkpoint was trained on."""
    from raynas.evaluate.supernet import SupernetEvaluator
    from raynas.export import recorded_data
    from raynas.checkpoint import open_checkpoint

    saved = open_checkpoint(checkpoint)
    dataset, data_dir = recorded_data(saved, getattr(args, "dataset", None), getattr(args, "data_dir", None))
    return SupernetEvaluator(checkpoint, dataset=dataset or "digits", data_dir=data_dir, threads=1, device=device,
                             val_images=getattr(args, "val_images", None),
                             calib_images=getattr(args, "calib_images", None),
                             loader_workers=getattr(args, "loader_workers", None) or 0,
                             skip_corrupt=getattr(args, "skip_corrupt", False), val_chunks=val_chunks)
