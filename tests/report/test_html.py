"""report.html from results.csv / history.csv: content, self-containment, errors, the CLI."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from raynas.cli.main import main
from raynas.errors import ConfigError
from raynas.report.html import load_report_data, write_html_report
from raynas.report.results import write_results


class _Collect(HTMLParser):
    """Table rows by table class, SVG classes, external references, the JSON payload."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, int] = {}
        self.table: str | None = None
        self.in_body = False
        self.svgs: list[str] = []
        self.external: list[str] = []
        self.payload = ""
        self.in_payload = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = attrs.get("class", "")
            self.tables[self.table] = 0
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body and self.table is not None:
            self.tables[self.table] += 1
        elif tag == "svg":
            self.svgs.append(attrs.get("class", ""))
        if tag in ("link", "img", "iframe") or any(k in ("src", "href") for k in attrs):
            self.external.append(f"<{tag} {attrs}>")
        if tag == "script" and attrs.get("id") == "raynas-data":
            self.in_payload = True

    def handle_endtag(self, tag):
        if tag == "tbody":
            self.in_body = False
        elif tag == "table":
            self.table = None
        elif tag == "script":
            self.in_payload = False

    def handle_data(self, data):
        if self.in_payload:
            self.payload += data


def _parse(path):
    parser = _Collect()
    text = path.read_text()
    parser.feed(text)
    return parser, text


def test_compare_page_is_self_contained_and_complete(compare_dir):
    path = write_html_report(compare_dir)
    assert path == compare_dir / "report.html"
    page, text = _parse(path)
    assert page.external == [], "the page must load nothing from outside"
    assert not re.search(r"url\(|@import|https?://(?!www\.w3\.org/2000/svg)", text)
    assert page.tables["summary"] == 3  # one row per strategy
    kinds = " ".join(page.svgs)
    for kind in ("curves", "scatter", "walltime"):
        assert kind in kinds
    assert sum("curves" in k for k in page.svgs) == 2  # best so far and regret (the optimum is known)
    data = json.loads(page.payload)
    assert len(data["points"]) == 3 * 2 * 25
    failed = [p for p in data["points"] if "FAILED" in p["label"]]
    assert len(failed) == 1 and "non-finite" in failed[0]["label"]
    first = data["points"][0]
    assert set(first["arch"]) == {"edge0", "edge1", "edge2", "edge3"}
    assert {"accuracy", "test_accuracy", "flops", "params"} <= set(first["metrics"])
    # the winner is named, and the copy's front is said to coincide with random's
    assert "<b>evolution</b> has the lowest mean regret" in text
    assert "copy&#x27;s front has the same points as random&#x27;s" in text or \
        "copy's front has the same points as random's" in text
    # the wall time is split and labelled
    for label in ("start-up", "evaluating", "Tune overhead"):
        assert label in text


def test_no_regret_chart_without_a_known_optimum(compare_dir):
    settings = json.loads((compare_dir / "compare.json").read_text())
    settings.update(score=None, optimum=None)
    (compare_dir / "compare.json").write_text(json.dumps(settings))
    page, text = _parse(write_html_report(compare_dir))
    assert sum("curves" in k for k in page.svgs) == 1
    assert "has the highest mean best accuracy" in text


def test_results_csv_alone_is_enough(compare_dir):
    (compare_dir / "compare.json").unlink()
    data = load_report_data(compare_dir)
    assert data.kind == "compare" and data.objectives == [("accuracy", "max")]
    assert data.strategies == ["random", "copy", "evolution"]
    page, _ = _parse(write_html_report(compare_dir))
    assert page.tables["summary"] == 3


def test_two_objectives_plot_against_each_other_and_list_the_pareto_set(compare_dir):
    settings = json.loads((compare_dir / "compare.json").read_text())
    settings.update(objectives=["accuracy:max", "flops:min"], multi_objective=True, score=None, optimum=None)
    (compare_dir / "compare.json").write_text(json.dumps(settings))
    page, text = _parse(write_html_report(compare_dir))
    assert page.tables["pareto"] >= 1
    assert "The Pareto set over every run holds" in text
    assert "accuracy against MFLOPs" in text


def test_search_page(search_dir):
    page, text = _parse(write_html_report(search_dir))
    assert page.external == []
    assert page.tables["top"] == 15
    assert "Best accuracy:" in text and "Best architecture" in text
    data = json.loads(page.payload)
    assert len(data["points"]) == 30
    assert [p["label"].split(" ")[1] for p in data["points"][:3]] == ["1", "2", "3"]


def test_a_resumed_trial_keeps_its_last_row(search_dir):
    lines = (search_dir / "history.csv").read_text().splitlines()
    (search_dir / "history.csv").write_text("\n".join([*lines, lines[1]]) + "\n")  # trial 1 again
    assert len(load_report_data(search_dir).rows) == 30


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("empty_folder", "holds neither results.csv (from raynas compare) nor history.csv (from raynas search)"),
    ("no_trials", "holds no trials"),
    ("bad_json", "is not valid JSON"),
    ("unknown_metric", "metric 'top1' is in no trial"),
])
def test_bad_folders_are_refused_clearly(tmp_path, compare_dir, case, message):
    folder = tmp_path / "x"
    if case == "missing":
        folder = tmp_path / "nowhere"
    elif case == "empty_folder":
        folder.mkdir()
    elif case == "no_trials":
        folder.mkdir()
        write_results(folder / "results.csv", [])
    elif case == "bad_json":
        folder = compare_dir
        (folder / "compare.json").write_text("{not json")
    elif case == "unknown_metric":
        folder = compare_dir
        (folder / "compare.json").write_text(json.dumps({"objectives": ["top1:max"]}))
    with pytest.raises(ConfigError, match=re.escape(message)):
        write_html_report(folder)
    assert not (folder / "report.html").exists()


def test_cli_report(compare_dir, tmp_path, capsys):
    assert main(["report", str(compare_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"report: {compare_dir / 'report.html'}" in out
    assert (compare_dir / "report.html").stat().st_size > 10_000
    for argv in (["report", str(tmp_path / "nowhere")], ["report", str(tmp_path)], ["report"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("raynas: error: ") and err.count("\n") == 1, err
