"""DNA (Li et al. 2020): block-wise supernet training by distillation, and the block-loss table.

The space is cut into blocks (``space.blocks()``; for MobileNet spaces one per stage:
block 0 also runs the stem, the last also the head and classifier). A frozen *teacher*
gives its output at the end of every block. Block ``b`` of the student supernet learns to
reproduce the teacher's output of block ``b`` from the teacher's output of block ``b - 1``
(the images for block 0): one random candidate of the block per step, loss MSE (the
history also gives it divided by the variance of the teacher's block output). Blocks are independent, so each trains
as its own Ray task, at most ``num_workers`` at once; each writes its own checkpoint
(``out_dir/blocks/block_<b>.pt``, atomically, every epoch and during scoring), and a block
killed mid-run continues from it, by itself: Ray re-runs the task (``max_failures``
retries) or ``resume=True`` re-runs the blocks that did not finish.

After training every candidate of every block is scored, after BN re-calibration on
training inputs, by its validation MSE divided by the variance of the teacher's features
on the validation set (DNA's fair criterion). The candidates are enumerated when the
block has at most ``dna_candidates`` of them, else that many are sampled. The table
(:class:`raynas.block_table.BlockTable`, with each candidate's FLOPs and params) goes to
``block_table.json`` and into the metadata of ``supernet.pt``, the student supernet
assembled from the trained blocks.

Resolution is a block-0 choice: the student's block-0 output is resized (bilinear) to the
teacher's spatial size before the loss; later blocks take the teacher's features at the
teacher's resolution. A candidate narrower than the teacher's block output (elastic stage
widths) is compared with the teacher's first channels.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raynas._io import atomic_write
from raynas.block_table import BlockTable, block_candidates
from raynas.errors import ConfigError, InvalidCheckpoint
from raynas.train._base import lr_multiplier, sgd, untracked_bn_statistics
from raynas.train.config import TrainConfig
from raynas.train.outputs import SUPERNET_FILE, TrainResult, log_stopped, prepare_run, write_history

__all__ = ["BlockTeacher", "train_dna", "train_block", "teacher_features", "check_teacher", "block_forward",
           "score_block", "BLOCKS_DIR"]

logger = logging.getLogger(__name__)

BLOCKS_DIR = "blocks"
_SCORE_CHECKPOINT_S = 30.0  # scoring progress is checkpointed at most this often


# -- the teacher ---------------------------------------------------------------------------------
class BlockTeacher:
    """A frozen model that exposes its output at the end of every block.

    Args:
        module: any ``nn.Module``; it runs in eval mode, without gradients.
        boundaries: names (as in ``module.named_modules()``) of the submodules whose outputs
            end the blocks, in order; each must run exactly once per forward. The last is
            usually the classifier.

    Example::

        teacher = BlockTeacher(my_resnet, ["layer1", "layer2", "layer3", "fc"])
    """

    def __init__(self, module: nn.Module, boundaries: Sequence[str]):
        if not isinstance(module, nn.Module):
            raise ConfigError(f"BlockTeacher: module must be a torch.nn.Module, got {type(module).__name__}")
        if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence) or not boundaries:
            raise ConfigError(f"BlockTeacher: boundaries must be a non-empty list of submodule names, got {boundaries!r}")
        named = dict(module.named_modules())
        for name in boundaries:
            if name not in named or name == "":
                some = [n for n in named if n][:12]
                raise ConfigError(f"BlockTeacher: no submodule named {name!r} in the teacher; its submodules include "
                                  f"{some}")
        self.module = module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.boundaries = list(boundaries)
        self._named = named

    @property
    def num_blocks(self) -> int:
        return len(self.boundaries)

    @torch.no_grad()
    def block_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of every block for input ``x``, in block order."""
        captured: dict[str, list[torch.Tensor]] = {name: [] for name in self.boundaries}
        hooks = [self._named[name].register_forward_hook(
            lambda module, args, output, name=name: captured[name].append(output)) for name in self.boundaries]
        try:
            self.module.eval()
            self.module(x)
        finally:
            for hook in hooks:
                hook.remove()
        outputs = []
        for index, name in enumerate(self.boundaries):
            if len(captured[name]) != 1:
                raise ConfigError(f"BlockTeacher: block {index} boundary {name!r} ran {len(captured[name])} times in "
                                  "one forward; name a submodule that runs exactly once")
            if not isinstance(captured[name][0], torch.Tensor):
                raise ConfigError(f"BlockTeacher: block {index} boundary {name!r} returned a "
                                  f"{type(captured[name][0]).__name__}, not a tensor")
            outputs.append(captured[name][0].float())
        return outputs

    @classmethod
    def from_supernet(cls, source: Any, *, calibration: Sequence[torch.Tensor] | None = None) -> "BlockTeacher":
        """The largest subnet of a trained raynas MobileNet supernet (a checkpoint path or a supernet).

        With ``calibration`` batches, its BatchNorm statistics are re-calibrated first. Its
        blocks end at the last block of every stage and at the classifier.
        """
        from raynas.checkpoint import load_supernet
        from raynas.nn import recalibrate_bn

        net = load_supernet(source) if isinstance(source, (str, os.PathLike)) else source
        if not hasattr(net, "forward_stage"):
            raise ConfigError(f"teacher supernet of space {net.space.name!r} is a {type(net).__name__}; DNA needs a "
                              "MobileNet-family supernet (forward_stem/forward_stage/forward_head)")
        arch = net.space.largest()
        if calibration is not None:
            recalibrate_bn(net, calibration, arch=arch)
        config = net.space.decode(arch)
        subnet = net.extract(arch)
        offset = 0 if net.first_block is None else 1
        ends, total = [], offset
        for stage in config.stages[:-1]:
            total += stage.depth
            ends.append(f"blocks.{total - 1}")
        return cls(subnet, ends + ["classifier"])


# -- the student's blocks ------------------------------------------------------------------------
def _check_blockwise(net: Any) -> None:
    space = net.space
    if not all(hasattr(net, name) for name in ("forward_stem", "forward_stage", "forward_head")):
        raise ConfigError(f"method 'dna' needs a supernet that runs block by block (forward_stem/forward_stage/"
                          f"forward_head); space {space.name!r} builds a {type(net).__name__}")
    if len(space.blocks()) != len(net.stages):
        raise ConfigError(f"method 'dna': space {space.name!r} has {len(space.blocks())} blocks but its supernet "
                          f"{len(net.stages)} stages; DNA trains one block per stage")


def block_forward(net: Any, index: int, x: torch.Tensor) -> torch.Tensor:
    """Block ``index`` of the active subnet: (stem and) stage ``index`` (and the head for the last)."""
    if index == 0:
        x = net.forward_stem(x)
    x = net.forward_stage(index, x)
    if index == len(net.stages) - 1:
        x = net.forward_head(x)
    return x


class _Block(nn.Module):
    """One block of a supernet as a module (for BN re-calibration)."""

    def __init__(self, net: nn.Module, index: int):
        super().__init__()
        self.net = net
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return block_forward(self.net, self.index, x)


def _block_prefixes(net: Any, index: int) -> tuple[str, ...]:
    prefixes = [f"stages.{index}."]
    if index == 0:
        prefixes += ["stem.", "first_block."]
    if index == len(net.stages) - 1:
        prefixes += ["head.", "pooled.", "classifier."]
    return tuple(prefixes)


def _matched(output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize a spatial output to the target's size; compare a narrower output with the target's first channels."""
    if output.dim() == 4 and output.shape[-2:] != target.shape[-2:]:
        output = F.interpolate(output, size=list(target.shape[-2:]), mode="bilinear", align_corners=False)
    if output.shape[1] < target.shape[1]:
        target = target[:, : output.shape[1]]
    return output, target


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape[1:])


@torch.no_grad()
def check_teacher(teacher: BlockTeacher, net: Any, x: torch.Tensor) -> list[torch.Tensor]:
    """Check that the teacher's block outputs fit the student supernet's blocks; return them for ``x``.

    Block ``b`` of the largest student subnet, fed the teacher's output of block ``b - 1``
    (``x`` for block 0), must give the teacher's output shape of block ``b`` (block 0: the
    same channels; its spatial size is resized). Otherwise :class:`ConfigError` names the
    block and both shapes.
    """
    _check_blockwise(net)
    space = net.space
    groups = space.blocks()
    if teacher.num_blocks != len(groups):
        raise ConfigError(f"teacher has {teacher.num_blocks} blocks (boundaries {teacher.boundaries}), space "
                          f"{space.name!r} has {len(groups)} (space.blocks())")
    outputs = teacher.block_outputs(x)
    was_training = net.training
    net.eval()
    net.set_active(space.largest())
    own = x
    try:
        for index, target in enumerate(outputs):
            source = x if index == 0 else outputs[index - 1]
            where = f"teacher block {index} (keys {groups[index][:3]}{'...' if len(groups[index]) > 3 else ''})"
            own_out = block_forward(net, index, own)
            try:
                out = block_forward(net, index, source)
            except RuntimeError as exc:
                raise ConfigError(f"{where}: the student block expects an input of shape {_shape(own)}, the teacher's "
                                  f"block {index - 1} gives {_shape(source)}: {str(exc).splitlines()[0]}") from exc
            same = out.shape[1] == target.shape[1] if index == 0 else out.shape == target.shape
            if not same:
                raise ConfigError(f"{where}: the teacher's output has shape {_shape(target)}, the space's block gives "
                                  f"{_shape(out)}" + (" (channels must match)" if index == 0 else ""))
            own = own_out
    finally:
        net.train(was_training)
    return outputs


@torch.no_grad()
def teacher_features(teacher: BlockTeacher, images: torch.Tensor, *, batch_size: int = 256) -> list[torch.Tensor]:
    """The teacher's output of every block for ``images`` (float32, on the CPU)."""
    parts: list[list[torch.Tensor]] = []
    for start in range(0, len(images), batch_size):
        parts.append([o.cpu() for o in teacher.block_outputs(images[start : start + batch_size])])
    return [torch.cat([p[b] for p in parts]) for b in range(len(parts[0]))]


# -- one block: train, then score --------------------------------------------------------------
def _save(path: Path, state: dict[str, Any]) -> None:
    with atomic_write(path) as f:
        torch.save(state, f)


def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files
        raise InvalidCheckpoint(f"block checkpoint {str(path)!r} could not be read: {type(exc).__name__}: {exc}") from exc


def _block_state(net: nn.Module, prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items() if k.startswith(prefixes)}


def _variance(t: torch.Tensor) -> float:
    value = float(t.double().var(unbiased=False))
    return value if value > 0 else 1.0


@torch.no_grad()
def score_block(net: Any, index: int, arch: dict[str, Any], *, calibration: Sequence[torch.Tensor],
                val_inputs: torch.Tensor, val_targets: torch.Tensor, batch_size: int = 256) -> float:
    """Validation MSE of block ``index`` of ``arch`` against the teacher, after BN re-calibration."""
    from raynas.nn import recalibrate_bn

    net.set_active(arch)
    block = _Block(net, index)
    recalibrate_bn(block, calibration)
    block.eval()
    total, count = 0.0, 0
    for start in range(0, len(val_inputs), batch_size):
        out, target = _matched(block(val_inputs[start : start + batch_size]), val_targets[start : start + batch_size])
        total += float(F.mse_loss(out.float(), target, reduction="sum"))
        count += target.numel()
    return total / count


@dataclass
class _BlockRun:
    """One block's student supernet, optimizer and records, built by :func:`_build_block`."""

    config: TrainConfig
    index: int
    path: Path
    space: Any
    net: Any
    prefixes: tuple[str, ...]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    device: torch.device
    memory_format: torch.memory_format
    teacher_variance: float
    history: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)

    def save(self, epoch: int) -> None:
        _save(self.path, {"block": self.index, "epoch": epoch, "state_dict": _block_state(self.net, self.prefixes),
                          "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                          "history": self.history, "scores": self.scores, "teacher_variance": self.teacher_variance})

    def result(self, *, done: bool) -> dict[str, Any]:
        return {"history": self.history, "scores": self.scores, "teacher_variance": self.teacher_variance,
                "done": done}


def train_block(
    config: TrainConfig,
    index: int,
    *,
    train_inputs: torch.Tensor,
    train_targets: torch.Tensor,
    val_inputs: torch.Tensor,
    val_targets: torch.Tensor,
    checkpoint: str | os.PathLike,
    num_classes: int,
) -> dict[str, Any]:
    """Train block ``index`` of the student supernet, then score its candidates; resumable.

    The checkpoint file holds the block's weights, optimizer, schedule, epoch, history and
    the scores so far; an existing one is continued. Returns ``{"history", "scores",
    "teacher_variance", "done"}`` (``done`` is False when ``config.stop_after_epoch``
    stopped it before the last epoch).
    """
    torch.set_num_threads(config.threads_per_worker)
    run = _build_block(config, index, Path(checkpoint), num_classes, len(train_inputs), _variance(val_targets))
    start_epoch = _restore_block(run)
    train_variance = _variance(train_targets)
    stop = config.epochs if config.stop_after_epoch is None else min(config.stop_after_epoch, config.epochs)
    for epoch in range(start_epoch, stop):
        started = time.perf_counter()
        loss = _train_block_epoch(run, epoch, train_inputs, train_targets)
        row = {"block": index, "epoch": epoch + 1, "loss": loss, "normalized_loss": loss / train_variance,
               "lr": run.scheduler.get_last_lr()[0], "epoch_time_s": time.perf_counter() - started,
               "resumed_from_epoch": start_epoch}
        run.history.append(row)
        run.save(epoch + 1)
        logger.info("block %d epoch %d/%d loss=%.4g (%.1fs)", index, epoch + 1, config.epochs, loss,
                    row["epoch_time_s"])
    if stop < config.epochs:
        return run.result(done=False)
    _score_candidates(run, train_inputs, val_inputs, val_targets)
    return run.result(done=True)


def _build_block(config: TrainConfig, index: int, path: Path, num_classes: int, num_train: int,
                 teacher_variance: float) -> _BlockRun:
    """The student supernet (the same initial weights in every block task) and this block's optimizer."""
    import search_spaces

    device = torch.device("cuda") if config.use_gpu else torch.device("cpu")
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    space = search_spaces.get(config.space, **config.space_kwargs)
    torch.manual_seed(config.seed)
    net = space.build_supernet(num_classes=num_classes)
    _check_blockwise(net)
    net.to(device=device, memory_format=memory_format)
    prefixes = _block_prefixes(net, index)
    optimizer = sgd(config, [(n, p) for n, p in net.named_parameters() if n.startswith(prefixes)])
    steps_per_epoch = max(1, math.ceil(num_train / config.batch_size))
    total_steps = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_multiplier(step, total_steps, config, steps_per_epoch))
    return _BlockRun(config=config, index=index, path=path, space=space, net=net, prefixes=prefixes,
                     optimizer=optimizer, scheduler=scheduler, device=device, memory_format=memory_format,
                     teacher_variance=teacher_variance)


def _restore_block(run: _BlockRun) -> int:
    """Continue from the block's checkpoint file if there is one; return the first epoch to train."""
    state = _load(run.path)
    if state is None:
        return 0
    run.net.load_state_dict(state["state_dict"], strict=False)
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.history, run.scores = list(state["history"]), list(state["scores"])
    logger.info("block %d: resuming from epoch %d (%d candidates scored)", run.index, int(state["epoch"]),
                len(run.scores))
    return int(state["epoch"])


def _train_block_epoch(run: _BlockRun, epoch: int, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """One epoch: per batch one random candidate learns the teacher's block output (MSE); the mean loss.

    Steps with a non-finite loss are skipped; more than ``max_nonfinite_steps`` in a row raise.
    """
    config, net = run.config, run.net
    torch.manual_seed(config.seed * 100_003 + epoch * 1_009 + run.index)
    rng = random.Random(f"{config.seed}/{run.index}/{epoch}")
    order = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(config.seed * 7919 + epoch))
    net.train()
    loss_sum, steps, nonfinite = 0.0, 0, 0
    with untracked_bn_statistics(net):
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            x = inputs[batch].to(run.device)
            x = x.contiguous(memory_format=run.memory_format) if x.dim() == 4 else x
            net.set_active(run.space.sample(rng))
            run.optimizer.zero_grad(set_to_none=True)
            out, target = _matched(block_forward(net, run.index, x), targets[batch].to(run.device))
            loss = F.mse_loss(out.float(), target)
            if not torch.isfinite(loss).item():
                nonfinite += 1
                if nonfinite > config.max_nonfinite_steps:
                    raise FloatingPointError(f"block {run.index}: {nonfinite} non-finite losses in a row "
                                             f"(max_nonfinite_steps={config.max_nonfinite_steps}) at epoch "
                                             f"{epoch + 1}; lower the learning rate")
                run.scheduler.step()
                continue
            nonfinite = 0
            loss.backward()
            run.optimizer.step()
            run.scheduler.step()
            loss_sum += float(loss.item())
            steps += 1
    return loss_sum / max(steps, 1)


def _score_candidates(run: _BlockRun, train_inputs: torch.Tensor, val_inputs: torch.Tensor,
                      val_targets: torch.Tensor) -> None:
    """Score the block's candidates not scored yet (see :func:`score_block`), checkpointing as it goes."""
    config, index, space = run.config, run.index, run.space
    candidates = block_candidates(space, index, max_candidates=config.dna_candidates, seed=config.seed + index)
    picks = torch.randperm(len(train_inputs), generator=torch.Generator().manual_seed(config.seed))
    calibration = [train_inputs[picks[i : i + config.batch_size]].to(run.device)
                   for i in range(0, min(len(picks), 4 * config.batch_size), config.batch_size)]
    val_x, val_y = val_inputs.to(run.device), val_targets.to(run.device)
    base = space.smallest()
    last_save = time.monotonic()
    for position in range(len(run.scores), len(candidates)):
        arch = space.canonical({**base, **candidates[position]})
        mse = score_block(run.net, index, arch, calibration=calibration, val_inputs=val_x, val_targets=val_y)
        run.scores.append({"arch": dict(candidates[position]), "mse": mse, "loss": mse / run.teacher_variance})
        if time.monotonic() - last_save > _SCORE_CHECKPOINT_S or position + 1 == len(candidates):
            run.save(config.epochs)
            last_save = time.monotonic()
            logger.info("block %d: scored %d/%d candidates", index, position + 1, len(candidates))
    if not candidates:
        run.save(config.epochs)


def _block_task(config_dict: dict[str, Any], index: int, inputs: np.ndarray, targets: np.ndarray,
                val_inputs: np.ndarray, val_targets: np.ndarray, checkpoint: str, num_classes: int) -> dict[str, Any]:
    """The Ray task of one block (numpy arrays arrive through the object store)."""
    as_tensor: Callable[[np.ndarray], torch.Tensor] = lambda a: torch.from_numpy(np.array(a))  # noqa: E731 - writable copy
    return train_block(TrainConfig.from_dict(config_dict), index, train_inputs=as_tensor(inputs),
                       train_targets=as_tensor(targets), val_inputs=as_tensor(val_inputs),
                       val_targets=as_tensor(val_targets), checkpoint=checkpoint, num_classes=num_classes)


# -- the job -------------------------------------------------------------------------------------
def _check_setup(config: TrainConfig, teacher: BlockTeacher | None) -> None:
    import search_spaces
    from raynas.checkpoint import read_checkpoint

    if teacher is None and config.teacher is None:
        raise ConfigError("method 'dna' needs a teacher: TrainConfig.teacher (--teacher) is None; give a trained "
                          "supernet checkpoint, or pass teacher=BlockTeacher(...)")
    if teacher is None:
        read_checkpoint(config.teacher)
    _check_blockwise(search_spaces.get(config.space, **config.space_kwargs).build_supernet())


def train_dna(
    config: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    teacher: BlockTeacher | None = None,
    resume: bool = False,
    overwrite: bool = False,
    address: str | None = None,
) -> TrainResult:
    """Train the supernet of ``config.space`` block-wise against a teacher, as parallel Ray tasks.

    ``teacher`` defaults to the largest subnet of the supernet checkpoint ``config.teacher``
    (BN re-calibrated on training images). ``out_dir`` receives ``blocks/block_<b>.pt``
    (each block's checkpoint), ``train_history.csv`` (one row per block and epoch),
    ``train_config.json``, and once every block is done ``block_table.json`` and
    ``supernet.pt`` (the student supernet, the table in its metadata). ``resume=True``
    continues the run in ``out_dir`` with its saved configuration: finished blocks are
    kept, the others continue from their checkpoints. Returns a
    :class:`raynas.train.TrainResult`.
    """
    import search_spaces
    from raynas.data import load
    from raynas.evaluate.supernet import calibration_batches

    if config.method != "dna":
        raise ConfigError(f"train_dna needs TrainConfig.method='dna', got {config.method!r}")
    if teacher is not None and not isinstance(teacher, BlockTeacher):
        raise ConfigError(f"teacher must be a raynas.train.BlockTeacher or None, got {type(teacher).__name__}")
    if not resume:
        _check_setup(config, teacher)  # bad input fails before anything is written
        from raynas.train.inputs import check_training_input

        check_training_input(config)
    out, config = prepare_run(config, out_dir, resume=resume, overwrite=overwrite)
    if resume:
        _check_setup(config, teacher)

    data = load(config.dataset, seed=config.seed, data_dir=config.data_dir, download=config.download, augment="none")
    torch.manual_seed(config.seed)
    net = search_spaces.get(config.space, **config.space_kwargs).build_supernet(num_classes=data.num_classes)
    _check_blockwise(net)
    if teacher is None:
        calib = calibration_batches(data.train, num_batches=4, batch_size=config.batch_size, seed=config.seed)
        teacher = BlockTeacher.from_supernet(config.teacher, calibration=calib)
    results = _run_blocks(config, out, teacher, net, data, address)

    history = sorted((row for r in results for row in r["history"]), key=lambda r: (r["epoch"], r["block"]))
    write_history(out, history)
    epochs_done = min(len(r["history"]) for r in results)
    if all(r["done"] for r in results):
        _assemble(config, out, teacher, net, results)
    else:
        log_stopped(out, epochs_done, config.epochs)
    return TrainResult(out_dir=out, checkpoint=out / SUPERNET_FILE, history=history, epochs_done=epochs_done)


def _run_blocks(config: TrainConfig, out: Path, teacher: BlockTeacher, net: Any, data: Any,
                address: str | None) -> list[dict[str, Any]]:
    """Every block's :func:`train_block` as a Ray task, at most ``num_workers`` at once; their results in block order."""
    import ray

    from raynas._ray import init_ray

    train_images, val_images = data.train.tensors[0], data.val.tensors[0]
    check_teacher(teacher, net, train_images[:8])
    started = time.perf_counter()
    train_features = teacher_features(teacher, train_images)
    val_features = teacher_features(teacher, val_images)
    logger.info("teacher features of %d + %d images for %d blocks in %.1fs", len(train_images), len(val_images),
                len(train_features), time.perf_counter() - started)
    init_ray(address)
    refs = [ray.put(t.numpy()) for t in [train_images] + train_features[:-1]]
    val_refs = [ray.put(t.numpy()) for t in [val_images] + val_features[:-1]]
    target_refs = [ray.put(t.numpy()) for t in train_features]
    val_target_refs = [ray.put(t.numpy()) for t in val_features]
    blocks_dir = out / BLOCKS_DIR
    blocks_dir.mkdir(exist_ok=True)
    task = ray.remote(_block_task).options(
        num_cpus=config.threads_per_worker, num_gpus=1 if config.use_gpu else 0, max_retries=config.max_failures,
        retry_exceptions=False, name="raynas_dna_block")
    num_blocks = len(train_features)
    pending = list(range(num_blocks))
    running: dict[Any, int] = {}
    results: dict[int, dict[str, Any]] = {}
    logger.info("training %d blocks of %s with DNA on %s, %d at once", num_blocks, config.space, config.dataset,
                config.num_workers)
    while pending or running:
        while pending and len(running) < config.num_workers:
            index = pending.pop(0)
            ref = task.remote(config.to_dict(), index, refs[index], target_refs[index], val_refs[index],
                              val_target_refs[index], str((blocks_dir / f"block_{index}.pt").resolve()),
                              data.num_classes)
            running[ref] = index
        done, _ = ray.wait(list(running), num_returns=1)
        index = running.pop(done[0])
        try:
            results[index] = ray.get(done[0])
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), (ValueError, FloatingPointError)) else None
            if cause is not None:
                raise cause from exc
            raise
        last = results[index]["history"][-1] if results[index]["history"] else {}
        logger.info("block %d finished: loss %.4g, %d candidates scored (%d of %d blocks done)", index,
                    last.get("loss", float("nan")), len(results[index]["scores"]), len(results), num_blocks)
    return [results[i] for i in range(num_blocks)]


def _assemble(config: TrainConfig, out: Path, teacher: BlockTeacher, net: Any, results: list[dict[str, Any]]) -> None:
    """The student supernet from every block's weights, and the block table, into ``out``."""
    for index in range(len(results)):
        state = _load(out / BLOCKS_DIR / f"block_{index}.pt")
        net.load_state_dict(state["state_dict"], strict=False)
    table = BlockTable.from_losses(net.space, [[(s["arch"], s["loss"]) for s in r["scores"]] for r in results],
                                   teacher_variance=[r["teacher_variance"] for r in results],
                                   meta={"teacher": None if config.teacher is None else os.path.abspath(config.teacher),
                                         "teacher_boundaries": teacher.boundaries, "dataset": config.dataset,
                                         "epochs": config.epochs, "max_candidates": config.dna_candidates})
    for block, r in zip(table.blocks, results):
        for row, score in zip(block, r["scores"]):
            row["mse"] = score["mse"]
    table.save(out / "block_table.json")
    net.save(out / SUPERNET_FILE, train_config=config.to_dict(), epoch=config.epochs, block_table=table.to_dict())
    logger.info("block table (%d candidates) and supernet written to %s", table.num_candidates, out)
