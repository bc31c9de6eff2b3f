"""The image-folder data path, measured side by side in one run:

(a) images/s of raynas's loader (``raynas.data.load("folder")`` + ``StreamingLoader``) vs a
    plain ``torchvision.datasets.ImageFolder`` + ``DataLoader``, with the same training
    transform (``RandomResizedCrop`` + flip + normalise at ``--resolution``), batch size and
    worker processes; the two alternate for ``--rounds`` rounds and the median of each is
    compared (target: ratio >= 0.95);
(b) peak memory (proportional set size of the training process plus its ``DataLoader``
    workers, so pages they share are counted once, and resident set of the process alone;
    sampled every 50 ms from /proc) of one training epoch (``train_in_process``, method ``uniform``,
    ``tiny`` space with 3 input channels) on ``--small`` and ``--large`` generated images,
    each in a fresh process (target: equal within 10%);
(c) the share of that epoch's time the training step waited for data with ``--workers``
    loader workers (the loop's ``data_wait_share``).

The images are scikit-learn digits written as ``--size`` px RGB PNGs
(``raynas.data.generate.write_digits_folder``). CPU only: no GPU figure is claimed.

``--gpu-epoch N`` instead trains one epoch of ``ofa-mbv3`` at 224 px on ``N`` generated
256 px images on CUDA with mixed precision (method ``uniform``, ``--workers`` loader
workers) and reports images/s, into ``benchmarks/results/data-gpu.md``.

Usage::

    nice -n 10 python benchmarks/data.py [--small 2000] [--large 20000] [--workers 2]
    python benchmarks/data.py --gpu-epoch 10000 --workers 8 --batch-size 128
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _records import load_average  # noqa: E402


def _pss_bytes(pid: int) -> int:
    """Proportional set size of ``pid`` (shared pages divided among their sharers), from /proc."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def _tree_pss_bytes(pid: int) -> int:
    """Proportional set size of ``pid`` and all its descendants (pages shared between the training
    process and its forked loader workers counted once), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += _pss_bytes(current)
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(children.get(current, []))
    return total


def _throughput(root: Path, args) -> dict:
    import torch
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    from raynas.data import Recipe, StreamingLoader, load

    recipe = Recipe(family="folder", train=True, augment="standard")
    data = load("folder", data_dir=str(root), augment="standard")
    ours = StreamingLoader(data.train, batch_size=args.batch_size, shuffle=True, seed=0, workers=args.workers,
                           resolutions=args.resolution)
    theirs = DataLoader(ImageFolder(str(root / "train"), transform=recipe(args.resolution)),
                        batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        persistent_workers=args.workers > 0)

    def rate(loader, epoch: int) -> float:
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        started, images = time.perf_counter(), 0
        for x, _ in loader:
            images += len(x)
        return images / (time.perf_counter() - started)

    torch.set_num_threads(1)
    rate(ours, 0), rate(theirs, 0)  # start the workers, warm the page cache
    raynas_rates, tv_rates = [], []
    for r in range(args.rounds):
        first, second = (ours, theirs) if r % 2 == 0 else (theirs, ours)
        a, b = rate(first, r + 1), rate(second, r + 1)
        (raynas_rates, tv_rates)[0 if first is ours else 1].append(a)
        (raynas_rates, tv_rates)[1 if first is ours else 0].append(b)
    return {"raynas_images_per_s": raynas_rates, "torchvision_images_per_s": tv_rates,
            "ratio_of_medians": statistics.median(raynas_rates) / statistics.median(tv_rates)}


def _epoch_child(root: str, workers: int, batch_size: int) -> None:
    """One training epoch in this process; prints a JSON line with peak RSS and the epoch's metrics."""
    import torch

    from raynas.train import TrainConfig, train_in_process

    peak = {"tree": 0, "self": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak["tree"] = max(peak["tree"], _tree_pss_bytes(os.getpid()))
            with open(f"/proc/{os.getpid()}/statm") as f:
                peak["self"] = max(peak["self"], int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
            done.wait(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    torch.set_num_threads(1)
    config = TrainConfig(space="tiny", space_kwargs={"in_channels": 3, "resolutions": [12]}, dataset="folder",
                         data_dir=root, method="uniform", epochs=1, batch_size=batch_size, loader_workers=workers,
                         val_images=256, calib_images=256)
    with tempfile.TemporaryDirectory() as tmp:
        history = train_in_process(config, tmp)
    done.set()
    thread.join()
    print(json.dumps({"peak_tree_rss": peak["tree"], "peak_main_rss": peak["self"], "metrics": history[-1]}))


def _epoch(root: Path, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, __file__, "--epoch-child", str(root), "--workers", str(args.workers),
                          "--batch-size", str(args.batch_size)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _gpu_epoch(args) -> None:
    import torch

    from raynas.data.generate import write_digits_folder
    from raynas.train import TrainConfig, train_in_process

    if not torch.cuda.is_available():
        raise SystemExit("--gpu-epoch needs a CUDA device; torch sees none")
    with tempfile.TemporaryDirectory() as tmp:
        root = write_digits_folder(Path(tmp) / "images", train_images=args.gpu_epoch, val_images=500, size=256,
                                   fmt="jpg")
        config = TrainConfig(space="ofa-mbv3", space_kwargs={"num_classes": 10, "resolutions": [224]},
                             dataset="folder", data_dir=str(root), method="uniform", epochs=1,
                             batch_size=args.batch_size, loader_workers=args.workers, use_gpu=True, amp=True,
                             val_images=500, calib_images=500)
        history = train_in_process(config, Path(tmp) / "run")
    metrics = history[-1]
    rate = args.gpu_epoch / metrics["epoch_time_s"]
    lines = ["# One ofa-mbv3 epoch at 224 px on a GPU", "",
             f"Command: `python benchmarks/data.py --gpu-epoch {args.gpu_epoch} --workers {args.workers} "
             f"--batch-size {args.batch_size}`  ",
             f"Device: {torch.cuda.get_device_name()}; {os.cpu_count()} CPUs; date "
             f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')}; load average {load_average()}", "",
             f"{args.gpu_epoch} generated 256 px JPEGs, `RandomResizedCrop(224)` + flip, method `uniform`, AMP "
             f"(float16): **{rate:.0f} images/s** ({metrics['epoch_time_s']:.1f} s; waited for data "
             f"{100 * metrics['data_wait_share']:.1f}% of it).", ""]
    out = Path(args.out).with_name("data-gpu.md")
    out.write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--size", type=int, default=32, help="side of the generated images")
    parser.add_argument("--resolution", type=int, default=28, help="throughput: the crop the transform makes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "data.md"))
    parser.add_argument("--epoch-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--gpu-epoch", type=int, default=None, metavar="N",
                        help="instead: one ofa-mbv3 epoch at 224 px on N generated images on CUDA (AMP)")
    args = parser.parse_args()
    if args.gpu_epoch:
        _gpu_epoch(args)
        return
    if args.epoch_child:
        _epoch_child(args.epoch_child, args.workers, args.batch_size)
        return

    from raynas.data.generate import write_digits_folder

    load_before = load_average()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        roots = {}
        for n in (args.small, args.large):
            roots[n] = write_digits_folder(Path(tmp) / f"d{n}", train_images=n, val_images=max(200, n // 10),
                                           size=args.size)
        generated_s = time.time() - started
        throughput = _throughput(roots[args.small], args)
        epochs = {n: _epoch(roots[n], args) for n in (args.small, args.large)}
    load_after = load_average()
    small, large = epochs[args.small], epochs[args.large]
    rss_ratio = large["peak_tree_rss"] / small["peak_tree_rss"]
    mib = 1024 * 1024
    lines = [
        "# Image-folder data path: loader speed, memory, data wait",
        "",
        f"Command: `nice -n 10 python benchmarks/data.py --small {args.small} --large {args.large} "
        f"--workers {args.workers} --batch-size {args.batch_size} --rounds {args.rounds}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"date {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}  ",
        f"Load average (1, 5, 15 min) before: {load_before}; after: {load_after} (the machine is shared; "
        "absolute rates move with the load, the side-by-side ratios less so)  ",
        f"Images: scikit-learn digits written as {args.size} px RGB PNGs ({generated_s:.0f} s to write both sets). "
        "CPU only; no GPU figure is claimed.",
        "",
        "## (a) Loader throughput, same transform and workers",
        "",
        f"Training transform `RandomResizedCrop({args.resolution})` + flip + normalise, batch {args.batch_size}, "
        f"{args.workers} worker processes, {args.small} images per pass, {args.rounds} alternating rounds after a "
        "warm-up pass each.",
        "",
        "| loader | images/s per round | median |",
        "| --- | --- | --- |",
        f"| raynas (`load('folder')` + `StreamingLoader`) | "
        f"{', '.join(f'{v:.0f}' for v in throughput['raynas_images_per_s'])} | "
        f"{statistics.median(throughput['raynas_images_per_s']):.0f} |",
        f"| torchvision `ImageFolder` + `DataLoader` | "
        f"{', '.join(f'{v:.0f}' for v in throughput['torchvision_images_per_s'])} | "
        f"{statistics.median(throughput['torchvision_images_per_s']):.0f} |",
        "",
        f"Ratio raynas / torchvision (medians): **{throughput['ratio_of_medians']:.3f}** (target >= 0.95: "
        f"{'met' if throughput['ratio_of_medians'] >= 0.95 else 'NOT met'}).",
        "",
        "## (b) Peak memory of a training epoch",
        "",
        f"One epoch of `train_in_process` (method `uniform`, `tiny` with 3 input channels at 12 px, batch "
        f"{args.batch_size}, {args.workers} loader workers, evaluation on 256 + 256 images), each in a fresh process; "
        "peak memory of the process and its loader workers together (proportional set size: shared pages counted "
        "once), and resident memory of the process alone.",
        "",
        "| training images | peak PSS, process + workers | peak RSS, process | epoch time |",
        "| --- | --- | --- | --- |",
        *(f"| {n} | {e['peak_tree_rss'] / mib:.0f} MiB | {e['peak_main_rss'] / mib:.0f} MiB | "
          f"{e['metrics']['epoch_time_s']:.1f} s |" for n, e in epochs.items()),
        "",
        f"Ratio {args.large} / {args.small} images: **{rss_ratio:.3f}** (target within 10%: "
        f"{'met' if abs(rss_ratio - 1) <= 0.10 else 'NOT met'}).",
        "",
        "## (c) Time the training step waits for data",
        "",
        f"Share of the epoch spent waiting for the next batch (`data_wait_share`, {args.workers} loader workers):",
        "",
        "| training images | waited | epoch | share |",
        "| --- | --- | --- | --- |",
        *(f"| {n} | {e['metrics']['data_wait_s']:.2f} s | {e['metrics']['epoch_time_s']:.1f} s | "
          f"{100 * e['metrics']['data_wait_share']:.1f}% |" for n, e in epochs.items()),
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    Path(args.out).with_suffix(".json").write_text(json.dumps(
        {"throughput": throughput, "epochs": {str(k): v for k, v in epochs.items()}, "load_before": load_before,
         "load_after": load_after}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
