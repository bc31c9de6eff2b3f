"""GPU checks and figures: the CUDA path of training, evaluation, NCCL and latency, on one device.

Each check runs what a user runs, on ``cuda``, and compares it with the CPU where there is a
reference to compare with:

(a) ``train_in_process`` (one worker, no Ray) of ``tiny`` on ``digits`` for each of
    ``sandwich``, ``progressive`` and ``uniform``, with and without ``amp`` (float16 with a
    gradient scaler on CUDA), beside the same ``sandwich`` run on the CPU: every epoch's
    losses finite, no step skipped for non-finite values, and the largest subnet's final
    validation accuracy within ``--tolerance`` points of the CPU run's.
(b) DNA: ``train_block`` for each block of ``tiny`` against a random teacher on ``cuda``
    (full precision: the method does not take ``amp``): finite block losses.
(c) ``SupernetEvaluator`` on ``cuda`` against the same evaluator on the CPU, for the
    largest, the smallest and random subnets of the supernet (a): the largest accuracy
    difference, in points (one image of the validation set is 100 / its size).
(d) NCCL: a one-rank ``nccl`` process group and the loop's gradient all-reduce
    (``_all_reduce_gradients``) leave every gradient as it was. One GPU cannot hold two
    NCCL ranks, so averaging across ranks is not exercised here.
(e) Latency on ``cuda``: ``measure_table_and_subnets`` for ``ofa-mbv3`` at 224 px, batch
    1: the table's prediction against each subnet timed whole (mean relative error and
    Kendall's tau over ``--subnets`` random subnets).
(f) Throughput at paper resolution: the training loop's own step (``_train_step``: the
    method's forward and backward passes, the optimizer step) of ``ofa-mbv3`` at 224 px,
    batch ``--batch-size`` of random images already on the GPU, for ``sandwich`` (largest +
    smallest + 2 random, in-place distillation) and ``uniform`` (one random subnet, SPOS),
    in full precision and with ``amp``: images per second and peak GPU memory.
(g) Where a ``sandwich`` step's time goes (``tiny`` on ``digits``, or ``--diagnose-space
    ofa-mbv3`` at 224 px): seconds per step, step
    by step, as trained and with dropout off, without random children, without
    channels-last, with ``cudnn.benchmark`` on, with the same four subnets every step (is
    the cost paid once per new subnet shape?), and without the zero initialisation of
    residual blocks' last BN (is it the values?); one step profiled (``torch.profiler``).

Usage::

    python benchmarks/gpu.py [--quick] [--out benchmarks/results/gpu.md]
    python benchmarks/gpu.py --parts diagnose --out /tmp/diagnose.md   # (g) alone, a few minutes

While a sandwich step is as slow on CUDA as ``results/gpu.md`` measured, (f) at its defaults
takes over ten minutes: run ``--parts train dna evaluate nccl latency`` and ``--parts diagnose
throughput --steps 3 --batch-size 32`` as separate commands.

It exits 1 if a check fails and 2 if torch sees no CUDA device.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import random
import socket
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import torch  # noqa: E402

from _records import command_line, load_average, machine  # noqa: E402

logger = logging.getLogger("benchmarks.gpu")


class Report:
    """The checks' outcomes and the figures, in the order they ran."""

    def __init__(self) -> None:
        self.checks: list[tuple[str, bool, str]] = []
        self.sections: list[list[str]] = []

    def run(self, name: str, fn: Callable[[], tuple[bool, str, list[str]]]) -> None:
        started = time.perf_counter()
        try:
            ok, detail, lines = fn()
        except Exception as exc:  # a check that raises has failed; the others still run
            ok, detail, lines = False, f"raised {type(exc).__name__}: {exc}", ["```", traceback.format_exc(), "```"]
        seconds = time.perf_counter() - started
        self.checks.append((name, ok, f"{detail} ({seconds:.0f} s)"))
        self.sections.append([f"## {name}", ""] + lines + [""])
        logger.info("%s: %s: %s", "ok" if ok else "FAILED", name, detail)


def _train_config(**overrides: Any):
    from raynas.train import TrainConfig

    values = {"space": "tiny", "dataset": "digits", "batch_size": 64, "epochs": 6, "seed": 0,
              "threads_per_worker": 4, **overrides}
    return TrainConfig(**values)


def part_train(args: argparse.Namespace, work: Path, state: dict[str, Any]) -> tuple[bool, str, list[str]]:
    from raynas.train.loop import train_in_process

    dev = args.device
    runs = [("cpu", "sandwich", False)] + [(dev, m, amp) for m in ("sandwich", "progressive", "uniform")
                                           for amp in (False, True)]
    rows, problems, results = [], [], {}
    for device, method, amp in runs:
        config = _train_config(method=method, amp=amp, use_gpu=device == "cuda",
                               epochs=max(args.epochs, 6) if method == "progressive" else args.epochs)
        folder = work / f"train-{len(results)}-{device}-{method}-{'amp' if amp else 'fp32'}"
        started = time.perf_counter()
        history = train_in_process(config, folder)
        seconds = time.perf_counter() - started
        last = history[-1]
        finite = all(math.isfinite(v) for row in history for k, v in row.items()
                     if (k.startswith("loss") or k.startswith("val_loss")) and isinstance(v, float))
        skipped = sum(int(row.get("skipped_steps", 0)) for row in history)
        results[(len(results), device, method, amp)] = last
        if not finite:
            problems.append(f"{device} {method} amp={amp}: a non-finite loss")
        # float16's gradient scaler skips a step whenever its scale overflows (its first steps,
        # and after a jump in the loss): expected, and counted; in full precision none may be.
        if skipped and not (amp and device == "cuda" and skipped <= args.max_scaler_skips):
            problems.append(f"{device} {method} amp={amp}: {skipped} steps skipped")
        rows.append(f"| {device} | {method} | {_precision(device, amp)} | "
                    f"{last['val_accuracy_largest']:.2f} | {last['val_accuracy_smallest']:.2f} | "
                    f"{last['val_loss_largest']:.4f} | {skipped} | {history[0]['epoch_time_s']:.2f} | "
                    f"{history[-1]['epoch_time_s']:.2f} | {seconds:.1f} |")
        if len(results) > 1 and method == "sandwich" and not amp:
            state["checkpoint"] = str(sorted(folder.glob("checkpoint_*"))[-1])
    reference = results[(0, "cpu", "sandwich", False)]["val_accuracy_largest"]
    for (i, device, method, amp), last in results.items():
        if i > 0 and method == "sandwich":
            gap = abs(last["val_accuracy_largest"] - reference)
            if gap > args.tolerance:
                problems.append(f"{device} sandwich amp={amp}: largest accuracy {last['val_accuracy_largest']:.2f} vs "
                                f"CPU {reference:.2f} (gap {gap:.2f} > {args.tolerance})")
    lines = [f"`tiny` on `digits`, {args.epochs} epochs, batch 64, seed 0 (progressive: at least one epoch per phase); the "
             "last epoch's validation of the largest and the smallest subnet (BN re-calibrated).", "",
             "| device | method | precision | val acc largest | val acc smallest | val loss largest | skipped steps | "
             "first epoch (s) | last epoch (s) | seconds |", "|---|---|---|---|---|---|---|---|---|---|"] + rows
    ok = not problems
    detail = (f"every run finite, no step skipped but by float16's scaler (at most {args.max_scaler_skips}), "
              f"sandwich on {dev} within {args.tolerance} points of the CPU") if ok else "; ".join(problems)
    return ok, detail, lines


def part_dna(args: argparse.Namespace, work: Path, state: dict[str, Any]) -> tuple[bool, str, list[str]]:
    import search_spaces
    from raynas.data import load
    from raynas.train.dna import BlockTeacher, teacher_features, train_block

    torch.manual_seed(0)
    net = search_spaces.get("tiny").build_supernet(num_classes=10)
    teacher_file = str(net.save(work / "teacher.pt"))
    data = load("digits", seed=0)
    teacher = BlockTeacher.from_supernet(teacher_file, calibration=[data.train.tensors[0][:64]])
    train_x, val_x = data.train.tensors[0], data.val.tensors[0][:256]
    train = [train_x] + teacher_features(teacher, train_x)
    val = [val_x] + teacher_features(teacher, val_x)
    rows, problems = [], []
    # full precision only: TrainConfig rejects amp for method 'dna'
    config = _train_config(method="dna", epochs=2, dna_candidates=8, teacher=teacher_file,
                           use_gpu=args.device == "cuda")
    for index in range(len(train) - 1):
        started = time.perf_counter()
        result = train_block(config, index, train_inputs=train[index], train_targets=train[index + 1],
                             val_inputs=val[index], val_targets=val[index + 1],
                             checkpoint=str(work / f"dna-{index}.pt"), num_classes=10)
        seconds = time.perf_counter() - started
        values = _floats(result)
        if not values or not all(math.isfinite(v) for v in values):
            problems.append(f"block {index}: {result!r:.200}")
        rows.append(f"| {index} | {_short(result)} | {seconds:.1f} |")
    lines = ["`train_block` for each block of `tiny` against an untrained teacher (the mechanics, not quality), "
             f"2 epochs, 8 candidates per block, full precision, on {args.device}.", "",
             "| block | result | seconds |", "|---|---|---|"] + rows
    return not problems, "every block's losses finite" if not problems else "; ".join(problems), lines


def _precision(device: str, amp: bool) -> str:
    return "full" if not amp else ("float16" if device == "cuda" else "bfloat16")


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _floats(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _floats(v)]
    return []


def _short(value: Any) -> str:
    values = _floats(value)
    if not values:
        return type(value).__name__
    return f"{len(values)} values, {min(values):.4g} to {max(values):.4g}"


def part_evaluate(args: argparse.Namespace, work: Path, state: dict[str, Any]) -> tuple[bool, str, list[str]]:
    from raynas.evaluate.supernet import SupernetEvaluator

    if "checkpoint" not in state:
        return False, "no checkpoint from (a)", []
    gpu = SupernetEvaluator(state["checkpoint"], dataset="digits", device=args.device)
    space = gpu.space
    rng = random.Random(0)
    archs = [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(args.archs)]
    measured = []
    for arch in archs:
        measured.append(gpu(arch))
    cpu = SupernetEvaluator(state["checkpoint"], dataset="digits", device="cpu", threads=8)
    rows, gaps, loss_gaps = [], [], []
    for arch, on_gpu in zip(archs, measured):
        on_cpu = cpu(arch)
        gap = abs(on_gpu["accuracy"] - on_cpu["accuracy"])
        gaps.append(gap)
        loss_gaps.append(abs(on_gpu["loss"] - on_cpu["loss"]) / max(abs(on_cpu["loss"]), 1e-12))
        rows.append(f"| {on_gpu['accuracy']:.2f} | {on_cpu['accuracy']:.2f} | {on_gpu['loss']:.5f} | "
                    f"{on_cpu['loss']:.5f} |")
    ok = max(gaps) <= args.eval_tolerance
    lines = [f"The supernet trained by (a) on {args.device} (sandwich, full precision); the largest, the smallest and "
             f"{args.archs} random subnets; BN re-calibrated on each device.", "",
             f"| accuracy {args.device} | accuracy cpu | loss {args.device} | loss cpu |", "|---|---|---|---|"] + rows + [
             "", f"Largest accuracy gap {max(gaps):.3f} points; largest relative loss gap {max(loss_gaps):.2e}."]
    return ok, f"largest accuracy gap {max(gaps):.3f} points (tolerance {args.eval_tolerance})", lines


def part_nccl(args: argparse.Namespace, work: Path, state: dict[str, Any]) -> tuple[bool, str, list[str]]:
    import torch.distributed as dist

    import search_spaces
    from raynas.train.loop import _all_reduce_gradients

    backend, dev = ("nccl", "cuda") if args.device == "cuda" else ("gloo", "cpu")
    if backend == "nccl" and not dist.is_nccl_available():
        return False, "torch reports NCCL unavailable", []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        net = search_spaces.get("tiny").build_supernet(num_classes=10).to(dev)
        arch = net.space.smallest()
        net.set_active(arch)
        x = torch.randn(8, *net.space.input_shape(arch), device=dev)
        net(x).sum().backward()
        params = [p for p in net.parameters() if p.requires_grad]
        before = [None if p.grad is None else p.grad.clone() for p in params]
        ok_flag = _all_reduce_gradients(params, 1, True)
        same = all((b is None and p.grad is None) or (b is not None and p.grad is not None and torch.equal(b, p.grad))
                   for b, p in zip(before, params))
        used = sum(b is not None for b in before)
        version = "NCCL " + ".".join(map(str, torch.cuda.nccl.version())) if backend == "nccl" else backend
    finally:
        dist.destroy_process_group()
    ok = ok_flag and same
    detail = (f"{version}: all-reduce over one rank kept {used} gradients and {len(params) - used} unused "
              f"parameters as they were" if ok else f"{version}: flag {ok_flag}, gradients unchanged {same}")
    return ok, detail, [detail + "."]


def part_latency(args: argparse.Namespace, work: Path, state: dict[str, Any]) -> tuple[bool, str, list[str]]:
    import scipy.stats

    import search_spaces
    from raynas.latency import MeasureConfig, measure_table_and_subnets

    space = search_spaces.get("ofa-mbv3", resolutions=[224])
    rng = random.Random(1)
    archs = [space.largest(), space.smallest()] + [space.sample(rng) for _ in range(args.subnets - 2)]
    config = MeasureConfig(device=args.device, batch_size=1, warmup=3, repeats=args.repeats, rounds=2,
                           calibration_subnets=4)
    table, measured = measure_table_and_subnets(space, archs, config)
    predicted = [table.predict(space, a) for a in archs]
    errors = [abs(p - m) / m for p, m in zip(predicted, measured)]
    tau = scipy.stats.kendalltau(predicted, measured).statistic
    lines = [f"`ofa-mbv3` at 224 px, batch 1, {len(table.entries)} table entries, overhead "
             f"{table.overhead_ms:.3f} ms; {len(archs)} subnets timed whole in the same rounds.", "",
             f"- measured: {min(measured):.3f} to {max(measured):.3f} ms (largest {measured[0]:.3f}, smallest "
             f"{measured[1]:.3f})",
             f"- predicted by the table: mean relative error {statistics.fmean(errors):.1%}, largest "
             f"{max(errors):.1%}; Kendall's tau {tau:.3f}",
             f"- device recorded in the table: {table.device}"]
    ok = all(math.isfinite(p) and p > 0 for p in predicted)
    return ok, f"mean relative error {statistics.fmean(errors):.1%}, Kendall's tau {tau:.3f}", lines


def _time_steps(w: Any, x: torch.Tensor, y: torch.Tensor, count: int, label: str, *, same_subnets: bool = False,
                profile_last: bool = False) -> tuple[list[tuple[float, Any]], Any]:
    """``count`` of the loop's own steps (``_train_step``) on one batch: (seconds, losses or None
    when skipped) per step, the device synchronised around each, and the ``torch.profiler``
    of the last step when ``profile_last`` (else None). ``same_subnets``: the same random
    children every step."""
    from torch.profiler import ProfilerActivity, profile

    from raynas.train.loop import _train_step

    sync = torch.cuda.synchronize if w.device.type == "cuda" else (lambda: None)
    rng = random.Random(0)
    out, prof = [], None
    for step in range(count):
        if same_subnets:
            rng = random.Random(0)
        sync()
        started = time.perf_counter()
        if profile_last and step == count - 1:
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if w.device.type == "cuda" else [])
            with profile(activities=activities) as prof:
                losses = _train_step(w, x, y, rng, 0, step)
                sync()
        else:
            losses = _train_step(w, x, y, rng, 0, step)
        sync()
        out.append((time.perf_counter() - started, losses))
        logger.info("%s: step %d/%d %.3f s%s", label, step + 1, count, out[-1][0], "" if losses is not None
                    else " (skipped)")
    return out, prof


def part_throughput(args: argparse.Namespace, work: Path, state: dict[str, Any]) -> tuple[bool, str, list[str]]:
    from raynas.train.loop import LocalSession, _build

    rows, problems = [], []
    for method in ("sandwich", "uniform"):
        for amp in (False, True):
            config = _train_config(space="ofa-mbv3", dataset="synthetic224", method=method, amp=amp,
                                   use_gpu=args.device == "cuda", batch_size=args.batch_size, epochs=1)
            started = time.perf_counter()
            w = _build(config, LocalSession(work / f"throughput-{method}-{amp}"))
            logger.info("throughput %s amp=%s: supernet built in %.1f s", method, amp, time.perf_counter() - started)
            w.net.train()
            g = torch.Generator(device=w.device).manual_seed(0)
            x = torch.randn(args.batch_size, 3, 224, 224, device=w.device, generator=g).contiguous(
                memory_format=w.memory_format)
            y = torch.randint(0, w.data.num_classes, (args.batch_size,), device=w.device, generator=g)
            if w.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            steps, _ = _time_steps(w, x, y, args.warmup + args.steps, f"throughput {method} amp={amp}")
            skipped = sum(losses is None for _, losses in steps)
            times = [t for t, losses in steps[args.warmup:] if losses is not None]
            peak = torch.cuda.max_memory_allocated() / 2**30 if w.device.type == "cuda" else float("nan")
            if not times:
                problems.append(f"{method} amp={amp}: every step skipped")
                continue
            median = statistics.median(times)
            rows.append(f"| {method} | {_precision(args.device, amp)} | {args.batch_size} | "
                        f"{median * 1000:.1f} | {args.batch_size / median:,.0f} | {peak:.1f} | {skipped} |")
            del w, x, y
            if args.device == "cuda":
                torch.cuda.empty_cache()
    lines = ["`ofa-mbv3` at 224 px (10 classes), the loop's `_train_step` on a batch already on the GPU (no data "
             f"loading), channels-last; median of {args.steps} steps after {args.warmup} warm-up steps. A sandwich "
             "step trains 4 subnets; a uniform step one.", "",
             "| method | precision | batch | ms per step | images per second | peak GPU memory (GiB) | skipped |",
             "|---|---|---|---|---|---|---|"] + rows
    return not problems, "measured" if not problems else "; ".join(problems), lines


def part_diagnose(args: argparse.Namespace, work: Path, state: dict[str, Any]) -> tuple[bool, str, list[str]]:
    """Where a sandwich step's time goes: the same step under variants that each remove one suspect."""
    from raynas.train.loop import LocalSession, _build

    variants = [("as trained", {}, False, False, False), ("dropout 0", {"dropout": 0.0}, False, False, False),
                ("no random children", {"num_random": 0}, False, False, False),
                ("contiguous (not channels-last)", {"channels_last": False}, False, False, False),
                ("cudnn.benchmark on", {}, True, False, False),
                ("the same 4 subnets every step", {}, False, True, False),
                ("residual blocks' last BN gamma 1, not 0", {}, False, False, True)]
    rows, profiled = [], []
    for label, overrides, benchmark, same, gamma_one in variants:
        previous = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = benchmark
        try:
            config = _train_config(**{"space": args.diagnose_space, "method": "sandwich",
                                      "dataset": "digits" if args.diagnose_space == "tiny" else "synthetic224",
                                      "use_gpu": args.device == "cuda", "batch_size": args.diagnose_batch_size,
                                      "epochs": 1, **overrides})
            w = _build(config, LocalSession(work / f"diagnose-{len(rows)}"))
            w.net.train()
            if gamma_one:  # undo the sandwich method's zero initialisation of residual blocks' last BN
                with torch.no_grad():
                    for bn in w.net.bn_layers():
                        if bn.weight is not None and not bn.weight.any():
                            bn.weight.fill_(1.0)
            x, y = next(iter(w.loader))  # one batch of the data set, as the loop would feed it
            x = x.to(w.device).contiguous(memory_format=w.memory_format)
            y = y.to(w.device)
            first = len(rows) == 0  # "as trained": its last step is profiled
            steps, prof = _time_steps(w, x, y, args.diagnose_steps, f"diagnose {label}", same_subnets=same,
                                      profile_last=first)
            times = [t for t, _ in steps]
            if prof is not None:
                profiled = _profile_rows(prof)
            rows.append(f"| {label} | " + " | ".join(f"{t:.3f}" for t in times) + " |")
            del w, x, y
        finally:
            torch.backends.cudnn.benchmark = previous
    lines = [f"`{args.diagnose_space}`, one batch of {args.diagnose_batch_size} of its data set (`digits` for `tiny`, "
             "else 224 px), full precision: seconds per `sandwich` step "
             "(largest + smallest + random children), step by step, under variants that each remove one "
             "suspect; the last step of the first variant profiled (the profiler slows that step).", "",
             "| variant | " + " | ".join(f"step {i + 1}" for i in range(args.diagnose_steps)) + " |",
             "|---|" + "---|" * args.diagnose_steps] + rows + ["", "Profiled step, the operators with the most "
             "self time:", "", "| operator | calls | self CPU (ms) | self device (ms) |", "|---|---|---|---|"] + profiled
    return True, "measured", lines


def _profile_rows(prof: Any, top: int = 15) -> list[str]:
    events = prof.key_averages()

    def device_ms(e: Any) -> float:
        return getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0.0)) / 1000

    ranked = sorted(events, key=lambda e: max(e.self_cpu_time_total / 1000, device_ms(e)), reverse=True)[:top]
    return [f"| `{e.key}` | {e.count} | {e.self_cpu_time_total / 1000:.1f} | {device_ms(e):.1f} |" for e in ranked]


PARTS = {"train": part_train, "dna": part_dna, "evaluate": part_evaluate, "nccl": part_nccl,
         "latency": part_latency, "throughput": part_throughput, "diagnose": part_diagnose}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    parser.add_argument("--quick", action="store_true", help="fewer epochs, subnets and steps")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of (a) (default 6, quick 6)")
    parser.add_argument("--tolerance", type=float, default=3.0, help="points of accuracy between cuda and cpu in (a)")
    parser.add_argument("--max-scaler-skips", type=int, default=5,
                        help="steps float16's gradient scaler may skip per run in (a)")
    parser.add_argument("--eval-tolerance", type=float, default=0.6, help="points of accuracy in (c)")
    parser.add_argument("--archs", type=int, default=None, help="random subnets in (c) (default 8, quick 3)")
    parser.add_argument("--subnets", type=int, default=None, help="subnets in (e) (default 30, quick 8)")
    parser.add_argument("--repeats", type=int, default=None, help="timed samples per item in (e) (default 10, quick 5)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="timed steps in (f) (default 20, quick 5)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                        help="cpu: a dry run of the same code on the CPU (no CUDA figures)")
    parser.add_argument("--diagnose-steps", type=int, default=6, help="sandwich steps per variant in (g)")
    parser.add_argument("--diagnose-space", default="tiny", choices=["tiny", "ofa-mbv3"], help="the space of (g)")
    parser.add_argument("--diagnose-batch-size", type=int, default=64, help="the batch of (g)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "gpu.md"))
    args = parser.parse_args(argv)
    for name, full, quick in (("epochs", 6, 6), ("archs", 8, 3), ("subnets", 30, 8), ("repeats", 10, 5),
                              ("steps", 20, 5)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    for name in ("epochs", "batch_size", "steps", "diagnose_steps", "diagnose_batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.subnets < 3:
        parser.error(f"--subnets must be >= 3 (the largest, the smallest and a random one), got {args.subnets}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("benchmarks/gpu.py: torch sees no CUDA device; these checks need one", file=sys.stderr)
        return 2
    started = time.perf_counter()
    report, state = Report(), {}
    with tempfile.TemporaryDirectory(prefix="raynas-gpu-") as tmp:
        for name in args.parts:
            report.run(f"({'abcdefg'[list(PARTS).index(name)]}) {name}",
                       lambda name=name: PARTS[name](args, Path(tmp), state))
    if args.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        gpu = (f"GPU {props.name}, {props.total_memory / 2**30:.0f} GiB, compute capability {props.major}.{props.minor}; "
               f"torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
               f"TF32 convolutions {torch.backends.cudnn.allow_tf32}, TF32 matmul {torch.backends.cuda.matmul.allow_tf32})")
    else:
        gpu = f"no GPU (--device cpu: a dry run); torch {torch.__version__}"
    command = command_line("gpu.py", argv)
    lines = ["# GPU checks: training, evaluation, NCCL, latency and throughput on CUDA", "",
             f"- date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
             f"- command: `{command}`",
             f"- machine: {machine()}; {gpu}; load average at the end (1/5/15 min): {load_average()}",
             f"- wall time: {time.perf_counter() - started:.0f} s", "",
             "| check | outcome | detail |", "|---|---|---|"]
    lines += [f"| {name} | {'ok' if ok else 'FAILED'} | {detail} |" for name, ok, detail in report.checks]
    lines.append("")
    for section in report.sections:
        lines += section
    Path(args.out).write_text("\n".join(lines))
    logger.info("wrote %s", args.out)
    return 0 if all(ok for _, ok, _ in report.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
