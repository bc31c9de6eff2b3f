"""Every plot is written as a non-empty PNG of the documented pixel size."""

from __future__ import annotations

import struct

import pytest

from raynas.report import plots


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def rows():
    out = []
    for strategy in ("random", "evolution"):
        for seed in (0, 1):
            for i in range(12):
                out.append({"strategy": strategy, "seed": seed, "trial": i + 1, "status": "ok",
                            "accuracy": 50.0 + (i * 7 + seed * 3) % 40, "flops": 1e6 * (1 + (i * 5) % 11)})
    return out


def test_pixel_size_is_800_by_500():
    assert plots.pixel_size() == (800, 500)


def test_curves_pareto_and_wall_time(tmp_path, rows):
    curves = {"random": [[1.0, 2.0, None, 3.0], [0.5, 0.5, 2.5, 2.5]], "evolution": [[None, 1.0, 4.0, 4.0]]}
    written = [
        plots.plot_curves(curves, tmp_path / "best.png", ylabel="best accuracy", title="t"),
        plots.plot_curves({"random": [[1.0, 0.0, 0.0]]}, tmp_path / "regret.png", ylabel="regret", title="t", log=True),
        plots.plot_pareto(rows, tmp_path / "pareto.png", title="t"),
        plots.plot_wall_time({"random": [3.0, 4.0], "evolution": [5.0]}, tmp_path / "wall.png", title="t"),
    ]
    for path in written:
        assert path.stat().st_size > 5_000, f"{path.name} is suspiciously small"
        assert _png_size(path) == plots.pixel_size()


def test_plots_are_not_blank(tmp_path, rows):
    import matplotlib.image

    path = plots.plot_pareto(rows, tmp_path / "pareto.png", title="t")
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (500, 800)
    assert pixels[..., :3].std() > 0.05  # lines, points and text, not a flat image
