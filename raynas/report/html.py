"""``report.html``: one self-contained page showing a comparison or a search at a glance.

The page is built from the files a run leaves behind, so it is the same whether written
at the end of ``raynas compare`` / ``raynas search`` or later by ``raynas report DIR``:

- a comparison folder: ``results.csv`` (one row per trial of every run), with
  ``compare.json`` (the settings: objectives, score, known optimum) where present;
- a search folder: ``history.csv`` (one row per trial), with ``search.json`` and
  ``best.json`` where present.

Everything is inline (SVG charts, a style sheet, a small script, the data as JSON): no
server, no network. Hovering a point shows its architecture and metrics; hovering a curve
reads off every strategy's value; the legend buttons show or hide a strategy everywhere.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import statistics
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Mapping, Sequence

from raynas.errors import ConfigError
from raynas.report import _html_assets as assets
from raynas.report._html_charts import curves_chart, finite, scatter_chart, wall_time_chart
from raynas.report._style import style_of
from raynas.pareto import pareto_rows
from raynas.report.plots import REGRET_FLOOR
from raynas.report.results import RESULTS_FILE, read_results, run_curves, runs_of, summarize, wall_time_split

__all__ = ["REPORT_FILE", "ReportData", "load_report_data", "write_html_report", "render_html"]

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"
HISTORY_FILE = "history.csv"  # what raynas.search writes
COMPARE_SETTINGS = "compare.json"
SEARCH_SETTINGS = "search.json"
BEST_FILE = "best.json"
# columns that are bookkeeping, not metrics of the architecture
_NOT_METRICS = {"strategy", "seed", "trial", "trial_id", "status", "arch", "error", "node_id", "pid",
                "wall_time_s"}
# cost axes of the scatter, in order of preference: column -> (label, divisor)
_COST_AXES = {"flops": ("MFLOPs", 1e6), "latency_ms": ("latency (ms)", 1.0), "params": ("M parameters", 1e6)}
_FIRST_METRICS = ("accuracy", "test_accuracy", "flops", "params", "latency_ms", "loss", "eval_time_s")


@dataclass
class ReportData:
    """What the page shows, read from a run's folder.

    Attributes:
        kind: ``"compare"`` or ``"search"``.
        rows: one per trial, with ``strategy``, ``seed`` and ``trial`` (1-based, completion order).
        strategies: in the order of the comparison.
        objectives: ``[(metric, mode), ...]``; the first ranks trials and strategies.
        score, optimum: the incumbent's final score and its best possible value (regret), if known.
        settings: the run's settings file as read (empty when absent).
        best: a search's ``best.json`` (``None`` when absent).
    """

    kind: str
    folder: Path
    rows: list[dict[str, Any]]
    strategies: list[str]
    objectives: list[tuple[str, str]]
    score: str | None = None
    optimum: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    best: dict[str, Any] | None = None

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); fix or remove it and run `raynas report` again") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path} must hold a JSON object, got {type(value).__name__}")
    return value


def _parse_objectives(texts: Any, source: Path) -> list[tuple[str, str]]:
    out = []
    for text in texts if isinstance(texts, list) else []:
        parts = str(text).split(":")
        if len(parts) < 2 or parts[1] not in ("max", "min"):
            raise ConfigError(f"{source}: objective {text!r} must read name:max or name:min")
        out.append((parts[0], parts[1]))
    return out


def _read_history(path: Path) -> list[dict[str, Any]]:
    """A ``history.csv`` as rows; a trial re-run on resume keeps only its last row."""
    rows = read_results(path)
    last = {row.get("trial_id"): i for i, row in enumerate(rows)}
    return [row for i, row in enumerate(rows) if last[row.get("trial_id")] == i]


def load_report_data(folder: str | os.PathLike) -> ReportData:
    """Read a comparison (``results.csv``) or search (``history.csv``) folder.

    Raises:
        ConfigError: the folder is missing, holds neither file, holds no trials, or names
            a metric its rows lack.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"report folder {str(folder)!r} does not exist or is not a folder")
    results, history = folder / RESULTS_FILE, folder / HISTORY_FILE
    if results.exists():
        settings = _read_json(folder / COMPARE_SETTINGS)
        try:
            rows = read_results(results)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{results} could not be read: {exc}") from None
        if rows and not {"strategy", "seed", "trial"} <= set(rows[0]):
            raise ConfigError(f"{results} lacks the strategy, seed and trial columns of a comparison; "
                              f"its columns: {sorted(rows[0])}")
        strategies = list(dict.fromkeys([*(settings.get("strategies") or []), *(r["strategy"] for r in rows)]))
        strategies = [s for s in strategies if any(r["strategy"] == s for r in rows)]
        objectives = _parse_objectives(settings.get("objectives"), folder / COMPARE_SETTINGS)
        data = ReportData("compare", folder, rows, strategies, objectives, settings.get("score"),
                          settings.get("optimum"), settings)
    elif history.exists():
        settings = _read_json(folder / SEARCH_SETTINGS)
        rows = _read_history(history)
        name = str(settings.get("strategy") or "search")
        for index, row in enumerate(rows, start=1):
            row.update(strategy=name, seed=int(settings.get("seed") or 0), trial=index)
        objectives = [(settings["metric"], settings.get("mode", "max"))] if settings.get("metric") else []
        best = _read_json(folder / BEST_FILE) or None
        data = ReportData("search", folder, rows, [name], objectives, settings=settings, best=best)
    else:
        raise ConfigError(f"report folder {str(folder)!r} holds neither {RESULTS_FILE} (from raynas compare) nor "
                          f"{HISTORY_FILE} (from raynas search)")
    if not data.rows:
        raise ConfigError(f"{folder / (RESULTS_FILE if data.kind == 'compare' else HISTORY_FILE)} holds no trials")
    columns = {k for r in data.rows for k, v in r.items() if finite(v)} - _NOT_METRICS
    if not data.objectives:
        if "accuracy" not in columns:
            raise ConfigError(f"{folder} has no settings file naming the metric and its trials have no accuracy "
                              f"column; metrics found: {sorted(columns)}")
        data.objectives = [("accuracy", "max")]
    for name, _mode in data.objectives:
        if name not in columns and any(r.get("status", "ok") == "ok" for r in data.rows):
            raise ConfigError(f"metric {name!r} is in no trial of {folder}; metrics found: {sorted(columns)}")
    if data.score is not None and data.score not in columns:
        data.score, data.optimum = None, None
    return data


# --- formatting -------------------------------------------------------------------------

def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


def _metric_label(name: str) -> str:
    label, scale = _COST_AXES.get(name, (name, 1.0))
    return label if scale != 1.0 else name


def _swatch(index: int) -> str:
    style = style_of(index)
    return f'<span class="swatch" style="background:{style.color}"></span>'


def _metrics_of(row: Mapping[str, Any], order: Sequence[str]) -> dict[str, float]:
    names = [n for n in order if finite(row.get(n))]
    names += sorted(k for k, v in row.items() if finite(v) and k not in _NOT_METRICS and k not in names)
    return {n: row[n] for n in names}


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, cls: str, row_classes: Sequence[str] = (),
           left: int = 1, arch_last: bool = False) -> str:
    """An HTML table; cells are already-escaped HTML; the first ``left`` columns align left and,
    with ``arch_last``, the last column wraps as an architecture."""
    def td(i: int, n: int, tag: str = "td") -> str:
        if arch_last and i == n - 1:
            return f'<{tag} class="{"arch" if tag == "td" else "name"}">'
        return f'<{tag} class="name">' if i < left else f"<{tag}>"

    head = "".join(f"{td(i, len(header), 'th')}{h}</th>" for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        extra = f' class="{row_classes[r]}"' if r < len(row_classes) and row_classes[r] else ""
        cells = "".join(f"{td(i, len(row))}{c}</td>" for i, c in enumerate(row))
        body.append(f"<tr{extra}>{cells}</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _column(name: str) -> str:
    """A metric's column header, in the units :func:`_cell` shows it in."""
    label, scale = _COST_AXES.get(name, (name, 1.0))
    return escape(label if scale != 1.0 else name)


def _cell(name: str, value: Any) -> str:
    scale = _COST_AXES.get(name, ("", 1.0))[1]
    return _fmt(value / scale if finite(value) else value)


def _legend(names: Sequence[str], seeds: Mapping[str, int]) -> str:
    buttons = []
    for index, name in enumerate(names):
        n = seeds.get(name, 0)
        buttons.append(f'<button type="button" data-s="{index}" aria-pressed="true">{_swatch(index)}'
                       f'{escape(name)} <small>({n} seed{"s" if n != 1 else ""})</small></button>')
    hint = '<span class="hint">click a strategy to hide or show it in every chart</span>' if len(names) > 1 else ""
    return f'<div class="legend">{"".join(buttons)}{hint}</div>'


def _card(title: str, body: str, caption: str = "", *, wide: bool = False, ident: str = "") -> str:
    cls = "card wide" if wide else "card"
    ident_attr = f' id="{ident}"' if ident else ""
    cap = f'<div class="caption">{caption}</div>' if caption else ""
    return f'<section class="{cls}"{ident_attr}><h2>{escape(title)}</h2>{body}{cap}</section>'


def _page(title: str, subtitle: str, verdict: str, body: Sequence[str], data: Mapping[str, Any], count: int) -> str:
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str).replace("<", "\\u003c")
    made = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{assets.CSS}
{assets.strategy_css(count)}</style></head>
<body><main>
<h1>{escape(title)}</h1>
<div class="sub">{subtitle}</div>
<div class="verdict">{verdict}</div>
{"".join(body)}
<footer>Written by raynas on {made} from the CSV files in this folder; <code>raynas report FOLDER</code> writes it
again. Self-contained: no network needed.</footer>
</main>
<div id="tip" role="tooltip"></div>
<script type="application/json" id="raynas-data">{payload}</script>
<script>{assets.SCRIPT}</script>
</body></html>
"""


# --- shared pieces ----------------------------------------------------------------------

def _scatter_axes(data: ReportData) -> tuple[tuple[str, str], tuple[str, str]] | None:
    """((x, mode), (y, mode)) of the scatter: a two-objective comparison's objectives, else the
    first objective against FLOPs (or latency, or parameters); ``None`` without a cost column."""
    if len(data.objectives) == 2:
        return data.objectives[1], data.objectives[0]
    first = data.objectives[0]
    for column in _COST_AXES:
        if column != first[0] and any(finite(r.get(column)) for r in data.rows):
            return (column, "min"), first
    return None


def _point_data(data: ReportData, order: Sequence[str], front: set[int]) -> list[dict[str, Any]]:
    points = []
    for i, row in enumerate(data.rows):
        label = (f"{row['strategy']} seed {row['seed']}, trial {row['trial']}" if data.kind == "compare"
                 else f"trial {row['trial']} ({row.get('trial_id', '')})")
        if row.get("status") == "stopped":
            fraction = row.get("fraction_evaluated")
            label += (f" stopped early after {100 * fraction:.0f}% of the validation set" if finite(fraction)
                      else " stopped early")
        elif row.get("status", "ok") != "ok":
            label += f" FAILED: {row.get('error', '')}"
        points.append({"label": label, "front": i in front, "metrics": _metrics_of(row, order),
                       "arch": row.get("arch") if isinstance(row.get("arch"), dict) else {}})
    return points


def _scatter_card(data: ReportData, order: Sequence[str], highlight: int | None) -> tuple[str, set[int], dict]:
    axes = _scatter_axes(data)
    if axes is None:
        return (_card("Architectures", "<p>No FLOPs, latency or parameter counts were recorded, so there is no "
                      "cost axis to plot against.</p>"), set(), {})
    (x, x_mode), (y, y_mode) = axes
    x_label, x_scale = _COST_AXES.get(x, (x, 1.0))
    keys = {i: i for i in range(len(data.rows))}
    built = scatter_chart(data.rows, data.strategies, x=x, y=y, x_mode=x_mode, y_mode=y_mode, x_scale=x_scale,
                          x_label=x_label, y_label=_metric_label(y), title=f"{y} against {x_label}",
                          chart_id="scatter", keys=keys, highlight=highlight)
    front: set[int] = set()
    for name in data.strategies:
        mine = [r for r in data.rows if r["strategy"] == name]
        front |= {id(r) for r in pareto_rows(mine, [(x, x_mode), (y, y_mode)])}
    front_rows = {i for i, r in enumerate(data.rows) if id(r) in front}
    if built is None:
        return _card("Architectures", f"<p>No successful trial has both {escape(x)} and {escape(y)}.</p>"), set(), {}
    svg, info = built
    notes = []
    for index, other in info["same"].items():
        notes.append(f"{escape(data.strategies[int(index)])}'s front has the same points as "
                     f"{escape(data.strategies[other])}'s (drawn inside it)")
    caption = ("Every evaluated architecture as a faint marker; each strategy's Pareto front (over all its seeds) "
               "as hollow markers joined by a step line, the first strategy's widest and each later one narrower "
               "and with its own dash pattern, so a front lying on another stays visible. Hover a point for its "
               "architecture and metrics.")
    if highlight is not None:
        caption += " The star is the best trial."
    if notes:
        caption += " " + "; ".join(notes) + "."
    return _card(f"{y} against {x_label}", svg, caption, ident="card-scatter"), front_rows, info


def _wall_time_card(data: ReportData) -> str:
    splits = {i: [wall_time_split(run) for (name, _seed), run in runs_of(data.rows).items() if name == s]
              for i, s in enumerate(data.strategies)}
    svg = wall_time_chart(splits, data.strategies, title="Where the wall time went, per run")
    if svg is None:
        return _card("Wall time", "<p>No wall times were recorded.</p>")
    caption = ("<b>start-up</b>: from the start of the run to the start of its first evaluation (Ray Tune setting "
               "up the experiment and starting trial workers); <b>evaluating</b>: time during which at least one "
               "evaluation was running; <b>Tune overhead</b>: the rest, with no evaluation running (scheduling "
               "and result processing). With a table look-up as the evaluator nearly all of it is Tune's own cost.")
    return _card("Wall time", svg, caption, ident="card-walltime")


# --- the comparison page ----------------------------------------------------------------

def _verdict(data: ReportData, summary: list[dict[str, Any]], final: int) -> tuple[str, str | None]:
    """The one-line answer (HTML) and the winning strategy."""
    cells = {(r["strategy"], r["quantity"]): r for r in summary if int(r["budget"]) == final}
    metric, mode = data.objectives[0]
    if data.multi:
        axes = list(data.objectives)
        front = pareto_rows(data.rows, axes)
        counts = {s: sum(1 for r in front if r["strategy"] == s) for s in data.strategies}
        winner = max(counts, key=counts.get) if front else None
        parts = ", ".join(f"{escape(s)} {n}" for s, n in counts.items())
        return (f"The Pareto set over every run holds <b>{len(front)}</b> architectures "
                f"({', '.join(f'{n}:{m}' for n, m in axes)}); found by: {parts}.", winner)
    if data.optimum is not None and data.score is not None:
        quantity, better, what = "regret", "min", f"regret of the incumbent's {data.score}"
    else:
        quantity, better, what = f"best_{metric}", mode, f"best {metric}"
    ranked = [(s, cells[(s, quantity)]) for s in data.strategies
              if (s, quantity) in cells and cells[(s, quantity)]["mean"] is not None]
    if not ranked:
        return "No trial succeeded, so there is nothing to rank.", None
    ranked.sort(key=lambda item: item[1]["mean"], reverse=better == "max")
    top = [s for s, c in ranked if c["mean"] == ranked[0][1]["mean"]]
    cell = ranked[0][1]
    best_word = "lowest" if better == "min" else "highest"
    seeds = f"over {cell['seeds']} seed{'s' if cell['seeds'] != 1 else ''}"
    if len(top) > 1:
        bold = [f"<b>{escape(s)}</b>" for s in top]
        names = ", ".join(bold[:-1]) + " and " + bold[-1]
        text = (f"After {final} evaluations, {names} tie for the {best_word} mean {escape(what)}: "
                f"<b>{_fmt(cell['mean'])}</b> &plusmn; {_fmt(cell['std'])} {seeds}")
        winner = None
    else:
        winner = ranked[0][0]
        text = (f"After {final} evaluations, <b>{escape(winner)}</b> has the {best_word} mean {escape(what)}: "
                f"<b>{_fmt(cell['mean'])}</b> &plusmn; {_fmt(cell['std'])} {seeds}")
    rest = [item for item in ranked if item[0] not in top]
    if rest:
        runner, other = rest[0]
        text += f"; next: {escape(runner)}, {_fmt(other['mean'])} &plusmn; {_fmt(other['std'])}"
        if cell["std"] is not None and other["std"] is not None and \
                abs(cell["mean"] - other["mean"]) < max(cell["std"], other["std"]):
            text += " (the gap is within one standard deviation over seeds)"
    return text + ".", winner


def _summary_card(data: ReportData, summary: list[dict[str, Any]], final: int, winner: str | None) -> str:
    cells = {(r["strategy"], r["quantity"]): r for r in summary if int(r["budget"]) == final}
    quantities = [q for q in dict.fromkeys(r["quantity"] for r in summary) if q != "wall_time_s"]
    header = ["strategy", "seeds", *[escape(q.replace("_", " ")) for q in quantities], "trials", "failed",
              "wall time / run (s)", "start-up (s)", "evaluating (s)", "Tune overhead (s)"]
    rows, classes = [], []
    runs = runs_of(data.rows)
    for index, name in enumerate(data.strategies):
        mine = [r for r in data.rows if r["strategy"] == name]
        splits = [wall_time_split(run) for (s, _seed), run in runs.items() if s == name]
        row = [f"{_swatch(index)}{escape(name)}" + (" &#9733;" if name == winner else ""),
               str(sum(1 for (s, _seed) in runs if s == name))]
        for quantity in quantities:
            cell = cells.get((name, quantity))
            row.append("-" if cell is None or cell["mean"] is None else
                       f"{_fmt(cell['mean'])} &plusmn; {_fmt(cell['std'], 2)} <small>({_fmt(cell['median'])})</small>")
        row += [str(len(mine)), str(sum(1 for r in mine if r.get("status", "ok") not in ("ok", "stopped")))]
        for key in ("total_s", "startup_s", "evaluating_s", "other_s"):
            values = [s[key] for s in splits if s[key] is not None]
            row.append(_fmt(statistics.fmean(values), 3) if values else "-")
        rows.append(row)
        classes.append("winner" if name == winner else "")
    caption = (f"After {final} evaluations per run: mean &plusmn; std (median) over seeds. Best values are of the "
               f"metric the strategies optimised; the incumbent is each run's best trial by that metric.")
    if data.optimum is not None:
        caption += f" Regret = known optimum {escape(str(data.score))} {_fmt(data.optimum, 6)} &minus; the incumbent's."
    return _card("Summary", _table(header, rows, cls="summary", row_classes=classes), caption, wide=True,
                 ident="card-summary")


def _curve_cards(data: ReportData, out: dict[str, Any]) -> list[str]:
    metric, mode = data.objectives[0]
    curves: dict[str, dict[int, list]] = {}
    for (name, _seed), run in runs_of(data.rows).items():
        index = data.strategies.index(name)
        for quantity, values in run_curves(run, objectives=data.objectives, score=data.score,
                                           optimum=data.optimum).items():
            curves.setdefault(quantity, {}).setdefault(index, []).append(values)
    cards = []
    best = curves_chart(curves.get(f"best_{metric}", {}), data.strategies, chart_id="curve-best",
                        title=f"Best {metric} so far",
                        y_label=f"best {metric} so far ({'higher' if mode == 'max' else 'lower'} is better)")
    if best:
        out["curve-best"] = best[1]
        cards.append(_card(f"Best {metric} so far", best[0], "Line: mean over seeds; band: &plusmn;1 std, its edges "
                           "drawn in the strategy's colour and dash pattern so overlapping bands stay apart. Hover "
                           "to read every strategy's value.", ident="card-best"))
    if data.optimum is not None and "regret" in curves:
        regret = curves_chart(curves["regret"], data.strategies, chart_id="curve-regret", log=True,
                              title=f"Regret of the incumbent's {data.score}",
                              y_label="regret (log scale, lower is better)")
        if regret:
            out["curve-regret"] = regret[1]
            cards.append(_card("Regret", regret[0], f"Known optimum {escape(str(data.score))} = "
                               f"{_fmt(data.optimum, 6)} minus the {escape(str(data.score))} of each run's incumbent "
                               f"(its best trial by {escape(metric)}); log scale, a regret of 0 drawn at "
                               f"{REGRET_FLOOR:g}.", ident="card-regret"))
    return cards


def _compare_page(data: ReportData) -> str:
    final = max(len(run) for run in runs_of(data.rows).values())
    summary = summarize(data.rows, budgets=[final], objectives=data.objectives, score=data.score,
                        optimum=data.optimum)
    verdict, winner = _verdict(data, summary, final)
    order = [n for n, _ in data.objectives] + ([data.score] if data.score else []) + list(_FIRST_METRICS)
    curves: dict[str, Any] = {}
    cards = _curve_cards(data, curves)
    scatter, front, _info = _scatter_card(data, order, None)
    body = [_legend(data.strategies, {s: sum(1 for k in runs_of(data.rows) if k[0] == s) for s in data.strategies}),
            '<div class="grid">', _summary_card(data, summary, final, winner), *cards, scatter,
            _wall_time_card(data)]
    if data.multi:
        body.append(_pareto_card(data, order))
    body.append(_setup_card(data.settings, data.folder))
    body.append("</div>")
    settings = data.settings
    seeds = sorted({r["seed"] for r in data.rows})
    subtitle = escape(f"{settings.get('evaluator') or 'evaluator not recorded'}; {len(data.strategies)} strategies "
                      f"x {len(seeds)} seeds x {final} evaluations"
                      + (f", concurrency {settings['max_concurrent']}" if settings.get("max_concurrent") else "")
                      + f"; objectives {', '.join(f'{n}:{m}' for n, m in data.objectives)}")
    title = f"Comparison: {settings.get('space') or data.folder.name}: {', '.join(data.strategies)}"
    payload = {"points": _point_data(data, order, front), "curves": curves}
    return _page(title, subtitle, verdict, body, payload, len(data.strategies))


def _pareto_card(data: ReportData, order: Sequence[str]) -> str:
    front = pareto_rows(data.rows, list(data.objectives))
    names = [n for n, _ in data.objectives]
    rows = [[f"{_swatch(data.strategies.index(r['strategy']))}{escape(r['strategy'])}", str(r["seed"]),
             str(r["trial"]), *[_cell(n, r.get(n)) for n in names],
             escape(json.dumps(r.get("arch"), sort_keys=True))] for r in front[:50]]
    more = f" The first 50 of {len(front)} are shown; all are in pareto.csv." if len(front) > 50 else ""
    return _card(f"Pareto set ({len(front)} architectures over every run)",
                 _table(["strategy", "seed", "trial", *map(_column, names), "architecture"], rows, cls="pareto",
                        arch_last=True),
                 "Architectures no other evaluated one beats in every objective." + more, wide=True)


def _setup_card(settings: Mapping[str, Any], folder: Path) -> str:
    shown = {k: v for k, v in settings.items() if v not in (None, "", [], {})}
    if not shown:
        return _card("Setup", f"<p>No settings file in {escape(str(folder))}.</p>", wide=True)
    items = "".join(f"<dt>{escape(str(k))}</dt>"
                    f"<dd>{escape(v if isinstance(v, str) else json.dumps(v, default=str))}</dd>"
                    for k, v in shown.items())
    return _card("Setup", f'<dl class="kv">{items}</dl>', wide=True)


# --- the search page --------------------------------------------------------------------

def _search_page(data: ReportData) -> str:
    metric, mode = data.objectives[0]
    ok = [i for i, r in enumerate(data.rows) if r.get("status", "ok") == "ok" and finite(r.get(metric))]
    order = [metric, *_FIRST_METRICS]
    ranked = sorted(ok, key=lambda i: data.rows[i][metric], reverse=mode == "max")
    best = ranked[0] if ranked else None
    curves: dict[str, Any] = {}
    points = [(0, float(data.rows[i]["trial"]), float(data.rows[i][metric]), i) for i in ok]
    built = curves_chart({0: [run_curves(data.rows, objectives=data.objectives)[f"best_{metric}"]]}, data.strategies,
                         chart_id="curve-best", title=f"Best {metric} so far (line) and every trial (markers)",
                         y_label=f"{metric} ({'higher' if mode == 'max' else 'lower'} is better)", points=points)
    cards = []
    if built:
        curves["curve-best"] = built[1]
        cards.append(_card(f"Best {metric} so far", built[0], "Each trial's value as a marker (hover for its "
                           "architecture); the line is the best so far.", ident="card-best"))
    scatter, front, _info = _scatter_card(data, order, best)
    failed = sum(1 for r in data.rows if r.get("status", "ok") not in ("ok", "stopped"))
    if best is None:
        verdict = f"No trial succeeded ({failed} failed); their reasons are in history.csv."
        best_card = ""
    else:
        row = data.rows[best]
        verdict = (f"Best {escape(metric)}: <b>{_fmt(row[metric])}</b>, trial {row['trial']} of {len(data.rows)}"
                   + (f", found {_fmt(row['wall_time_s'], 3)} s into the search" if finite(row.get("wall_time_s"))
                      else "")
                   + "".join(f"; {escape(_metric_label(k))} {_fmt(row[k] / _COST_AXES[k][1])}"
                             for k in _COST_AXES if finite(row.get(k))) + ".")
        arch = row.get("arch") if isinstance(row.get("arch"), dict) else {}
        items = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>" for k, v in arch.items())
        metrics = "".join(f"<dt>{_column(k)}</dt><dd>{_cell(k, v)}</dd>" for k, v in _metrics_of(row, order).items())
        note = ""
        if data.best and data.best.get("arch") not in (None, arch):
            note = " best.json names another architecture than the best row of history.csv (the table shows the row)."
        best_card = _card("Best architecture", f'<dl class="kv">{items}{metrics}</dl>', escape(note),
                          ident="card-bestarch")
    top_names = [n for n in order if any(finite(data.rows[i].get(n)) for i in ok)]
    top_names = list(dict.fromkeys(top_names))[:6]
    top_rows = [[str(k + 1), str(data.rows[i]["trial"]), *[_cell(n, data.rows[i].get(n)) for n in top_names],
                 escape(json.dumps(data.rows[i].get("arch"), sort_keys=True))] for k, i in enumerate(ranked[:15])]
    top = _card(f"Top {len(top_rows)} trials by {metric}",
                _table(["rank", "trial", *map(_column, top_names), "architecture"], top_rows, cls="top", left=0,
                       arch_last=True),
                f"{len(data.rows)} trials in all, {failed} failed (reasons in history.csv).", wide=True,
                ident="card-top")
    body = ['<div class="grid">', best_card, *cards, scatter, _wall_time_card(data), top,
            _setup_card(data.settings, data.folder), "</div>"]
    settings = data.settings
    subtitle = escape(f"strategy {data.strategies[0]}, {len(data.rows)} trials"
                      + (f", concurrency {settings['max_concurrent']}" if settings.get("max_concurrent") else "")
                      + f"; {metric}:{mode}")
    title = f"Search: {settings.get('space') or data.folder.name} with {data.strategies[0]}"
    payload = {"points": _point_data(data, order, front), "curves": curves}
    return _page(title, subtitle, verdict, body, payload, 1)


def render_html(data: ReportData) -> str:
    """The page's HTML for ``data``."""
    return _compare_page(data) if data.kind == "compare" else _search_page(data)


def write_html_report(folder: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write ``report.html`` for the comparison or search in ``folder`` (see the module doc).

    Args:
        folder: a ``raynas compare`` or ``raynas search`` output folder.
        out: where to write (default ``folder/report.html``); replaced atomically.

    Raises:
        ConfigError: see :func:`load_report_data`.
    """
    data = load_report_data(folder)
    text = render_html(data)
    path = Path(out) if out is not None else data.folder / REPORT_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    logger.info("wrote %s (%d trials, %.0f KB)", path, len(data.rows), len(text) / 1024)
    return path
