"""The HTML report's inline style sheet and script (no external resources)."""

from __future__ import annotations

__all__ = ["CSS", "SCRIPT", "strategy_css"]

CSS = """
:root { --ink: #1d2330; --muted: #5b6474; --line: #d9dee7; --card: #ffffff; --bg: #f4f6f9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1500px; margin: 0 auto; padding: 18px 22px 40px; }
h1 { font-size: 22px; margin: 4px 0 2px; }
h2 { font-size: 16px; margin: 0 0 8px; }
.sub { color: var(--muted); margin-bottom: 14px; }
.verdict { background: #fff8e1; border: 1px solid #f0d98c; border-radius: 8px; padding: 10px 14px;
  margin-bottom: 14px; font-size: 15px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(660px, 1fr)); gap: 14px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px;
  overflow-x: auto; }
.card.wide { grid-column: 1 / -1; }
.caption { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: #eef1f6; position: sticky; top: 0; }
td.name, th.name { text-align: left; }
td.arch { text-align: left; white-space: normal; font: 11.5px/1.3 ui-monospace, "DejaVu Sans Mono", monospace;
  max-width: 520px; word-break: break-all; }
tr.winner td { font-weight: 650; background: #fffbe8; }
.swatch { display: inline-block; width: 22px; height: 12px; margin-right: 6px; vertical-align: -1px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 10px; margin: 0 0 12px; }
.legend button { border: 1px solid var(--line); background: #fff; border-radius: 14px; padding: 3px 10px 3px 6px;
  cursor: pointer; font: inherit; color: inherit; }
.legend button.off { opacity: .35; text-decoration: line-through; }
.legend .hint { color: var(--muted); font-size: 12px; align-self: center; }
svg.chart { max-width: 100%; height: auto; display: block; }
svg .plot-area { fill: #fcfcfd; stroke: none; }
svg .grid { stroke: #e3e7ee; stroke-width: 1; }
svg .axis { stroke: #8a93a3; fill: none; }
svg .tick { font-size: 11px; fill: #4a5262; }
svg .label { font-size: 12px; fill: #333a48; }
svg .title { font-size: 13.5px; font-weight: 600; fill: #1d2330; }
svg .note { font-size: 11px; fill: #333; }
svg .seg { font-size: 10.5px; fill: #fff; font-weight: 600; pointer-events: none; }
svg .dot { fill: #111; }
svg .guide { stroke: #555; stroke-width: 1; stroke-dasharray: 3 3; pointer-events: none; }
svg.chart path:not([data-k]) { pointer-events: none; }
svg.chart path[data-k] { pointer-events: all; cursor: pointer; }
svg path.pt:hover, svg path.front-pt:hover { stroke: #000; stroke-width: 2; }
#tip { position: fixed; pointer-events: none; z-index: 10; max-width: 460px; background: rgba(25, 29, 38, .95);
  color: #f4f6f9; border-radius: 6px; padding: 7px 9px; font-size: 12px; line-height: 1.35; display: none;
  box-shadow: 0 3px 12px rgba(0,0,0,.25); }
#tip b { color: #fff; }
#tip .k { color: #aab3c5; }
#tip pre { margin: 4px 0 0; white-space: pre-wrap; word-break: break-all;
  font: 11px/1.3 ui-monospace, "DejaVu Sans Mono", monospace; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; font-size: 13px; }
dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
footer { color: var(--muted); font-size: 12px; margin-top: 18px; }
"""


def strategy_css(count: int) -> str:
    """Rules hiding strategy ``k``'s marks when the page body has class ``hide-s<k>``."""
    return "\n".join(f".hide-s{k} .s{k} {{ display: none; }}" for k in range(count))


# The page's script: hover tooltips on points (architecture and metrics), a value read-out
# along the curves, and legend buttons that show/hide a strategy in every chart. Text is
# set through textContent, never parsed as HTML.
SCRIPT = r"""
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("raynas-data").textContent);
  var tip = document.getElementById("tip");
  function fmt(v) {
    if (typeof v !== "number") { return String(v); }
    if (v === 0) { return "0"; }
    var a = Math.abs(v);
    if (a >= 1e9) { return Number((v / 1e9).toPrecision(4)) + "G"; }
    if (a >= 1e6) { return Number((v / 1e6).toPrecision(4)) + "M"; }
    if (a < 1e-3) { return v.toExponential(3); }
    return String(Number(v.toPrecision(5)));
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function place(ev) {
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 6) { x = ev.clientX - w - 14; }
    if (y + h > window.innerHeight - 6) { y = Math.max(6, ev.clientY - h - 14); }
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }
  function hide() { tip.style.display = "none"; }
  function showPoint(ev, k) {
    var p = DATA.points[k];
    if (!p) { return; }
    tip.textContent = "";
    var head = el("div");
    head.appendChild(el("b", "", p.label));
    if (p.front) { head.appendChild(el("span", "k", "  (on its Pareto front)")); }
    tip.appendChild(head);
    Object.keys(p.metrics).forEach(function (name) {
      var row = el("div");
      row.appendChild(el("span", "k", name + ": "));
      row.appendChild(document.createTextNode(fmt(p.metrics[name])));
      tip.appendChild(row);
    });
    tip.appendChild(el("pre", "", Object.keys(p.arch).map(function (key) {
      return key + " = " + p.arch[key];
    }).join("\n")));
    tip.style.display = "block";
    place(ev);
  }
  function svgPoint(svg, ev) {
    var m = svg.getScreenCTM();
    if (!m) { return null; }
    var pt = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse());
    return pt;
  }
  function valueAt(series, step) {
    var i = -1;
    for (var j = 0; j < series.x.length; j++) { if (series.x[j] <= step) { i = j; } }
    return i < 0 ? null : i;
  }
  function showCurves(svg, ev) {
    var chart = DATA.curves[svg.id];
    var pt = svgPoint(svg, ev);
    if (!chart || !pt) { return; }
    var x0 = +svg.dataset.x0, x1 = +svg.dataset.x1, px0 = +svg.dataset.px0, px1 = +svg.dataset.px1;
    var step = Math.round(x0 + (pt.x - px0) / (px1 - px0) * (x1 - x0));
    var guide = svg.querySelector(".guide");
    var lines = [];
    chart.series.forEach(function (s) {
      if (document.body.classList.contains("hide-s" + s.s)) { return; }
      var i = valueAt(s, step);
      if (i === null) { return; }
      var text = fmt(s.mean[i]);
      if (s.seeds > 1) { text += "  (band " + fmt(s.low[i]) + " to " + fmt(s.high[i]) + ")"; }
      lines.push([s.name, text]);
    });
    if (!lines.length || step < 1) { hide(); if (guide) { guide.setAttribute("visibility", "hidden"); } return; }
    if (guide) {
      var gx = px0 + (step - x0) / (x1 - x0) * (px1 - px0);
      guide.setAttribute("d", "M" + gx.toFixed(1) + "," + svg.dataset.top + "V" + svg.dataset.bottom);
      guide.setAttribute("visibility", "visible");
    }
    tip.textContent = "";
    tip.appendChild(el("b", "", "after " + step + " evaluation" + (step === 1 ? "" : "s")));
    lines.forEach(function (l) {
      var row = el("div");
      row.appendChild(el("span", "k", l[0] + ": "));
      row.appendChild(document.createTextNode(l[1]));
      tip.appendChild(row);
    });
    tip.style.display = "block";
    place(ev);
  }
  document.querySelectorAll("svg.chart").forEach(function (svg) {
    svg.addEventListener("mousemove", function (ev) {
      var target = ev.target.closest ? ev.target.closest("[data-k]") : null;
      if (target) { showPoint(ev, +target.getAttribute("data-k")); return; }
      if (svg.classList.contains("curves")) { showCurves(svg, ev); return; }
      hide();
    });
    svg.addEventListener("mouseleave", function () {
      hide();
      var guide = svg.querySelector(".guide");
      if (guide) { guide.setAttribute("visibility", "hidden"); }
    });
  });
  document.querySelectorAll(".legend button[data-s]").forEach(function (button) {
    button.addEventListener("click", function () {
      var cls = "hide-s" + button.getAttribute("data-s");
      var off = document.body.classList.toggle(cls);
      button.classList.toggle("off", off);
      button.setAttribute("aria-pressed", off ? "false" : "true");
    });
  });
  document.body.setAttribute("data-ready", "1");
})();
"""
