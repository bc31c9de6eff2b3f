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


def _near(pixels, hex_color, tolerance=45):
    import numpy as np

    target = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return int((np.abs(pixels[..., :3] - target).max(axis=2) <= tolerance / 255.0).sum())


def _copied(rows):
    """The rows again as strategy "copy": the same points, the same front, the same curves."""
    return rows + [{**r, "strategy": "copy"} for r in rows if r["strategy"] == "random"]


def test_a_pareto_front_on_another_stays_visible(tmp_path, rows):
    import matplotlib.image

    from raynas.report._style import style_of

    path = plots.plot_pareto(_copied(rows), tmp_path / "pareto.png", title="t")
    pixels = matplotlib.image.imread(path)
    # all three fronts are the same points (the fixture's strategies propose alike); hidden
    # under the others, a front keeps only its legend entry and faint points (about 160 pixels)
    for index, name in enumerate(["random", "evolution", "copy"]):
        assert _near(pixels, style_of(index).color) > 250, f"{name}'s front is hidden"


def test_a_curve_on_another_stays_visible(tmp_path):
    import matplotlib.image

    from raynas.report._style import style_of

    same = [[1.0, 2.0, 2.0, 3.0, 3.0, 3.0], [1.5, 1.5, 2.5, 2.5, 2.5, 3.5]]
    curves = {"random": same, "copy": same, "evolution": [[0.5, 1.0, 1.2, 1.4, 1.5, 1.6]]}
    pixels = matplotlib.image.imread(plots.plot_curves(curves, tmp_path / "best.png", ylabel="best", title="t"))
    for index, name in enumerate(curves):  # hidden, a curve keeps only its legend entry (about 120 pixels)
        assert _near(pixels, style_of(index).color) > 400, f"{name}'s curve is hidden"


def test_log_axis_ticks_read_as_plain_numbers():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from raynas.report._ticks import log_ticks, tick_label

    assert log_ticks(0.3, 4.0) == [0.2, 0.5, 1.0, 2.0, 5.0]
    assert log_ticks(0.01, 9.7) == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    assert log_ticks(0.01, 500.0) == [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]  # beyond three decades: powers only
    assert [tick_label(v) for v in (0.01, 0.2, 1.0, 4.0, 50.0, 0.30000000000000004)] == \
        ["0.01", "0.2", "1", "4", "50", "0.3"]
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([1, 2, 3], [3.0, 4.0, 4.5])
    plots._log_axis(ax, 3.0, 4.5)  # within one decade matplotlib's default labels read 3x10^0, 4x10^0
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["2", "5"], labels
    assert not [t for t in ax.get_yticklabels(minor=True) if t.get_text()]


def test_wall_time_is_split_and_labelled(tmp_path):
    import matplotlib.image

    split = {"total_s": 10.0, "startup_s": 6.0, "evaluating_s": 3.0, "other_s": 1.0, "eval_sum_s": 5.0}
    path = plots.plot_wall_time({"random": [split, {**split, "total_s": 12.0, "other_s": 3.0}], "evolution": [4.0]},
                                tmp_path / "wall.png", title="t")
    assert _png_size(path) == plots.pixel_size()
    assert matplotlib.image.imread(path)[..., :3].std() > 0.05
