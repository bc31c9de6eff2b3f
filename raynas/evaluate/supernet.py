"""Evaluating subnets with weights inherited from a trained supernet."""

from __future__ import annotations

import logging
import math
import os
import uuid
from typing import Any, Iterable, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from raynas.checks import check_bool, check_choice, check_positive_int
from raynas.checkpoint import load_supernet, open_checkpoint
from raynas.errors import ConfigError

__all__ = ["SupernetEvaluator", "evaluate_subnet", "evaluate_subnet_in_chunks", "calibration_batches",
           "check_data_for_checkpoint"]

logger = logging.getLogger(__name__)


def calibration_batches(dataset: TensorDataset, *, num_batches: int, batch_size: int, seed: int) -> list[torch.Tensor]:
    """A fixed, seeded set of training images for BN re-calibration."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=generator)
    images = dataset.tensors[0]
    return [images[order[i * batch_size : (i + 1) * batch_size]] for i in range(num_batches) if i * batch_size < len(order)]


@torch.no_grad()
def evaluate_subnet(
    net: torch.nn.Module,
    arch: Mapping[str, Any],
    *,
    calibration: Iterable[torch.Tensor],
    val_loader: DataLoader,
    device: torch.device | str = "cpu",
    bn_method: str = "torch",
) -> dict[str, float]:
    """Activate ``arch``, re-calibrate BN on ``calibration`` (``recalibrate_bn(..., method=bn_method)``),
    then measure validation accuracy and loss."""
    from raynas.nn import recalibrate_bn

    net.set_active(arch)
    recalibrate_bn(net, [x.to(device) for x in calibration], method=bn_method)
    net.eval()
    correct, total, loss_sum = 0, 0, 0.0
    for x, y in val_loader:
        x, y = x.to(device), y.to(device)
        logits = net(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(dim=1) == y).sum())
        total += len(y)
    return {"accuracy": 100.0 * correct / total, "loss": loss_sum / total}


@torch.no_grad()
def evaluate_subnet_in_chunks(
    net: torch.nn.Module,
    arch: Mapping[str, Any],
    *,
    calibration: Iterable[torch.Tensor],
    chunks: Iterable[Any],
    device: torch.device | str = "cpu",
    bn_method: str = "torch",
) -> Iterator[dict[str, float]]:
    """Activate ``arch``, re-calibrate BN once, then yield accuracy and loss over the images seen
    so far after each chunk (:meth:`raynas.data.EvalData.validation_chunks`), with
    ``fraction_evaluated``. Nothing after the chunk a caller stops at is read or computed."""
    from raynas.nn import recalibrate_bn

    net.set_active(arch)
    recalibrate_bn(net, [x.to(device) for x in calibration], method=bn_method)
    net.eval()
    correct, total, loss_sum = 0, 0, 0.0
    for chunk in chunks:
        for x, y in chunk.batches:
            x, y = x.to(device), y.to(device)
            logits = net(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(dim=1) == y).sum())
            total += len(y)
        if total == 0:
            raise ValueError("a validation chunk held no readable image")
        yield {"accuracy": 100.0 * correct / total, "loss": loss_sum / total, "fraction_evaluated": chunk.fraction}


# One loaded supernet and data set per worker process, reused across trials.
_CACHE: dict[tuple, Any] = {}


class SupernetEvaluator:
    """Evaluate an architecture with weights inherited from a trained supernet.

    The evaluator is a small picklable object; the supernet and data load lazily,
    once per worker process, and stay cached so reused Tune actors keep them.

    Each subnet's BN statistics are re-calibrated on a fixed, seeded subset of training
    images, then it is validated; for image folders both read images prepared at that
    subnet's resolution (resize to ``ceil(R/0.875)``, centre crop ``R``), see
    :class:`raynas.data.EvalData`.

    Args:
        checkpoint: a supernet file or a directory holding ``supernet.pt``.
        dataset: data set name (see ``raynas.data.available()``).
        calibration_batches: number of training batches used to re-calibrate BN
            (``calib_images`` overrides it).
        batch_size: batch size for calibration and validation.
        data_dir, seed: passed to ``raynas.data.load`` (the seed fixes the split).
        threads: torch threads in the evaluating process (None: leave as is).
        device: where the supernet runs.
        channels_last: keep the supernet's weights in NHWC memory format (convolutions then
            run channels-last whatever the input's layout; on the CPU about twice the
            evaluations per second of the default NCHW layout for these depthwise-heavy
            nets, see ``benchmarks/results/throughput.md``; equal results up to float
            rounding).
        bn_method: how BN statistics are re-estimated (``raynas.nn.BN_METHODS``: ``"torch"``
            or once-for-all's ``"ofa"``); None: what the checkpoint records (a supernet
            imported from once-for-all records ``"ofa"``), else ``"torch"``.
        val_chunks: split the validation images into this many chunks of a fixed, seeded
            order (:meth:`raynas.data.EvalData.validation_chunks`) and report the metrics
            after each (:meth:`evaluate_chunks`, the chunk protocol of
            :mod:`raynas.tune.fidelity`), so a Tune scheduler can stop a poor subnet early;
            1 (default): one pass in the plain order. Calling the evaluator always
            evaluates the whole set.
        calib_images: training images for BN re-calibration (once-for-all: 2,000).
        val_images: validate on a fixed, seeded subset of this many images (once-for-all
            searches on 10,000); None: all.
        loader_workers: ``DataLoader`` processes reading image folders (0: in the evaluating process).
        skip_corrupt: skip and count unreadable images of an image folder instead of failing.
        data: Dataset objects (:func:`raynas.data.from_datasets`) instead of a named data set.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        *,
        dataset: str = "digits",
        calibration_batches: int = 4,
        batch_size: int = 128,
        data_dir: str | None = None,
        seed: int = 0,
        threads: int | None = None,
        device: str = "cpu",
        channels_last: bool = True,
        bn_method: str | None = None,
        val_chunks: int = 1,
        calib_images: int | None = None,
        val_images: int | None = None,
        loader_workers: int = 0,
        skip_corrupt: bool = False,
        data: Any = None,
    ):
        from raynas.data import CUSTOM, Data
        from raynas.nn import BN_METHODS

        check_positive_int(None, "calibration_batches", calibration_batches)
        check_positive_int(None, "batch_size", batch_size)
        check_bool(None, "channels_last", channels_last)
        check_positive_int(None, "val_chunks", val_chunks)
        check_bool(None, "skip_corrupt", skip_corrupt)
        check_positive_int(None, "loader_workers", loader_workers, allow_zero=True)
        for name, value in (("calib_images", calib_images), ("val_images", val_images)):
            if value is not None:
                check_positive_int(None, name, value)
        if data is not None and not isinstance(data, Data):
            raise ConfigError(f"data must be a raynas.data.Data (raynas.data.from_datasets(...)), got {type(data).__name__}")
        if data is None and dataset == CUSTOM:
            raise ConfigError(f"dataset {CUSTOM!r} means Dataset objects: pass data=raynas.data.from_datasets(...)")
        self.checkpoint = os.path.abspath(os.fspath(checkpoint))  # workers run elsewhere
        self.dataset = data.name if data is not None else dataset
        self.data = data
        # Identifies ``data`` across pickling, so reused Tune actors keep their cached state.
        self._data_token = None if data is None else uuid.uuid4().hex
        self.calibration_batches = calibration_batches
        self.batch_size = batch_size
        self.data_dir = os.path.abspath(os.path.expanduser(data_dir)) if data_dir else None
        self.seed = seed
        self.threads = threads
        self.device = device
        self.channels_last = channels_last
        self.val_chunks = val_chunks
        self.calib_images = calib_images
        self.val_images = val_images
        self.loader_workers = loader_workers
        self.skip_corrupt = skip_corrupt
        # Fail early, in the driver, on a bad checkpoint, data set or channel count.
        saved = open_checkpoint(self.checkpoint)
        self._file = saved.path
        if bn_method is None:
            bn_method = saved.meta.get("bn_method", "torch")
        self.bn_method = check_choice(None, "bn_method", bn_method, BN_METHODS)
        check_data_for_checkpoint(saved.space, self.dataset, data_dir=self.data_dir, data=data,
                                  source=f"checkpoint {saved.path!r}")

    def _load_data(self) -> Any:
        from raynas.data import load

        if self.data is not None:
            return self.data
        return load(self.dataset, seed=self.seed, data_dir=self.data_dir, augment="none",
                    skip_corrupt=self.skip_corrupt)

    def _state(self) -> tuple[Any, Any]:
        from raynas.data import EvalData

        path = self.checkpoint
        key = (path, os.path.getmtime(self._file), self.dataset, self.data_dir, self._data_token, self.seed,
               self.calibration_batches, self.batch_size, self.device, self.channels_last, self.calib_images,
               self.val_images, self.loader_workers, self.skip_corrupt)  # val_chunks: per call
        if key not in _CACHE:
            _CACHE.clear()  # one supernet per process
            if self.threads:
                torch.set_num_threads(self.threads)
            net = load_supernet(path, map_location=self.device).to(self.device)
            if self.channels_last:
                net = net.to(memory_format=torch.channels_last)
            evaluation = EvalData(self._load_data(), calib_images=self.calib_images,
                                  calibration_batches=self.calibration_batches, batch_size=self.batch_size,
                                  val_images=self.val_images, seed=self.seed, workers=self.loader_workers)
            logger.debug("loaded supernet %s in process %d", path, os.getpid())
            _CACHE[key] = (net, evaluation)
        return _CACHE[key]

    @property
    def space(self):
        return self._state()[0].space

    @property
    def num_chunks(self) -> int:
        """How many results :meth:`evaluate_chunks` yields (``val_chunks``)."""
        return self.val_chunks

    def evaluate_chunks(self, arch: Mapping[str, Any]) -> Iterator[dict[str, float]]:
        """BN re-calibrated once, then the metrics over the images seen after each of ``val_chunks``
        chunks (the same images in the same order for every subnet), each with
        ``fraction_evaluated``; the last one is the whole validation set."""
        net, evaluation = self._state()
        arch = net.space.canonical(arch)
        resolution = int(net.space.input_shape(arch)[-1])
        costs = {"flops": float(net.space.flops(arch)), "params": float(net.space.params(arch))}
        for metrics in evaluate_subnet_in_chunks(net, arch, calibration=evaluation.calibration(resolution),
                                                 chunks=evaluation.validation_chunks(resolution, self.val_chunks),
                                                 device=self.device, bn_method=self.bn_method):
            if metrics["fraction_evaluated"] >= 1.0 and not math.isfinite(metrics["loss"]):
                logger.warning("non-finite validation loss for %s", arch)
            yield {**metrics, **costs}

    def __call__(self, arch: Mapping[str, Any]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for metrics in self.evaluate_chunks(arch):
            pass
        return metrics


def check_data_for_checkpoint(space: Any, dataset: str, *, data_dir: str | None = None, data: Any = None,
                              source: str = "the checkpoint") -> None:
    """Raise when ``dataset`` (or ``data``) cannot feed a supernet of ``space``: an unknown name, a
    bad image folder, or images of another channel count than the space takes."""
    from raynas.data import FOLDER_SETS, available, channels_of, scan_folder

    if data is None and dataset not in available():
        raise ConfigError(f"unknown data set {dataset!r}; available: {', '.join(available())}")
    if data is not None:
        channels = data.in_channels
    elif dataset in FOLDER_SETS:
        if data_dir is None:
            raise ConfigError(f"the supernet in {source} evaluates on {dataset!r}, an image folder: give --data-dir ROOT "
                              "(data_dir=; ROOT/train/<class>/*, ROOT/val/<class>/*) or another --dataset")
        scan_folder(data_dir)
        channels = 3
    else:
        channels = channels_of(dataset)
    wanted = int(space.input_shape(space.smallest())[0])
    if channels != wanted:
        raise ConfigError(f"data set {dataset!r} has {channels}-channel images but {source} (space {space.name!r}) "
                          f"takes in_channels={wanted}")
