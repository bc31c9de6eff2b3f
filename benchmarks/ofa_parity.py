"""Forward time of imported once-for-all supernets: raynas vs the ``ofa`` package, same weights.

For each net id (``--nets``; default the MobileNetV3 w1.0 and ProxylessNAS w1.3 supernets)
the ``ofa`` package's supernet is built with random weights and randomised BN statistics,
saved in the published ``{"state_dict": ...}`` format and imported with
``raynas.import_ofa``. Then, for the smallest subnet (128 px), the median subnet (middle
choice of every key: depth 3, kernel 5, expand 4, 176 px) and the largest (224 px), at
batch 1 and 16, four callables are timed:

- raynas's active path (``net.set_active(arch); net(x)``) vs OFA's dynamic forward
  (``set_active_subnet(ks, e, d); ofa(x)``);
- raynas's ``net.extract(arch)`` vs OFA's ``get_active_subnet(preserve_weight=True)``.

Each pair is timed interleaved (A, B, A, B, ...) so both see the same load from the other
processes on the machine: ``--warmup`` calls each, then ``--repeats`` timed calls each, one
call per sample, in eval mode under ``torch.inference_mode`` on one torch thread. The
statistic is the median of the per-call thread CPU time (``time.thread_time``, insensitive
to time spent descheduled) and, beside it, the median wall-clock time. ``ratio`` =
raynas / OFA (target <= 1.0). Logits of the two are checked equal (relative 1e-6) before
timing.

Usage::

    nice -n 10 python benchmarks/ofa_parity.py [--nets all] [--repeats 7] [--out benchmarks/results/ofa_parity.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from _records import load_average  # noqa: E402

import torch  # noqa: E402

from raynas.ofa import NETS, import_ofa, to_ofa  # noqa: E402

DEFAULT_NETS = ["ofa_mbv3_d234_e346_k357_w1.0", "ofa_proxyless_d234_e346_k357_w1.3"]


def _ofa_net(net_id: str):
    from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3, OFAProxylessNASNets

    options = dict(dropout_rate=0, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4])
    if net_id.startswith("ofa_proxyless"):
        return OFAProxylessNASNets(width_mult=1.3, **options)
    return OFAMobileNetV3(width_mult=float(net_id[-3:]), **options)


@torch.no_grad()
def _randomise(net: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def _subnets(space) -> dict[str, dict]:
    median = {key: values[len(values) // 2] for key, values in space.choices.items()}
    return {
        "smallest": space.smallest(),
        "median": space.canonical(median),
        "largest": space.largest(),
    }


def _time_pair(a, b, *, warmup: int, repeats: int) -> dict[str, list[float]]:
    for _ in range(warmup):
        a()
        b()
    out = {"a_cpu": [], "b_cpu": [], "a_wall": [], "b_wall": []}
    for i in range(repeats):
        order = (("a", a), ("b", b)) if i % 2 == 0 else (("b", b), ("a", a))
        for name, fn in order:
            w, c = time.perf_counter(), time.thread_time()
            fn()
            out[f"{name}_cpu"].append((time.thread_time() - c) * 1e3)
            out[f"{name}_wall"].append((time.perf_counter() - w) * 1e3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nets", nargs="+", default=DEFAULT_NETS, help=f"net ids, or 'all' ({', '.join(NETS)})")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ofa_parity.md"))
    args = parser.parse_args()
    nets = list(NETS) if args.nets == ["all"] else args.nets
    torch.set_num_threads(1)
    torch.manual_seed(0)
    load_before, started = load_average(), time.monotonic()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for net_id in nets:
            ofa = _ofa_net(net_id)
            _randomise(ofa, seed=1)
            ofa.eval()
            path = Path(tmp) / f"{net_id}.pth"
            torch.save({"state_dict": ofa.state_dict()}, path)
            net = import_ofa(path, net_id).eval()
            for label, arch in _subnets(net.space).items():
                config = to_ofa(arch)
                r = config["r"]
                net.set_active(arch)
                ofa.set_active_subnet(ks=config["ks"], e=config["e"], d=config["d"])
                with torch.inference_mode():
                    ours_sub, ofa_sub = net.extract(arch), ofa.get_active_subnet(preserve_weight=True).eval()
                for batch in args.batches:
                    x = torch.randn(batch, 3, r, r, generator=torch.Generator().manual_seed(batch))
                    with torch.inference_mode():
                        reference = ofa(x)
                        scale = reference.abs().max().item()
                        exact = {
                            "supernet": (net(x) - reference).abs().max().item() / scale,
                            "subnet": (ours_sub(x) - ofa_sub(x)).abs().max().item() / scale,
                        }
                        assert max(exact.values()) <= 1e-6, (net_id, label, exact)
                        bitwise = {"supernet": torch.equal(net(x), reference),
                                   "subnet": torch.equal(ours_sub(x), ofa_sub(x))}
                        for kind, (a, b) in {"supernet": (lambda: net(x), lambda: ofa(x)),
                                             "subnet": (lambda: ours_sub(x), lambda: ofa_sub(x))}.items():
                            t = _time_pair(a, b, warmup=args.warmup, repeats=args.repeats)
                            row = {
                                "net": net_id, "subnet": label, "resolution": r, "batch": batch, "kind": kind,
                                "raynas_cpu": statistics.median(t["a_cpu"]), "ofa_cpu": statistics.median(t["b_cpu"]),
                                "raynas_wall": statistics.median(t["a_wall"]), "ofa_wall": statistics.median(t["b_wall"]),
                                "bitwise": bitwise[kind], "rel_diff": exact[kind], "load": load_average(),
                            }
                            rows.append(row)
                            print(f"{net_id} {label:8s} b{batch:<2d} {kind:8s} raynas {row['raynas_cpu']:8.1f} ms  "
                                  f"ofa {row['ofa_cpu']:8.1f} ms  ratio {row['raynas_cpu'] / row['ofa_cpu']:.3f}  "
                                  f"(wall {row['raynas_wall'] / row['ofa_wall']:.3f}) load {row['load']}", flush=True)
    elapsed = time.monotonic() - started
    _write(args, rows, load_before, load_average(), elapsed)
    print(f"wrote {args.out}")
    return 0


def _write(args, rows, load_before: str, load_after: str, elapsed: float) -> None:
    import ofa

    worst = max(r["raynas_cpu"] / r["ofa_cpu"] for r in rows)
    met = sum(r["raynas_cpu"] / r["ofa_cpu"] <= 1.0 for r in rows)
    cpu = platform.processor() or platform.machine()
    lines = [
        "# raynas vs once-for-all: forward time with the same weights",
        "",
        f"Written by `nice -n 10 python benchmarks/ofa_parity.py --nets {' '.join(args.nets)} --batches "
        f"{' '.join(map(str, args.batches))} --warmup {args.warmup} --repeats {args.repeats}` on "
        f"{dt.date.today().isoformat()} in {elapsed:.0f} s.",
        "",
        f"- Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}, torch {torch.__version__}, "
        f"ofa {getattr(ofa, '__version__', 'installed from PyPI (0.1.0.post202307202001)')}; CPU, 1 torch thread, "
        "eval mode, `torch.inference_mode`, float32, NCHW.",
        f"- Load average (1/5/15 min) before: {load_before}; after: {load_after}. The machine's 2 cores were "
        "shared with other jobs throughout, so absolute times are noisy; each pair is timed interleaved so both "
        "sides see the same load, and the statistic is thread CPU time, which excludes time spent descheduled.",
        "- Weights: the `ofa` package's supernet with random weights and randomised BN statistics, saved as "
        "`{\"state_dict\": ...}` and imported with `raynas.import_ofa`. Subnets: smallest at 128 px, median "
        "(depth 3, kernel 5, expand 4 everywhere) at 176 px, largest at 224 px.",
        "- `supernet`: raynas `set_active(arch); net(x)` vs OFA `set_active_subnet(ks, e, d); ofa(x)`. "
        "`subnet`: raynas `extract(arch)` vs OFA `get_active_subnet(preserve_weight=True)`.",
        f"- Columns: median per-call thread CPU time over {args.repeats} calls after {args.warmup} warm-up "
        "calls; ratio = raynas / OFA (target <= 1.0); the wall-clock ratio beside it; whether the logits were "
        "bitwise equal, and the largest difference relative to the largest OFA logit.",
        "",
        f"**Target ratio <= 1.0 met at {met} of {len(rows)} points; worst ratio {worst:.3f}.**",
        "",
        "| net | subnet | px | batch | path | raynas (ms) | OFA (ms) | ratio | wall ratio | logits | load at point |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = r["raynas_cpu"] / r["ofa_cpu"]
        logits = "bitwise equal" if r["bitwise"] else f"rel. diff {r['rel_diff']:.1e}"
        lines.append(
            f"| {r['net']} | {r['subnet']} | {r['resolution']} | {r['batch']} | {r['kind']} | {r['raynas_cpu']:.1f} | "
            f"{r['ofa_cpu']:.1f} | {'**' if ratio > 1 else ''}{ratio:.3f}{'**' if ratio > 1 else ''} | "
            f"{r['raynas_wall'] / r['ofa_wall']:.3f} | {logits} | {r['load']} |")
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
