"""Timing layers and whole subnets on the current device, and building a :class:`LatencyTable`.

Every timing is: a warm-up, then ``repeats`` samples of ``number`` back-to-back calls
(``torch.inference_mode``, eval mode, one fixed random input), done in ``rounds`` passes
over all the items in a seeded shuffled order, so that a burst of load from other
processes spreads over many items instead of ruining one; the result is the median over
all samples. The torch thread count is set for the measurement and restored after.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from raynas.checks import check_choice, check_int
from raynas._config import from_dict
from raynas.errors import ConfigError
from raynas.latency._device import DEVICES, describe_device
from raynas.latency._layers import LayerConfig, check_mobilenet_space, space_layers
from raynas.latency.table import LatencyTable

__all__ = ["MeasureConfig", "measure_table", "measure_table_and_subnets", "measure_subnets", "time_callable", "build_layer", "summarize", "percentile"]

logger = logging.getLogger(__name__)

#: ``MeasureConfig.timer`` -> clock.
TIMERS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "thread_cpu": time.thread_time}

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class MeasureConfig:
    """How latency is measured.

    Args:
        device: ``"cpu"`` or ``"cuda"``.
        batch_size: images per forward (1: the latency of one request).
        threads: torch intra-op threads while timing (CPU).
        warmup: untimed calls before each item's samples, in every round (at least 1).
        repeats: timed samples per item per round.
        number: back-to-back calls per sample (the sample is their mean).
        rounds: passes over all items, each in a new shuffled order.
        statistic: what summarises an item's samples: ``"median"``, ``"min"`` or a
            percentile ``"p1"`` .. ``"p99"`` (``"p10"`` suits a loaded machine; see above).
        timer: ``"wall"`` (``time.perf_counter``: the latency a caller sees) or
            ``"thread_cpu"`` (``time.thread_time``: CPU time of the timing thread, which
            leaves out the time the process waits while other processes hold the CPU; CPU
            device and ``threads=1`` only, where torch computes on the calling thread).
        calibration_subnets: random subnets timed whole to measure the constant overhead
            (0: no overhead term).
        seed: seeds the shuffles and the calibration subnets.
    """

    device: str = "cpu"
    batch_size: int = 1
    threads: int = 1
    warmup: int = 5
    repeats: int = 10
    number: int = 1
    rounds: int = 3
    statistic: str = "median"
    timer: str = "wall"
    calibration_subnets: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigError(f"MeasureConfig.device must be one of {list(DEVICES)}, got {self.device!r}")
        # warmup >= 1: the first call of a module pays one-off costs (allocator, kernel selection) worth
        # tens of milliseconds, which would swamp a layer's entry.
        for name, low in (("batch_size", 1), ("threads", 1), ("warmup", 1), ("repeats", 1), ("number", 1),
                          ("rounds", 1), ("calibration_subnets", 0)):
            check_int("MeasureConfig", name, getattr(self, name), low=low)
        check_int("MeasureConfig", "seed", self.seed)
        check_choice("MeasureConfig", "timer", self.timer, sorted(TIMERS))
        if self.timer == "thread_cpu" and (self.device != "cpu" or self.threads != 1):
            raise ConfigError("MeasureConfig.timer='thread_cpu' needs device='cpu' and threads=1 (the work must run "
                              f"on the timing thread), got device={self.device!r}, threads={self.threads!r}")
        if _percentile_of(self.statistic) is None:
            raise ConfigError(
                f"MeasureConfig.statistic must be 'median', 'min' or a percentile 'p1'..'p99', got {self.statistic!r}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MeasureConfig":
        return from_dict(cls, data)

    @classmethod
    def from_table(cls, table: LatencyTable) -> "MeasureConfig":
        """The config ``table`` was measured with (from its ``settings``), to time subnets the same way."""
        valid = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in table.settings.items() if k in valid})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _sync(device: str) -> Callable[[], None]:
    if device == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def time_callable(fn: Callable[[], Any], *, warmup: int, repeats: int, number: int,
                  sync: Callable[[], None] = lambda: None, clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """``repeats`` samples of the mean time of ``number`` calls of ``fn``, in ms, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeats):
        start = clock()
        for _ in range(number):
            fn()
        sync()
        samples.append((clock() - start) * 1e3 / number)
    return samples


class _Head(nn.Module):
    """What follows the last block in a static MobileNet: head convs, mean pool, pooled convs, classifier."""

    def __init__(self, head: Sequence[nn.Module], pooled: Sequence[nn.Module], classifier: nn.Module):
        super().__init__()
        self.head = nn.Sequential(*head)
        self.pooled = nn.Sequential(*pooled)
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        x = self.pooled(x.mean(3, keepdim=True).mean(2, keepdim=True))
        return self.classifier(torch.flatten(x, 1))


def build_layer(net: Any, layer: LayerConfig) -> nn.Module:
    """The static module (copied weights, eval mode) that runs ``layer`` in an extracted subnet of ``net``."""
    from raynas.nn import BlockPlan, hidden_channels

    spec = net.spec
    if layer.kind == "stem":
        return net.stem.export(spec.in_channels, layer.out_channels).eval()
    if layer.kind == "block":
        stage = spec.first_block if layer.stage == 0 else spec.stages[layer.stage - 1]
        hidden = hidden_channels(layer.in_channels, layer.expand_ratio) if stage.has_expand else layer.in_channels
        plan = BlockPlan(
            stage=layer.stage, index=layer.index, in_channels=layer.in_channels, hidden_channels=hidden,
            out_channels=layer.out_channels, kernel_size=layer.kernel_size, expand_ratio=layer.expand_ratio,
            stride=layer.stride, activation=stage.activation, se=stage.se, has_expand=stage.has_expand,
            residual=spec.residual(layer.stage, layer.index),
        )
        elastic = net.first_block if layer.stage == 0 else net.stages[layer.stage - 1][layer.index]
        return elastic.export(plan).eval()
    width, head, pooled = layer.in_channels, [], []
    for conv, out in zip(net.head, layer.head_widths):
        head.append(conv.export(width, out))
        width = out
    for conv, out in zip(net.pooled, layer.pooled_widths):
        pooled.append(conv.export(width, out))
        width = out
    return _Head(head, pooled, net.classifier.export(width, layer.out_channels)).eval()


def _timed_rounds(items: Sequence[tuple[str, Callable[[], Any]]], config: MeasureConfig, rng: random.Random,
                  progress: Progress | None, what: str) -> dict[str, list[float]]:
    """Samples per item name over ``config.rounds`` shuffled passes."""
    sync = _sync(config.device)
    samples: dict[str, list[float]] = {name: [] for name, _ in items}
    total, done = len(items) * config.rounds, 0
    started = time.monotonic()
    with torch.inference_mode():
        for round_index in range(config.rounds):
            order = list(items)
            rng.shuffle(order)
            for name, fn in order:
                samples[name] += time_callable(fn, warmup=config.warmup, repeats=config.repeats,
                                               number=config.number, sync=sync, clock=TIMERS[config.timer])
                done += 1
                if progress is not None:
                    progress(done, total)
            logger.info("%s: round %d/%d done in %.1fs", what, round_index + 1, config.rounds,
                        time.monotonic() - started)
    return samples


def _percentile_of(statistic: Any) -> float | None:
    """The percentile (0..100) a statistic name stands for, or None when the name is not valid."""
    if statistic == "median":
        return 50.0
    if statistic == "min":
        return 0.0
    if isinstance(statistic, str) and statistic.startswith("p") and statistic[1:].isdigit():
        value = int(statistic[1:])
        return float(value) if 1 <= value <= 99 else None
    return None


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of an empty sequence")
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(values: Sequence[float], statistic: str = "median") -> float:
    """``values`` summarised by ``statistic`` (see :class:`MeasureConfig`)."""
    q = _percentile_of(statistic)
    if q is None:
        raise ConfigError(f"statistic must be 'median', 'min' or a percentile 'p1'..'p99', got {statistic!r}")
    return percentile(values, q)


def _prepare(space: Any, net: Any | None, config: MeasureConfig) -> Any:
    check_mobilenet_space(space)
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for, but torch.cuda.is_available() is False on this machine; "
                          "measure with device='cpu' or on a machine with a GPU")
    if net is None:
        net = space.build_supernet()
    return net.eval().to(config.device)


def measure_subnets(
    space: Any,
    archs: Sequence[Mapping[str, Any]],
    *,
    net: Any | None = None,
    config: MeasureConfig = MeasureConfig(),
    progress: Progress | None = None,
) -> list[float]:
    """Latency (ms, ``config.statistic`` of the samples) of each extracted, static subnet of ``archs``, timed whole on ``config.device``.

    ``net`` is the supernet to extract from (default: a freshly initialised one; latency
    does not depend on the weights). The input has the subnet's resolution, so no resize runs.
    """
    net = _prepare(space, net, config)
    items = _subnet_items(space, archs, net, config, "subnet:")
    with _threads(config.threads):
        samples = _timed_rounds(items, config, random.Random(config.seed), progress, f"timing {len(items)} subnets")
    return [summarize(samples[f"subnet:{i}"], config.statistic) for i in range(len(archs))]


def _subnet_items(space: Any, archs: Sequence[Mapping[str, Any]], net: Any, config: MeasureConfig,
                  prefix: str) -> list[tuple[str, Callable[[], Any]]]:
    items = []
    for i, arch in enumerate(archs):
        subnet = net.extract(arch).to(config.device).eval()
        x = torch.randn(config.batch_size, *space.input_shape(arch), device=config.device)
        items.append((f"{prefix}{i}", (lambda m=subnet, t=x: m(t))))
    return items


def measure_table(
    space: Any,
    config: MeasureConfig = MeasureConfig(),
    *,
    net: Any | None = None,
    progress: Progress | None = None,
) -> LatencyTable:
    """Time every distinct layer of ``space`` at every resolution and return the lookup table.

    ``config.calibration_subnets`` random subnets (seed ``config.seed + 1``) are timed whole
    in the same shuffled rounds as the layers, so both see the same load; the median of
    (measured - sum of entries) becomes the table's ``overhead_ms``.
    """
    return measure_table_and_subnets(space, (), config, net=net, progress=progress)[0]


def measure_table_and_subnets(
    space: Any,
    archs: Sequence[Mapping[str, Any]],
    config: MeasureConfig = MeasureConfig(),
    *,
    net: Any | None = None,
    progress: Progress | None = None,
) -> tuple[LatencyTable, list[float]]:
    """:func:`measure_table`, plus the whole-subnet latency of each of ``archs`` timed in the same rounds.

    Interleaving puts the table's layers and the subnets under the same load, which is
    what a fair predicted-vs-measured comparison on a shared machine needs.
    """
    net = _prepare(space, net, config)
    layers = space_layers(space)
    rng = random.Random(config.seed)
    modules: dict[tuple, nn.Module] = {}
    inputs: dict[tuple, torch.Tensor] = {}
    items = []
    for layer in layers:
        shape_free = dataclasses.replace(layer, resolution=0)  # one module serves every resolution
        if shape_free not in modules:
            modules[shape_free] = build_layer(net, layer).to(config.device)
        size = (layer.in_channels, layer.resolution)
        if size not in inputs:
            inputs[size] = torch.randn(config.batch_size, layer.in_channels, layer.resolution, layer.resolution,
                                       device=config.device)
        items.append((layer.key, (lambda m=modules[shape_free], t=inputs[size]: m(t))))
    calibration = space.sample_distinct(config.calibration_subnets, random.Random(config.seed + 1))
    items += _subnet_items(space, calibration, net, config, "calibration:")
    items += _subnet_items(space, archs, net, config, "subnet:")
    logger.info("timing %d layer configurations and %d whole subnets of space %r on %s (batch %d, %d thread(s), "
                "%d rounds)", len(layers), len(calibration) + len(archs), space.name, config.device,
                config.batch_size, config.threads, config.rounds)
    with _threads(config.threads):
        samples = _timed_rounds(items, config, rng, progress, f"timing {len(items)} items")
    entries, spread = {}, {}
    for layer in layers:
        values = samples[layer.key]
        entries[layer.key] = summarize(values, config.statistic)
        spread[layer.key] = (percentile(values, 25), percentile(values, 75))
    settings = config.to_dict()
    table = LatencyTable(entries, space=space.name, space_kwargs=space.kwargs,
                         device=describe_device(config.device, threads=config.threads), settings=settings,
                         spread=spread)
    if calibration:
        measured = [summarize(samples[f"calibration:{i}"], config.statistic) for i in range(len(calibration))]
        residuals = [m - table.predict(space, a, overhead=False) for m, a in zip(measured, calibration)]
        median_residual = statistics.median(residuals)
        # A whole subnet cannot run faster than its layers: a negative residual means the
        # per-layer timings overstate (load or too little warm-up while they were timed).
        # It is recorded and reported, but not applied, so predictions stay positive sums.
        table.overhead_ms = max(0.0, median_residual)
        table.settings["overhead_calibration"] = {
            "subnets": len(calibration), "seed": config.seed + 1, "residuals_ms": [round(r, 5) for r in residuals],
            "median_residual_ms": round(median_residual, 5),
        }
        logger.info("constant overhead: %.4f ms (median residual over %d whole subnets)", table.overhead_ms,
                    len(calibration))
        if median_residual < 0:
            logger.warning("the whole subnets ran %.4f ms faster than the sum of their layers: the per-layer timings "
                           "overstate (too little warm-up, or load while the layers were timed); the overhead term "
                           "is set to 0 instead; re-measure with more repeats or --timer thread_cpu", -median_residual)
    return table, [summarize(samples[f"subnet:{i}"], config.statistic) for i in range(len(archs))]
