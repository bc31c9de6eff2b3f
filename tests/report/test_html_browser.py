"""report.html opened in headless Chromium: it renders, draws every strategy, hovers, logs no error."""

from __future__ import annotations

from raynas.report._style import style_of
from raynas.report.html import write_html_report

STRATEGIES = ("random", "copy", "evolution")  # "copy" proposes exactly what "random" does


def _charts(browser) -> dict[str, dict]:
    """Each chart's box in page coordinates (CSS pixels), by the id of its card."""
    return browser.evaluate("""
        Object.fromEntries([...document.querySelectorAll("section.card")].filter(c => c.querySelector("svg.chart"))
          .map(c => { const r = c.querySelector("svg.chart").getBoundingClientRect();
                      return [c.id, {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height}]; }))""")


def _crop(shot, box):
    x, y, w, h = (int(round(box[k])) for k in ("x", "y", "w", "h"))
    return shot[y:y + h, x:x + w].astype(int)


def _coloured(pixels) -> int:
    """Pixels with a clear hue (not white, grey or black text)."""
    return int(((pixels.max(axis=2) - pixels.min(axis=2)) > 60).sum())


def _near(pixels, hex_color: str, tolerance: int = 40) -> int:
    target = [int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]
    return int((abs(pixels - target).max(axis=2) <= tolerance).sum())


def test_compare_report_renders_in_chromium(browser, compare_dir):
    browser.open(write_html_report(compare_dir))
    assert browser.evaluate("document.body.dataset.ready") == "1", "the page's script did not finish"
    rows = browser.evaluate("[...document.querySelectorAll('table.summary tbody tr')].map(r => r.innerText)")
    assert len(rows) == len(STRATEGIES)
    assert [r.split()[0] for r in rows] == list(STRATEGIES)
    charts = _charts(browser)
    assert set(charts) == {"card-best", "card-regret", "card-scatter", "card-walltime"}
    shot = browser.screenshot()
    for card, box in charts.items():
        assert box["w"] > 300 and box["h"] > 100, f"{card} is laid out at {box}"
        assert _coloured(_crop(shot, box)) > 1500, f"{card} looks blank"
    # every strategy's colour shows in the curves and in the scatter, the copy's too although
    # its curve and Pareto front lie exactly on random's
    for card in ("card-best", "card-regret", "card-scatter"):
        pixels = _crop(shot, charts[card])
        for index, name in enumerate(STRATEGIES):
            assert _near(pixels, style_of(index).color) > 40, f"{name} is not visible in {card}"
    assert browser.errors() == []


def test_hovering_a_point_shows_its_architecture_and_metrics(browser, compare_dir):
    browser.open(write_html_report(compare_dir))
    target = browser.evaluate("""(() => {
        const el = document.querySelector("#card-scatter path.s1.front-pt[data-k]");
        el.scrollIntoView({block: "center"});
        const r = el.getBoundingClientRect();
        return {k: +el.dataset.k, x: r.left + r.width / 2, y: r.top + r.height / 2}; })()""")
    point = browser.evaluate(f"JSON.parse(document.getElementById('raynas-data').textContent).points[{target['k']}]")
    browser.hover(target["x"], target["y"])
    tip = browser.evaluate("(() => { const t = document.getElementById('tip'); "
                           "return {shown: getComputedStyle(t).display, text: t.innerText}; })()")
    assert tip["shown"] == "block"
    assert point["label"] in tip["text"] and "Pareto front" in tip["text"]
    for key, value in point["arch"].items():
        assert f"{key} = {value}" in tip["text"]
    assert "accuracy" in tip["text"] and "flops" in tip["text"]
    # along a curve: every strategy's value after that many evaluations
    box = browser.evaluate("""(() => { const s = document.querySelector("#card-best svg");
        s.scrollIntoView({block: "center"}); const r = s.getBoundingClientRect();
        return {x: r.left + r.width * 0.6, y: r.top + r.height * 0.5}; })()""")
    browser.hover(box["x"], box["y"])
    text = browser.evaluate("document.getElementById('tip').innerText")
    assert "evaluations" in text and all(f"{name}:" in text for name in STRATEGIES), text
    assert browser.errors() == []


def test_legend_hides_a_strategy_everywhere(browser, compare_dir):
    browser.open(write_html_report(compare_dir))
    browser.evaluate("document.querySelector('.legend button[data-s=\"0\"]').click()")
    charts = _charts(browser)
    pixels = _crop(browser.screenshot(), charts["card-scatter"])
    assert _near(pixels, style_of(0).color, tolerance=20) < 5, "random still drawn after hiding it"
    assert _near(pixels, style_of(1).color) > 40, "hiding random hid the copy too"
    assert browser.evaluate("document.querySelector('.legend button[data-s=\"0\"]').classList.contains('off')")
    assert browser.errors() == []


def test_search_report_renders_in_chromium(browser, search_dir):
    browser.open(write_html_report(search_dir))
    assert browser.evaluate("document.body.dataset.ready") == "1"
    assert browser.evaluate("document.querySelectorAll('table.top tbody tr').length") == 15
    assert browser.evaluate("document.querySelectorAll('#card-scatter path.best').length") == 1
    charts = _charts(browser)
    assert set(charts) == {"card-best", "card-scatter", "card-walltime"}
    shot = browser.screenshot()
    for card, box in charts.items():
        assert _coloured(_crop(shot, box)) > 800, f"{card} looks blank"
    assert browser.errors() == []
