"""Latency lookup tables: decomposition into layers, hand-checked sums, files, device checks, measurement."""

from __future__ import annotations

import json
import logging
import random

import pytest
import torch

import raynas
import search_spaces
from raynas.latency import (
    DeviceMismatch,
    LatencyTable,
    LatencyTableError,
    MeasureConfig,
    build_layer,
    describe_device,
    measure_table,
    space_layers,
    subnet_layers,
    summarize,
)
from search_spaces import MobileNetSpace, StageSpec


def two_stage_space() -> MobileNetSpace:
    """Stem (stride 1, 8 ch) -> stage 1 (8 ch, stride 1, depth 1..2) -> stage 2 (16 ch, stride 2, depth 1) -> head."""
    return MobileNetSpace(
        [
            StageSpec(widths=(8,), depths=(1, 2), kernel_sizes=(3, 5), expand_ratios=(2, 4), stride=1),
            StageSpec(widths=(16,), depths=(1,), kernel_sizes=(3, 5), expand_ratios=(2, 4), stride=2,
                      activation="hswish", se=True),
        ],
        resolutions=(8, 12),
        in_channels=1,
        stem_widths=(8,),
        stem_stride=1,
        head_widths=(32,),
        num_classes=10,
        name="two-stage",
    )


def table_for(space, entries, **kw) -> LatencyTable:
    device = kw.pop("device", {"kind": "cpu", "name": "test cpu", "torch": torch.__version__, "threads": 1})
    return LatencyTable(entries, space=space.name, space_kwargs=space.kwargs, device=device,
                        settings={"threads": 1}, **kw)


def test_sum_equals_hand_computation_on_a_two_block_subnet():
    space = two_stage_space()
    arch = {"resolution": 12, "s1.depth": 1, "s1.b0.kernel": 5, "s1.b0.expand": 4, "s1.b1.kernel": 3,
            "s1.b1.expand": 2, "s2.depth": 1, "s2.b0.kernel": 3, "s2.b0.expand": 2}
    # Keys spelled out by hand: the stem sees 12 px; stage 1 keeps 12 px; stage 2's first block
    # has stride 2 (input 12 px) and the head sees (12 - 1) // 2 + 1 = 6 px.
    hand = {
        "stem|r12|in1|out8|k3|st1": 0.125,
        "block|s1.b0|r12|in8|out8|k5|e4|st1": 0.5,
        "block|s2.b0|r12|in8|out16|k3|e2|st2": 0.25,
        "head|r6|in16|head32|poolednone|cls10": 0.0625,
    }
    entries = {key: 100.0 for key in (layer.key for layer in space_layers(space))}
    assert set(hand) <= set(entries), "every hand-written key is a layer of the space"
    entries.update(hand)
    table = table_for(space, entries, overhead_ms=0.03125)
    assert [key for key, _ in table.breakdown(space, arch)] == list(hand)
    expected = 0.125 + 0.5 + 0.25 + 0.0625 + 0.03125
    assert table.predict(space, arch) == pytest.approx(expected, abs=1e-12)
    assert space.latency(arch, table) == pytest.approx(expected, abs=1e-12)
    assert table.predict(space, arch, overhead=False) == pytest.approx(expected - 0.03125, abs=1e-12)
    # The budget check goes through the same sum.
    assert raynas.Constraints(max_latency_ms=expected + 1e-6, latency_table=table).satisfied(space, arch)
    assert not raynas.Constraints(max_latency_ms=expected - 1e-6, latency_table=table).satisfied(space, arch)


def test_inactive_choices_do_not_change_the_prediction(synthetic_entries):
    space = two_stage_space()
    table = table_for(space, synthetic_entries(space))
    arch = space.smallest()
    other = {**arch, "s1.b1.kernel": 5, "s1.b1.expand": 4}  # block 1 of stage 1 is inactive at depth 1
    assert space.latency(arch, table) == space.latency(other, table)
    deeper = {**other, "s1.depth": 2}
    assert space.latency(deeper, table) > space.latency(arch, table)


def test_every_subnet_layer_is_in_the_enumeration():
    space = search_spaces.get("tiny")
    keys = {layer.key for layer in space_layers(space)}
    # 3 resolutions x (stem + head + 3 stages x 3 block positions x 3 kernels x 3 expand ratios)
    assert len(keys) == 3 * (2 + 3 * 3 * 9)
    rng = random.Random(0)
    for _ in range(200):
        arch = space.sample(rng)
        layers = subnet_layers(space, arch)
        assert {layer.key for layer in layers} <= keys
        depth = sum(arch[f"s{i}.depth"] for i in (1, 2, 3))
        assert len(layers) == depth + 2


def test_static_layers_compose_to_the_extracted_subnet():
    """The modules that get timed are exactly the extracted subnet's pieces."""
    torch.manual_seed(0)
    space = search_spaces.get("tiny")
    net = space.build_supernet().eval()
    rng = random.Random(3)
    for _ in range(3):
        arch = space.sample(rng)
        x = torch.randn(2, *space.input_shape(arch))
        out = x
        with torch.no_grad():
            for layer in subnet_layers(space, arch):
                assert out.shape[-1] == layer.resolution, layer.key
                out = build_layer(net, layer)(out)
            expected = net.extract(arch)(x)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_missing_entry_and_wrong_space_are_clear_errors(synthetic_entries):
    space = two_stage_space()
    entries = synthetic_entries(space)
    arch = space.largest()
    missing = subnet_layers(space, arch)[1].key
    del entries[missing]
    table = table_for(space, entries)
    with pytest.raises(LatencyTableError, match=missing.replace("|", r"\|")):
        space.latency(arch, table)
    tiny = search_spaces.get("tiny")
    with pytest.raises(LatencyTableError, match="'two-stage'.*'tiny'"):
        tiny.latency(tiny.smallest(), table)


def test_save_load_round_trip(tmp_path, synthetic_entries):
    space = two_stage_space()
    table = table_for(space, synthetic_entries(space), overhead_ms=0.2)
    path = table.save(tmp_path / "t.json")
    data = json.loads(path.read_text())
    assert data["format"] == "raynas.latency-table" and data["device"]["name"] == "test cpu"
    loaded = LatencyTable.load(path)
    rng = random.Random(1)
    for _ in range(10):
        arch = space.sample(rng)
        assert loaded.predict(space, arch) == table.predict(space, arch)


def test_table_from_another_device_is_refused_or_warned_per_flag(tmp_path, caplog, synthetic_entries):
    space = two_stage_space()
    here = describe_device("cpu", threads=1)
    other = {**here, "name": "Imaginary NPU 9000", "cpu_model": "Imaginary NPU 9000"}
    path = table_for(space, synthetic_entries(space), device=other).save(tmp_path / "other.json")
    with pytest.raises(DeviceMismatch, match="Imaginary NPU 9000"):
        LatencyTable.load(path, expect_device="current", on_mismatch="error")
    with caplog.at_level(logging.WARNING, logger="raynas.latency.table"):
        table = LatencyTable.load(path, expect_device="current", on_mismatch="warn")
    assert any("another device" in r.getMessage() and "Imaginary NPU 9000" in r.getMessage() for r in caplog.records)
    assert table.predict(space, space.smallest()) > 0
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="raynas.latency.table"):
        LatencyTable.load(path, expect_device="current", on_mismatch="ignore")
    assert not caplog.records
    # A table from this very device loads silently; so does one checked against an explicit description.
    same = table_for(space, synthetic_entries(space), device=here).save(tmp_path / "same.json")
    LatencyTable.load(same, expect_device="current", on_mismatch="error")
    LatencyTable.load(path, expect_device=other, on_mismatch="error")
    with pytest.raises(LatencyTableError, match="on_mismatch must be one of"):
        LatencyTable.load(path, expect_device="current", on_mismatch="shrug")


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(LatencyTableError, match="does not exist"):
        LatencyTable.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LatencyTableError, match="could not be read"):
        LatencyTable.load(bad)
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(LatencyTableError, match="not a raynas latency table"):
        LatencyTable.load(bad)
    with pytest.raises(LatencyTableError, match="finite"):
        LatencyTable({"k": float("nan")}, space="tiny")


def test_measure_config_validation_and_statistics():
    with pytest.raises(raynas.ConfigError, match="device"):
        MeasureConfig(device="tpu")
    with pytest.raises(raynas.ConfigError, match="repeats"):
        MeasureConfig(repeats=0)
    with pytest.raises(raynas.ConfigError, match="warmup must be an int >= 1"):
        MeasureConfig(warmup=0)
    with pytest.raises(raynas.ConfigError, match="statistic"):
        MeasureConfig(statistic="p100")
    with pytest.raises(raynas.ConfigError, match="valid keys"):
        MeasureConfig.from_dict({"repeat": 3})
    with pytest.raises(raynas.ConfigError, match="timer must be one of"):
        MeasureConfig(timer="sundial")
    with pytest.raises(raynas.ConfigError, match="threads=1"):
        MeasureConfig(timer="thread_cpu", threads=2)
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert summarize(values, "median") == 3.0
    assert summarize(values, "min") == 1.0
    assert summarize(values, "p25") == 2.0


def test_measure_table_times_every_layer_and_records_the_device(tmp_path):
    space = two_stage_space()
    config = MeasureConfig(warmup=1, repeats=2, rounds=1, calibration_subnets=2, seed=0, threads=1)
    torch.set_num_threads(2)
    try:
        table = measure_table(space, config)
        assert torch.get_num_threads() == 2  # the measurement restored the thread count it found
    finally:
        torch.set_num_threads(1)
    assert set(table.entries) == {layer.key for layer in space_layers(space)}
    assert all(ms > 0 for ms in table.entries.values())
    device = table.device
    assert device["kind"] == "cpu" and device["threads"] == 1 and device["torch"] == torch.__version__
    assert device["cpu_model"] and "cuda_device" in device
    assert table.settings["statistic"] == "median" and table.settings["overhead_calibration"]["subnets"] == 2
    # The file is plain JSON and loads on this device without complaint.
    path = table.save(tmp_path / "measured.json")
    loaded = LatencyTable.load(path, expect_device="current", on_mismatch="error")
    assert loaded.predict(space, space.largest()) == pytest.approx(table.predict(space, space.largest()))
    assert MeasureConfig.from_table(loaded) == config  # subnets can be timed exactly as the table was


@pytest.mark.gpu
def test_measure_table_on_cuda_records_the_gpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    space = two_stage_space()
    table = measure_table(space, MeasureConfig(device="cuda", warmup=2, repeats=3, rounds=1, calibration_subnets=2))
    assert table.device["kind"] == "cuda" and table.device["cuda_device"] == torch.cuda.get_device_name()
    assert set(table.entries) == {layer.key for layer in space_layers(space)}
    assert table.predict(space, space.largest()) > 0


def test_cuda_on_a_machine_without_one_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the error path needs one without")
    with pytest.raises(raynas.ConfigError, match="cuda"):
        measure_table(two_stage_space(), MeasureConfig(device="cuda"))
