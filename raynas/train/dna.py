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

import json
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raynas._io import atomic_write
from raynas._outdir import prepare_out_dir
from raynas.block_table import BlockTable, block_candidates
from raynas.errors import ConfigError, InvalidCheckpoint
from raynas.train._base import decay_multiplier, untracked_bn_statistics
from raynas.train.config import TrainConfig

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
        from raynas.nn import Supernet, recalibrate_bn

        net = Supernet.load(source) if isinstance(source, (str, os.PathLike)) else source
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
    import search_spaces

    path = Path(checkpoint)
    torch.set_num_threads(config.threads_per_worker)
    device = torch.device("cuda") if config.use_gpu else torch.device("cpu")
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    space = search_spaces.get(config.space, **config.space_kwargs)
    torch.manual_seed(config.seed)  # every block task builds the same initial supernet
    net = space.build_supernet(num_classes=num_classes)
    _check_blockwise(net)
    net.to(device=device, memory_format=memory_format)
    prefixes = _block_prefixes(net, index)
    named = [(n, p) for n, p in net.named_parameters() if n.startswith(prefixes)]
    decay = [p for n, p in named if p.ndim in (2, 4) and "transform" not in n]
    rest = [p for n, p in named if not (p.ndim in (2, 4) and "transform" not in n)]
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                                 {"params": rest, "weight_decay": 0.0}], lr=config.lr, momentum=config.momentum,
                                nesterov=config.momentum > 0)
    steps_per_epoch = max(1, math.ceil(len(train_inputs) / config.batch_size))
    total_steps = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: decay_multiplier(
        step, total_steps, warmup_steps=int(config.warmup_epochs * steps_per_epoch), floor=config.lr_floor,
        decay_fraction=config.lr_decay_fraction))
    train_variance, val_variance = _variance(train_targets), _variance(val_targets)
    state = _load(path)
    start_epoch, history, scores = 0, [], []
    if state is not None:
        net.load_state_dict(state["state_dict"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, history, scores = int(state["epoch"]), list(state["history"]), list(state["scores"])
        logger.info("block %d: resuming from epoch %d (%d candidates scored)", index, start_epoch, len(scores))

    def save(epoch: int) -> None:
        _save(path, {"block": index, "epoch": epoch, "state_dict": _block_state(net, prefixes),
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "history": history,
                     "scores": scores, "teacher_variance": val_variance})

    stop = config.epochs if config.stop_after_epoch is None else min(config.stop_after_epoch, config.epochs)
    nonfinite = 0
    for epoch in range(start_epoch, stop):
        started = time.perf_counter()
        torch.manual_seed(config.seed * 100_003 + epoch * 1_009 + index)
        rng = random.Random(f"{config.seed}/{index}/{epoch}")
        order = torch.randperm(len(train_inputs), generator=torch.Generator().manual_seed(config.seed * 7919 + epoch))
        net.train()
        loss_sum, steps = 0.0, 0
        with untracked_bn_statistics(net):
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                x = train_inputs[batch].to(device)
                x = x.contiguous(memory_format=memory_format) if x.dim() == 4 else x
                y = train_targets[batch].to(device)
                net.set_active(space.sample(rng))
                optimizer.zero_grad(set_to_none=True)
                out, target = _matched(block_forward(net, index, x), y)
                loss = F.mse_loss(out.float(), target)
                if not torch.isfinite(loss).item():
                    nonfinite += 1
                    if nonfinite > config.max_nonfinite_steps:
                        raise FloatingPointError(f"block {index}: {nonfinite} non-finite losses in a row "
                                                 f"(max_nonfinite_steps={config.max_nonfinite_steps}) at epoch "
                                                 f"{epoch + 1}; lower the learning rate")
                    scheduler.step()
                    continue
                nonfinite = 0
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += float(loss.item())
                steps += 1
        row = {"block": index, "epoch": epoch + 1, "loss": loss_sum / max(steps, 1),
               "normalized_loss": loss_sum / max(steps, 1) / train_variance, "lr": scheduler.get_last_lr()[0],
               "epoch_time_s": time.perf_counter() - started, "resumed_from_epoch": start_epoch}
        history.append(row)
        save(epoch + 1)
        logger.info("block %d epoch %d/%d loss=%.4g (%.1fs)", index, epoch + 1, config.epochs, row["loss"],
                    row["epoch_time_s"])
    if stop < config.epochs:
        return {"history": history, "scores": scores, "teacher_variance": val_variance, "done": False}

    candidates = block_candidates(space, index, max_candidates=config.dna_candidates, seed=config.seed + index)
    generator = torch.Generator().manual_seed(config.seed)
    picks = torch.randperm(len(train_inputs), generator=generator)
    calibration = [train_inputs[picks[i : i + config.batch_size]].to(device)
                   for i in range(0, min(len(picks), 4 * config.batch_size), config.batch_size)]
    val_x, val_y = val_inputs.to(device), val_targets.to(device)
    base = space.smallest()
    last_save = time.monotonic()
    for position in range(len(scores), len(candidates)):
        arch = space.canonical({**base, **candidates[position]})
        mse = score_block(net, index, arch, calibration=calibration, val_inputs=val_x, val_targets=val_y)
        scores.append({"arch": dict(candidates[position]), "mse": mse, "loss": mse / val_variance})
        if time.monotonic() - last_save > _SCORE_CHECKPOINT_S or position + 1 == len(candidates):
            save(config.epochs)
            last_save = time.monotonic()
            logger.info("block %d: scored %d/%d candidates", index, position + 1, len(candidates))
    if not candidates:
        save(config.epochs)
    return {"history": history, "scores": scores, "teacher_variance": val_variance, "done": True}


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
    from raynas.nn import Supernet

    if teacher is None and config.teacher is None:
        raise ConfigError("method 'dna' needs a teacher: TrainConfig.teacher (--teacher) is None; give a trained "
                          "supernet checkpoint, or pass teacher=BlockTeacher(...)")
    if teacher is None:
        Supernet.read_checkpoint(config.teacher)
    _check_blockwise(search_spaces.get(config.space, **config.space_kwargs).build_supernet())


def train_dna(
    config: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    teacher: BlockTeacher | None = None,
    resume: bool = False,
    overwrite: bool = False,
    address: str | None = None,
):
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
    import ray

    import search_spaces
    from raynas._ray import init_ray
    from raynas.data import load
    from raynas.evaluate.supernet import calibration_batches
    from raynas.train.job import TrainResult, _write_history

    if config.method != "dna":
        raise ConfigError(f"train_dna needs TrainConfig.method='dna', got {config.method!r}")
    if teacher is not None and not isinstance(teacher, BlockTeacher):
        raise ConfigError(f"teacher must be a raynas.train.BlockTeacher or None, got {type(teacher).__name__}")
    if not resume:
        _check_setup(config, teacher)  # bad input fails before anything is written
    out = prepare_out_dir(out_dir, resume=resume, overwrite=overwrite, marker="train_config.json")
    if resume:
        saved = TrainConfig.from_dict({**json.loads((out / "train_config.json").read_text()),
                                       "stop_after_epoch": config.stop_after_epoch})
        if saved != config:
            logger.info("resuming %s with its saved configuration", out)
        config = saved
        _check_setup(config, teacher)
    (out / "train_config.json").write_text(json.dumps({**config.to_dict(), "stop_after_epoch": None}, indent=2))

    data = load(config.dataset, seed=config.seed, data_dir=config.data_dir, download=config.download)
    space = search_spaces.get(config.space, **config.space_kwargs)
    torch.manual_seed(config.seed)
    net = space.build_supernet(num_classes=data.num_classes)
    _check_blockwise(net)
    if teacher is None:
        calib = calibration_batches(data.train, num_batches=4, batch_size=config.batch_size, seed=config.seed)
        teacher = BlockTeacher.from_supernet(config.teacher, calibration=calib)
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

    history = sorted((row for r in results.values() for row in r["history"]), key=lambda r: (r["epoch"], r["block"]))
    _write_history(out / "train_history.csv", history)
    epochs_done = min(len(r["history"]) for r in results.values())
    if not all(r["done"] for r in results.values()):
        logger.info("stopped after epoch %d of %d; `raynas train --resume %s` continues", epochs_done, config.epochs,
                    out)
        return TrainResult(out_dir=out, checkpoint=out / "supernet.pt", history=history, epochs_done=epochs_done)

    for index in range(num_blocks):
        state = _load(blocks_dir / f"block_{index}.pt")
        net.load_state_dict(state["state_dict"], strict=False)
    variance = [results[i]["teacher_variance"] for i in range(num_blocks)]
    table = BlockTable.from_losses(net.space, [[(s["arch"], s["loss"]) for s in results[i]["scores"]]
                                               for i in range(num_blocks)],
                                   teacher_variance=variance,
                                   meta={"teacher": None if config.teacher is None else os.path.abspath(config.teacher),
                                         "teacher_boundaries": teacher.boundaries, "dataset": config.dataset,
                                         "epochs": config.epochs, "max_candidates": config.dna_candidates})
    for i, block in enumerate(table.blocks):
        for row, score in zip(block, results[i]["scores"]):
            row["mse"] = score["mse"]
    table.save(out / "block_table.json")
    net.save(out / "supernet.pt", train_config=config.to_dict(), epoch=config.epochs, block_table=table.to_dict())
    logger.info("block table (%d candidates) and supernet written to %s", table.num_candidates, out)
    return TrainResult(out_dir=out, checkpoint=out / "supernet.pt", history=history, epochs_done=config.epochs)
