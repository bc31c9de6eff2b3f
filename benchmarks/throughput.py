"""Throughput: what Tune, elastic layers, the sandwich step and a second worker cost.

Every ratio is measured side by side in one run, in several repeats whose order rotates
(so that a change in the machine's load hits both sides alike); the median is reported.

(a) Subnet evaluations per second through ``raynas.search`` (Ray Tune, ``random``
    strategy, ``tiny`` on ``digits``, a ``SupernetEvaluator`` on a freshly built supernet
    saved to a temporary file, ``--trials`` trials) against a bare Python loop doing the
    same evaluations (the same architectures, the same evaluator, one process, its
    per-process cache cleared first so it loads the supernet and the data as a Tune worker
    does). Tune at concurrency 1 is the fair comparison; concurrency 2 is reported too.
    "End to end" divides the trials by the whole wall time (Tune: the ``raynas.search``
    call on a running Ray; the loop: loading plus evaluating); "steady" divides the
    trials after the first by the time between the first and the last completion.
(b) Forward time of the supernet's active path against the extracted static subnet
    (``net.extract``) for the smallest, the median-FLOPs (of 200 random) and the largest
    subnet: eval mode, ``torch.no_grad``, one thread, batch ``--batch-size`` of 8x8 inputs,
    calls interleaved in rounds; medians per call.
(c) One sandwich step (``raynas.train.methods.Sandwich.step``: largest + smallest + 2
    random children, forward and backward, as the training loop runs it: train mode,
    untracked BN statistics, channels-last) against the sum of the same four children's
    extracted static subnets' forward and backward passes with the same losses; batch 64,
    one thread; the median over steps of the per-step ratio.
(d) Evaluation throughput with 1 and 2 concurrent evaluation workers: ``raynas.search``
    at concurrency 2 vs 1 (from (a)), and the ceiling that the machine gives right now: 1
    vs 2 plain processes evaluating the same architectures, timed from a barrier after
    their loading.

The load average before and after each part is recorded: on a shared machine every
figure depends on it.

Usage::

    python benchmarks/throughput.py [--quick] [--parts a b c d] [--trials 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _records import command_line, load_average  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import search_spaces  # noqa: E402

logger = logging.getLogger("benchmarks.throughput")

PARTS = ("a", "b", "c", "d")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(values: list[float], digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def make_checkpoint(directory: str, seed: int = 0) -> str:
    """A freshly built, untrained ``tiny`` supernet saved to ``directory`` (throughput only needs the shapes)."""
    torch.manual_seed(seed)
    net = search_spaces.get("tiny").build_supernet(num_classes=10)
    return net.save(os.path.join(directory, "supernet.pt"), train_config={"dataset": "digits"})


def make_evaluator(checkpoint: str, args: argparse.Namespace):
    from raynas.evaluate.supernet import SupernetEvaluator

    options = {} if args.evaluator_options is None else dict(args.evaluator_options)
    return SupernetEvaluator(checkpoint, dataset="digits", threads=1, **options)


def clear_evaluator_cache() -> None:
    from raynas.evaluate import supernet

    supernet._CACHE.clear()


# -- (a) and (d): raynas.search vs a bare loop ---------------------------------------------------
def bare_loop(evaluator: Callable, archs: list[dict[str, Any]]) -> dict[str, Any]:
    """Evaluate ``archs`` in this process, loading the evaluator's state first (as a fresh worker does)."""
    clear_evaluator_cache()
    started = time.perf_counter()
    done, evals = [], []
    for arch in archs:
        t = time.perf_counter()
        evaluator(arch)
        evals.append(time.perf_counter() - t)
        done.append(time.perf_counter() - started)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "done_s": done, "eval_s": sum(evals), "first_eval_s": evals[0]}


def tune_search(space, evaluator, trials: int, concurrency: int, seed: int, archs_per_trial: int = 1) -> dict[str, Any]:
    import raynas

    with tempfile.TemporaryDirectory(prefix="raynas-throughput-") as out:
        started = time.perf_counter()
        result = raynas.search(space, evaluator, strategy="random", num_samples=trials, max_concurrent=concurrency,
                               seed=seed, out_dir=os.path.join(out, "search"), progress=False,
                               archs_per_trial=archs_per_trial)
        wall = time.perf_counter() - started
    rows = result.history
    failed = [r for r in rows if r.get("status") != "ok"]
    if failed or len(rows) != trials:
        raise RuntimeError(f"search ran {len(rows)} trials of {trials}, {len(failed)} failed: "
                           f"{[r.get('error') for r in failed][:3]}")
    rows = sorted(rows, key=lambda r: r["wall_time_s"])
    done = [r["wall_time_s"] for r in rows]
    return {"wall_s": wall, "done_s": done, "eval_s": sum(r["eval_time_s"] for r in rows),
            "first_eval_s": rows[0]["eval_time_s"],
            "archs": [space.canonical(r["arch"]) for r in rows], "nodes": len({r.get("node_id") for r in rows})}


def rates(run: dict[str, Any], trials: int) -> tuple[float, float]:
    """(end-to-end, steady) evaluations per second."""
    done = run["done_s"]
    steady = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else float("nan")
    return trials / run["wall_s"], steady


def cold_loop(checkpoint: str, options: dict | None, archs: list[dict[str, Any]], work: str) -> dict[str, Any]:
    """The bare loop in a fresh Python process: the wall time includes starting Python and its imports."""
    import json
    import subprocess

    spec = os.path.join(work, "cold.json")
    with open(spec, "w") as f:
        json.dump({"checkpoint": checkpoint, "options": options, "archs": archs}, f)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--cold-loop", spec], capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the cold loop failed: {done.stderr[-2000:]}")
    run = json.loads(done.stdout.strip().splitlines()[-1])
    offset = wall - run["wall_s"]  # interpreter start and imports before the loop's clock started
    return {**run, "wall_s": wall, "done_s": [t + offset for t in run["done_s"]]}


def _cold_loop_main(spec: str) -> None:
    import json

    with open(spec) as f:
        job = json.load(f)
    from raynas.evaluate.supernet import SupernetEvaluator

    evaluator = SupernetEvaluator(job["checkpoint"], dataset="digits", threads=1, **(job["options"] or {}))
    print(json.dumps(bare_loop(evaluator, job["archs"])))


def _process_worker(checkpoint: str, options: dict | None, first: dict, tasks, barrier, queue, own_session: bool) -> None:
    """One plain process of the (d) ceiling: load, wait for the others, take architectures until none is left."""
    import queue as queues

    if own_session:  # its own scheduler autogroup (Linux gives each session a fair share, whatever its processes)
        os.setsid()
    from raynas.evaluate.supernet import SupernetEvaluator

    evaluator = SupernetEvaluator(checkpoint, dataset="digits", threads=1, **(options or {}))
    evaluator(first)  # load and warm up
    barrier.wait()
    while True:
        try:
            arch = tasks.get(timeout=0.5)
        except queues.Empty:
            break
        evaluator(arch)
    queue.put(time.time())


def plain_processes(checkpoint: str, options: dict | None, archs: list[dict], workers: int,
                    own_session: bool = False) -> float:
    """Wall seconds for ``workers`` plain processes sharing a queue of ``archs``, from a barrier after loading."""
    context = mp.get_context("spawn")
    barrier, queue, tasks = context.Barrier(workers + 1), context.Queue(), context.Queue()
    for arch in archs:
        tasks.put(arch)
    processes = [context.Process(target=_process_worker, args=(checkpoint, options, archs[0], tasks, barrier, queue, own_session))
                 for _ in range(workers)]
    for p in processes:
        p.start()
    barrier.wait()
    started = time.time()
    finished = [queue.get(timeout=1800) for _ in processes]
    for p in processes:
        p.join()
    if any(p.exitcode != 0 for p in processes):
        raise RuntimeError(f"a plain evaluation process failed: exit codes {[p.exitcode for p in processes]}")
    return max(finished) - started - 0.5  # the last get() waited 0.5 s to see the queue empty


def part_search(args: argparse.Namespace, checkpoint: str, parts: set[str], work: str) -> dict[str, Any]:
    from raynas._ray import init_ray

    space = search_spaces.get("tiny")
    evaluator = make_evaluator(checkpoint, args)
    init_ray(num_cpus=2)
    loads = [load_average()]
    # A warm-up search (not timed) starts Ray's worker pool and gives the architectures:
    # the random strategy with a fixed seed proposes the same ones in every repeat.
    warm = tune_search(space, evaluator, args.trials, 1, args.seed)
    archs = warm["archs"]
    arms: dict[str, Callable[[], dict[str, Any]]] = {
        "loop": lambda: bare_loop(evaluator, archs),
        "cold": lambda: cold_loop(checkpoint, args.evaluator_options, archs, work),
    }
    if args.channels_last:  # the evaluator before its channels-last default, for the before/after
        nchw = make_evaluator(checkpoint, argparse.Namespace(evaluator_options={"channels_last": False}))
        arms["loop_nchw"] = lambda: bare_loop(nchw, archs)
    arms["tune1"] = lambda: tune_search(space, evaluator, args.trials, 1, args.seed)
    k = args.archs_per_trial
    if k > 1:
        arms["tune1b"] = lambda: tune_search(space, evaluator, args.trials, 1, args.seed, k)
    if "d" in parts or args.concurrency2:
        arms["tune2"] = lambda: tune_search(space, evaluator, args.trials, 2, args.seed)
        if k > 1:  # as many architectures per trial as give each of the 2 workers whole batches
            arms["tune2b"] = lambda: tune_search(space, evaluator, args.trials, 2, args.seed, k)
    if "d" in parts:
        arms["proc1"] = lambda: {"wall_s": plain_processes(checkpoint, args.evaluator_options, archs, 1)}
        arms["proc2"] = lambda: {"wall_s": plain_processes(checkpoint, args.evaluator_options, archs, 2)}
        arms["proc1s"] = lambda: {"wall_s": plain_processes(checkpoint, args.evaluator_options, archs, 1, True)}
        arms["proc2s"] = lambda: {"wall_s": plain_processes(checkpoint, args.evaluator_options, archs, 2, True)}
    long_archs: list[dict[str, Any]] = []
    if args.long_trials:  # a longer search, where the start-up is amortised
        space_ = space

        def long_loop() -> dict[str, Any]:
            if not long_archs:
                long_archs.extend(tune_search(space_, evaluator, args.long_trials, 1, args.seed)["archs"])
            return bare_loop(evaluator, long_archs)

        def long_tune1(k: int = 1) -> dict[str, Any]:
            run = tune_search(space_, evaluator, args.long_trials, 1, args.seed, k)
            if not long_archs:
                long_archs.extend(run["archs"])
            return run

        arms["long_loop"] = long_loop
        arms["long_tune1"] = long_tune1
        if k > 1:
            arms["long_tune1b"] = lambda: long_tune1(k)
    names = list(arms)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        order = names[repeat % len(names):] + names[: repeat % len(names)]
        for name in order:
            run = arms[name]()
            if "archs" in run:
                expected = long_archs if name.startswith("long") else archs
                same = sorted(map(str, run["archs"])) == sorted(map(str, expected))
                if not same:
                    raise RuntimeError(f"repeat {repeat} of {name} evaluated other architectures than the warm-up")
            runs[name].append(run)
            logger.info("repeat %d %s: %.1fs (load %s)", repeat, name, run["wall_s"], load_average())
    loads.append(load_average())
    return {"runs": runs, "loads": loads, "trials": args.trials, "archs": archs, "repeats": args.repeats,
            "long_trials": args.long_trials, "archs_per_trial": k,
            "seed": args.seed, "evaluator_options": args.evaluator_options, "autogroup": autogroup()}


# -- (b): supernet active path vs extracted subnet ---------------------------------------------
def time_calls(fn: Callable[[], Any], calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def part_elastic(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(1)
    space = search_spaces.get("tiny")
    torch.manual_seed(args.seed)
    net = space.build_supernet(num_classes=10).eval()
    rng = random.Random(args.seed)
    pool = sorted((space.sample(rng) for _ in range(200)), key=space.flops)
    subnets = {"smallest": space.smallest(), "median": pool[len(pool) // 2], "largest": space.largest()}
    loads = [load_average()]
    rows = []
    for batch in args.forward_batches:
        x = torch.randn(batch, 1, 8, 8)
        for label, arch in subnets.items():
            static = net.extract(arch).eval()
            for layout in ("contiguous", "channels_last"):
                fmt_ = torch.channels_last if layout == "channels_last" else torch.contiguous_format
                net.to(memory_format=fmt_)
                static.to(memory_format=fmt_)
                xin = x.contiguous(memory_format=fmt_)
                net.set_active(arch)
                with torch.no_grad():
                    torch.testing.assert_close(net(xin), static(xin), rtol=1e-4, atol=1e-4)
                    time_calls(lambda: net(xin), 3)
                    time_calls(lambda: static(xin), 3)
                    super_t, static_t = [], []
                    for _ in range(args.forward_rounds):  # interleaved rounds
                        super_t += time_calls(lambda: net(xin), args.forward_calls)
                        static_t += time_calls(lambda: static(xin), args.forward_calls)
                rows.append({"batch": batch, "subnet": label, "layout": layout, "flops": space.flops(arch),
                             "supernet_ms": 1e3 * median(super_t), "static_ms": 1e3 * median(static_t),
                             "ratio": median(super_t) / median(static_t)})
                logger.info("(b) %s", rows[-1])
    net.to(memory_format=torch.contiguous_format)
    loads.append(load_average())
    return {"rows": rows, "loads": loads, "rounds": args.forward_rounds, "calls": args.forward_calls}


# -- (c): sandwich step vs the four children's static forward+backward -----------------------
def part_sandwich(args: argparse.Namespace) -> dict[str, Any]:
    from raynas.train.methods import Sandwich, distillation_loss, untracked_bn_statistics
    from raynas.train import TrainConfig

    torch.set_num_threads(1)
    config = TrainConfig(space="tiny", batch_size=64, seed=args.seed)
    space = search_spaces.get("tiny")
    torch.manual_seed(args.seed)
    net = space.build_supernet(num_classes=10)
    method = Sandwich(config, space)
    method.setup(net)
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    net.to(memory_format=layout).train()
    x = torch.randn(config.batch_size, 1, 8, 8).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (config.batch_size,))
    loads = [load_average()]

    def sandwich_step(rng: random.Random) -> list[dict]:
        net.zero_grad(set_to_none=True)
        method.step_archs = []
        with untracked_bn_statistics(net):
            method.step(net, x, y, rng)
        return list(method.step_archs)

    def static_sum(models: list[torch.nn.Module]) -> float:
        total = 0.0
        teacher = None
        for i, model in enumerate(models):
            model.zero_grad(set_to_none=True)
            t = time.perf_counter()
            logits = model(x)
            if i == 0:
                loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
                teacher = F.softmax(logits.detach().float(), dim=1)
            else:
                loss = distillation_loss(logits, teacher)
            loss.backward()
            total += time.perf_counter() - t
        return total

    def static_models(archs: list[dict]) -> list[torch.nn.Module]:
        models = []
        for arch in archs:
            model = net.extract(arch).to(memory_format=layout).train()
            for bn in (m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
                bn.track_running_stats = False  # as untracked_bn_statistics does for the supernet
            models.append(model)
        return models

    for warm in range(2):
        archs = sandwich_step(random.Random(f"warm/{warm}"))
        static_sum(static_models(archs))
    steps, ratios = [], []
    for step in range(args.sandwich_steps):
        seed = f"{args.seed}/{step}"
        archs = sandwich_step(random.Random(seed))  # which children this step trains
        models = static_models(archs)
        if step % 2:  # alternate which side goes first
            static_s = static_sum(models)
            t = time.perf_counter(); sandwich_step(random.Random(seed)); sandwich_s = time.perf_counter() - t  # noqa: E702
        else:
            t = time.perf_counter(); sandwich_step(random.Random(seed)); sandwich_s = time.perf_counter() - t  # noqa: E702
            static_s = static_sum(models)
        steps.append({"sandwich_s": sandwich_s, "static_s": static_s})
        ratios.append(sandwich_s / static_s)
    loads.append(load_average())
    return {"steps": steps, "ratios": ratios, "loads": loads, "batch": config.batch_size,
            "layout": "channels_last" if config.channels_last else "contiguous"}


# -- report ------------------------------------------------------------------------------------
def autogroup() -> str:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
    except OSError:
        return "n/a"


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Throughput (`tiny` on `digits`, CPU)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, "
        f"torch {torch.__version__}, Python {platform.python_version()}. Written by:",
        "",
    ]
    lines += [f"- `{c[0]}` ({c[1]}, {c[2]:.0f} s)" for c in results.get("commands", [])]
    lines += [
        "",
        "**Shared machine.** Other jobs (test suites, Ray jobs, benchmarks) may share the same cores; "
        "each part records the load averages (1, 5, 15 min) before and after it. Ratios are measured side by "
        "side (repeats rotate the order of the arms, so both sides of a ratio see similar load), but absolute "
        "times are inflated and noisy.",
        "",
        "**GPU.** No GPU machine was lent to this session: there are no GPU figures.",
        "",
    ]
    lines += render_summary(results)
    if "search" in results:
        lines += render_search(results["search"])
    if "elastic" in results:
        lines += render_elastic(results["elastic"])
    if "sandwich" in results:
        lines += render_sandwich(results["sandwich"])
    return "\n".join(lines) + "\n"


def _ratio(runs: dict, a: str, b: str, trials: int, index: int) -> float:
    """Median over repeats of rate(a) / rate(b); index 0: end to end, 1: steady."""
    return median([rates(x, trials)[index] / rates(y, trials)[index] for x, y in zip(runs[a], runs[b])])


def render_summary(results: dict[str, Any]) -> list[str]:
    rows = []
    if "search" in results:
        res = results["search"]
        runs, n = res["runs"], res["trials"]
        text = (f"{_ratio(runs, 'tune1', 'loop', n, 0):.2f} end to end ({n} trials), "
                f"{_ratio(runs, 'tune1', 'loop', n, 1):.2f} steady")
        if "long_tune1" in runs:
            text += f", {_ratio(runs, 'long_tune1', 'long_loop', res['long_trials'], 0):.2f} end to end " \
                    f"({res['long_trials']} trials)"
        if "cold" in runs:
            text += f"; vs a fresh-process loop {_ratio(runs, 'tune1', 'cold', n, 0):.2f} end to end ({n} trials)"
        if "tune1b" in runs:
            k = res.get("archs_per_trial")
            text += (f"; **with `archs_per_trial={k}`: {_ratio(runs, 'tune1b', 'loop', n, 0):.2f} end to end, "
                     f"{_ratio(runs, 'tune1b', 'loop', n, 1):.2f} steady")
            if "long_tune1b" in runs:
                text += f", {_ratio(runs, 'long_tune1b', 'long_loop', res['long_trials'], 0):.2f} end to end " \
                        f"({res['long_trials']} trials)"
            text += "**"
        rows.append(["(a) raynas.search (concurrency 1) / bare loop, evaluations per second", ">= 0.90", text])
    if "elastic" in results:
        elastic = results["elastic"]["rows"]
        worst = {}
        for row in elastic:
            key = (row["batch"], row["layout"])
            worst[key] = max(worst.get(key, 0.0), row["ratio"])
        text = "; ".join(f"batch {b}, {layout}: at most {v:.2f}" for (b, layout), v in sorted(worst.items()))
        rows.append(["(b) supernet active path / extracted subnet, forward time", "<= 1.15", text])
    if "sandwich" in results:
        rows.append(["(c) sandwich step / sum of the 4 children's static forward + backward", "<= 1.2",
                     f"{median(results['sandwich']['ratios']):.2f}"])
    if "search" in results and "tune2" in results["search"]["runs"]:
        res = results["search"]
        runs, n = res["runs"], res["trials"]
        text = (f"raynas.search {_ratio(runs, 'tune2', 'tune1', n, 1):.2f} steady, "
                f"{_ratio(runs, 'tune2', 'tune1', n, 0):.2f} end to end")
        if "tune2b" in runs:
            text += (f"; with `archs_per_trial={res.get('archs_per_trial')}` "
                     f"{_ratio(runs, 'tune2b', 'tune1b', n, 0):.2f} end to end")
        if "proc2" in runs:
            proc = median([a["wall_s"] / b["wall_s"] for a, b in zip(runs["proc1"], runs["proc2"])])
            text += f"; plain processes {proc:.2f}"
        if "proc2s" in runs:
            own = median([a["wall_s"] / b["wall_s"] for a, b in zip(runs["proc1s"], runs["proc2s"])])
            text += f", plain processes each in its own session {own:.2f}"
        rows.append(["(d) evaluations per second, 2 workers / 1 worker", ">= 1.8", text])
    if not rows:
        return []
    out = ["## Summary (medians)", "", "| ratio | target | measured |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return out + [""]


ARMS = (("loop", "bare loop, this process (warm: modules imported)"),
        ("cold", "bare loop, a fresh Python process (imports included)"),
        ("loop_nchw", "bare loop, this process, `channels_last=False` (the evaluator before the fix)"),
        ("tune1", "raynas.search, concurrency 1"),
        ("tune1b", "raynas.search, concurrency 1, `archs_per_trial` K"),
        ("tune2", "raynas.search, concurrency 2"),
        ("tune2b", "raynas.search, concurrency 2, `archs_per_trial` K"))


def render_search(res: dict[str, Any]) -> list[str]:
    trials, runs = res["trials"], res["runs"]
    options = res.get("evaluator_options") or {}
    loop = [rates(r, trials) for r in runs["loop"]]
    out = ["## (a) Evaluations per second: raynas.search vs a bare loop", "",
           f"{trials} trials of the `random` strategy (seed {res['seed']}; every arm evaluates the same "
           f"{trials} architectures), `SupernetEvaluator(threads=1{''.join(f', {k}={v!r}' for k, v in options.items())})` "
           f"on an untrained `tiny` supernet, digits validation split (599 images) after BN re-calibration on 4 "
           f"batches of 128; {res['repeats']} repeats, medians. Ray started once with 2 CPUs, 1 CPU per trial, after "
           f"an untimed warm-up search. Load average before -> after: {res['loads'][0]} -> {res['loads'][1]}.", "",
           "| arm | end-to-end eval/s | steady eval/s | vs warm loop, end-to-end | vs warm loop, steady | "
           "wall s (repeats) | wall - sum of evaluation time, s | first result at, s | of which its evaluation, s |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, label in ARMS:
        if name not in runs:
            continue
        r = [rates(run, trials) for run in runs[name]]
        e2e, steady = median([x[0] for x in r]), median([x[1] for x in r])
        ratio_e2e = median([a[0] / b[0] for a, b in zip(r, loop)])
        ratio_steady = median([a[1] / b[1] for a, b in zip(r, loop)])
        overhead = median([run["wall_s"] - run["eval_s"] for run in runs[name]])
        first = median([run["done_s"][0] for run in runs[name]])
        first_eval = median([run["first_eval_s"] for run in runs[name]])
        label = label.replace("K", str(res.get("archs_per_trial")))
        out.append(f"| {label} | {e2e:.3f} | {steady:.3f} | **{ratio_e2e:.2f}** | **{ratio_steady:.2f}** | "
                   f"{fmt([run['wall_s'] for run in runs[name]], 1)} | {overhead:.1f} | {first:.1f} | {first_eval:.1f} |")
    if "long_tune1" in runs:
        n = res["long_trials"]
        loop_long = [rates(run, n) for run in runs["long_loop"]]
        for name, label in (("long_loop", f"bare loop, this process, {n} trials"),
                            ("long_tune1", f"raynas.search, concurrency 1, {n} trials"),
                            ("long_tune1b", f"raynas.search, concurrency 1, `archs_per_trial` "
                                            f"{res.get('archs_per_trial')}, {n} trials")):
            if name not in runs:
                continue
            r = [rates(run, n) for run in runs[name]]
            out.append(f"| {label} | {median([x[0] for x in r]):.3f} | {median([x[1] for x in r]):.3f} | "
                       f"**{median([a[0] / b[0] for a, b in zip(r, loop_long)]):.2f}** | "
                       f"**{median([a[1] / b[1] for a, b in zip(r, loop_long)]):.2f}** | "
                       f"{fmt([run['wall_s'] for run in runs[name]], 1)} | "
                       f"{median([run['wall_s'] - run['eval_s'] for run in runs[name]]):.1f} | "
                       f"{median([run['done_s'][0] for run in runs[name]]):.1f} | "
                       f"{median([run['first_eval_s'] for run in runs[name]]):.1f} |")
    tune_steady = [rates(run, trials)[1] for run in runs["tune1"]]
    per_trial = [1 / t - 1 / l[1] for t, l in zip(tune_steady, loop)]
    out += ["", f"Per-trial cost of Tune at concurrency 1 (1 / steady rate of the search - 1 / steady rate of the "
            f"loop, per repeat): {fmt(per_trial, 3)} s; median **{median(per_trial) * 1e3:.0f} ms** per trial.", ""]
    out += ["End to end: trials / wall time (Tune: the whole `raynas.search` call on a running Ray; loops: "
            "loading the evaluator's state plus the evaluations). Steady: (trials - 1) / time from the first to the "
            "last completion. Ratios are medians of per-repeat ratios. For concurrency 2 the sum of evaluation time "
            "counts both workers.", ""]
    if "tune2" in runs and "proc1" in runs:
        t1 = [rates(run, trials) for run in runs["tune1"]]
        t2 = [rates(run, trials) for run in runs["tune2"]]
        e2e = [b[0] / a[0] for a, b in zip(t1, t2)]
        steady = [b[1] / a[1] for a, b in zip(t1, t2)]
        proc = [a["wall_s"] / b["wall_s"] for a, b in zip(runs["proc1"], runs["proc2"])]
        batched = []
        if "tune2b" in runs:
            b1 = [rates(run, trials) for run in runs["tune1b"]]
            b2 = [rates(run, trials) for run in runs["tune2b"]]
            batched = [b[0] / a[0] for a, b in zip(b1, b2)]
        out += ["## (d) 1 vs 2 concurrent evaluation workers", "",
                f"Same runs as (a); `sched_autogroup_enabled` = {res.get('autogroup', 'n/a')}.", "",
                "| measured | speed-up, 2 vs 1 workers (repeats) | median |", "|---|---|---|",
                f"| raynas.search, concurrency 2 vs 1, end to end | {fmt(e2e, 2)} | **{median(e2e):.2f}** |",
                f"| raynas.search, concurrency 2 vs 1, steady | {fmt(steady, 2)} | **{median(steady):.2f}** |",
                *([f"| raynas.search with `archs_per_trial={res.get('archs_per_trial')}`, concurrency 2 vs 1, "
                   f"end to end | {fmt(batched, 2)} | **{median(batched):.2f}** |"] if batched else []),
                f"| plain processes sharing a queue, 2 vs 1, timed from a barrier after loading (what the machine "
                f"gives now) | {fmt(proc, 2)} | **{median(proc):.2f}** |"]
        if "proc2s" in runs:
            own = [a["wall_s"] / b["wall_s"] for a, b in zip(runs["proc1s"], runs["proc2s"])]
            out.append(f"| the same, each process in its own session (`setsid`: its own scheduler autogroup) | "
                       f"{fmt(own, 2)} | **{median(own):.2f}** |")
        out.append("")
    return out


def render_elastic(res: dict[str, Any]) -> list[str]:
    out = ["## (b) Supernet active path vs extracted static subnet (forward)", "",
           f"Eval mode, `torch.no_grad`, 1 thread, 8x8 inputs resized inside; {res['rounds']} interleaved rounds "
           f"of {res['calls']} calls each; medians per call. Load average before -> after: "
           f"{res['loads'][0]} -> {res['loads'][1]}.", "",
           "| batch | subnet | MFLOPs | memory layout | supernet ms | static ms | supernet / static |",
           "|---|---|---|---|---|---|---|"]
    for row in res["rows"]:
        out.append(f"| {row['batch']} | {row['subnet']} | {row['flops'] / 1e6:.2f} | {row['layout']} | "
                   f"{row['supernet_ms']:.3f} | {row['static_ms']:.3f} | **{row['ratio']:.2f}** |")
    return out + [""]


def render_sandwich(res: dict[str, Any]) -> list[str]:
    steps = res["steps"]
    return ["## (c) Sandwich step vs the four children's static forward + backward", "",
            f"Batch {res['batch']}, {res['layout']}, 1 thread, train mode with untracked BN statistics; "
            f"{len(steps)} steps (different random children each), the two sides alternating which goes first. "
            f"Load average before -> after: {res['loads'][0]} -> {res['loads'][1]}.", "",
            "| sandwich step ms (median) | sum of 4 static fwd+bwd ms (median) | ratio per step (median) | "
            "ratio per step (min - max) |", "|---|---|---|---|",
            f"| {1e3 * median([s['sandwich_s'] for s in steps]):.1f} | {1e3 * median([s['static_s'] for s in steps]):.1f} "
            f"| **{median(res['ratios']):.2f}** | {min(res['ratios']):.2f} - {max(res['ratios']):.2f} |", ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run: fewer trials, repeats and calls")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--trials", type=int, default=None, help="trials per search (default 16, quick 4)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of (a)/(d) (default 3, quick 2)")
    parser.add_argument("--concurrency2", action="store_true", help="(a) also at concurrency 2 without (d)")
    parser.add_argument("--long-trials", type=int, default=None,
                        help="(a) also a bare loop and a concurrency-1 search of this many trials (default 64, "
                             "quick 0: none)")
    parser.add_argument("--archs-per-trial", type=int, default=None,
                        help="(a)/(d) also search with this many architectures per Tune trial (default: trials / 2, "
                             "so that each of 2 workers gets whole batches; 1: no batched arms)")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                        help="evaluate with SupernetEvaluator(channels_last=False) (the layout before the fix)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "throughput.md"))
    parser.add_argument("--raw", default=None,
                        help="a JSON file of raw results: parts run now replace their entries, the others are "
                             "kept, and the report shows all (so that parts needing Ray can run separately)")
    parser.add_argument("--cold-loop", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cold_loop:
        _cold_loop_main(args.cold_loop)
        return
    command = command_line("throughput.py", argv)
    args.trials = args.trials or (4 if args.quick else 16)
    args.repeats = args.repeats or (2 if args.quick else 3)
    args.long_trials = (0 if args.quick else 64) if args.long_trials is None else args.long_trials
    args.archs_per_trial = max(args.trials // 2, 1) if args.archs_per_trial is None else args.archs_per_trial
    args.forward_batches = [128] if args.quick else [1, 128]
    args.forward_rounds, args.forward_calls = (3, 5) if args.quick else (5, 20)
    args.sandwich_steps = 4 if args.quick else 16
    args.evaluator_options = None if args.channels_last else {"channels_last": False}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    import json

    parts = set(args.parts)
    results: dict[str, Any] = {}
    if args.raw and os.path.exists(args.raw):
        with open(args.raw) as f:
            results = json.load(f)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="raynas-throughput-") as tmp:
        checkpoint = make_checkpoint(tmp, args.seed)
        if "b" in parts:
            results["elastic"] = part_elastic(args)
        if "c" in parts:
            results["sandwich"] = part_sandwich(args)
        if parts & {"a", "d"}:
            results["search"] = part_search(args, checkpoint, parts, tmp)
    results["commands"] = [c for c in results.get("commands", []) if set(c[3]).isdisjoint(parts)] + [
        [command, dt.datetime.now().strftime("%Y-%m-%d %H:%M"), time.perf_counter() - started, sorted(parts)]]
    if args.raw:
        with open(args.raw, "w") as f:
            json.dump(results, f, default=str)
    text = render(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
