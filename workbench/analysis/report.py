"""The leader's report: one standalone HTML file comparing runs, readable offline.

Why one file with everything inline: the reader is often not the person who ran the replay, and
opens the file from an e-mail or a shared drive, possibly offline. Vega, Vega-Lite and vega-embed are
inlined once (from vl-convert's bundle, about 0.9 MB), and each chart is a small JSON spec; no CDN,
no server. Every figure comes from :mod:`workbench.analysis.compare` and ``summary`` (the same
functions the CLI's ``--json`` and the app use), every chart and table says whether its data is
simulated, recorded or live, the share of each design's requests per provenance (logged, recorded,
judged, simulated...) is tabled, runs over a logged dataset with propensities get the off-policy
estimate, and the provenance section says how to repeat each run.
"""

from __future__ import annotations

import difflib
import html
import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from workbench.analysis import charts, compare, money, rollout, verdict
from workbench.analysis.fleet import no_routing_needed
from workbench.analysis.report_provenance import PROVENANCE_CSS, OffPolicyFn, offpolicy_html, provenance_html
from workbench.analysis.summary import run_summary
from workbench.errors import WorkbenchError
from workbench.scenario import parse_scenario

__all__ = ["build_report", "report_html", "script_json", "DEFAULT_VOLUME"]

#: Requests per day assumed by the monthly projection when the user gives none (stated in the report).
DEFAULT_VOLUME = 10_000


@lru_cache(maxsize=1)
def _vega_bundle() -> str:
    import vl_convert

    return vl_convert.javascript_bundle()  # type: ignore[call-arg]  # its stub marks the optional snippet required


#: Characters that could end or comment out a <script> block ("</script>", "<!--"), start an entity,
#: or end a JavaScript line (U+2028/2029): written as JSON \\u escapes, which JSON.parse reads back.
_SCRIPT_UNSAFE = str.maketrans({c: f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"})


def script_json(data) -> str:
    """``data`` as JSON safe inside an HTML ``<script>`` block, whatever strings it holds."""
    return json.dumps(data).translate(_SCRIPT_UNSAFE)


#: Fits a 1280 px window and an A4 page: wide tables wrap their cells, charts shrink to the page width.
_CSS = """
body{font-family:system-ui,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:1em 0;font-size:13px;width:100%} td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f3f3f3} .mode{color:#a33;font-weight:600} table.compare td{white-space:nowrap}
pre.diff{background:#f8f8f8;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}
.chart{margin:1.5em 0;max-width:100%} .chart svg{max-width:100%;height:auto}
.label{background:#fde;padding:2px 6px;border-radius:4px} .recommendation{font-size:17px;background:#eef6ee;
padding:.8em 1em;border-left:5px solid #2f855a} dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 1em}
dt{font-weight:600} dd{margin:0}
table.prov{table-layout:fixed} table.prov td{overflow-wrap:anywhere} table.prov code{white-space:normal}
@media print{body{max-width:none;margin:0;font-size:11px} table{font-size:9px}
table.compare td,table.compare th{white-space:normal;overflow-wrap:anywhere;padding:2px 3px}
.recommendation{font-size:13px}
details{display:block} details>summary{list-style:none} .chart{break-inside:avoid}}
"""


#: Draws each chart from its JSON spec with the inlined vega-embed; a chart marks itself rendered (tests wait on it).
_LOADER = """<script>
const specs = JSON.parse(document.getElementById("specs").textContent);
for (const [name, spec] of Object.entries(specs)) {
  vegaEmbed("#chart-" + name, spec, {renderer: "svg", actions: false})
    .then(() => document.getElementById("chart-" + name).dataset.rendered = "yes")
    .catch(err => { document.getElementById("chart-" + name).textContent = "chart failed: " + err; });
}
</script>"""


def _runs_info(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pd.DataFrame:
    return con.execute(
        "SELECT run_id, scenario, mode, seed, scenario_hash, scenario_path, scenario_yaml, traffic_path, "
        "traffic_hash, requests_planned, workbench_version, status, started_at, finished_at, traffic_spec, notes "
        "FROM runs WHERE list_contains(?, run_id)", [run_ids]).df().set_index("run_id").loc[run_ids]


def _with_mode(frame: pd.DataFrame, modes: dict[str, str]) -> pd.DataFrame:
    out = frame.copy()
    out["mode"] = out["run_id"].map(modes)
    return out


def _money(v: float) -> str:
    return f"${v:,.2f}" if abs(v) >= 1 else f"${v:,.4f}"


def _pct(v) -> str:
    return "n/a" if v is None or pd.isna(v) else f"{v:.1%}"


def _no_routing_html(verdict: dict | None) -> str:
    """The plain "no routing needed" sentence, when one single-model design beats every other."""
    return "" if verdict is None else f"<p class=no-routing><b>{html.escape(verdict['reason'])}</b></p>"


def _recommendation_html(table: pd.DataFrame, projection: pd.DataFrame, baseline: str, budget: float | None,
                         volume: float, growth: float) -> str:
    """The memo's first paragraph: which design, why, its budget verdict and its verdict against the baseline."""
    frame = table.reset_index()
    rec = verdict.recommendation(frame, projection, baseline, budget)
    money = verdict.budget_words(projection, budget)
    first = projection[projection.month == 1].set_index("run_id").cost_usd.to_dict()
    said = {v.run_id: v.sentence for v in verdict.verdicts(frame, first, baseline, volume)}
    name = html.escape(rec["scenario"])
    head = (f"<b>Recommendation: adopt {name}</b>" if rec["within_budget"] else
            "<b>Recommendation: no design fits the budget</b>")
    base = html.escape(table.loc[baseline].scenario)
    against = (f" Against the baseline ({base}) it {html.escape(said[rec['run_id']])}"
               if rec["run_id"] in said else " It is the baseline design.")
    growth_note = f", growing {growth:.0%} a month" if growth else ""
    return (f"<p class=recommendation>{head}: {html.escape(rec['why'])}. Budget: {html.escape(money[rec['run_id']])} "
            f"(at {volume:,.0f} requests a day{growth_note}).{against}</p>")


def _verdicts_html(table: pd.DataFrame, projection: pd.DataFrame, baseline: str, volume: float) -> str:
    first = projection[projection.month == 1].set_index("run_id").cost_usd.to_dict()
    said = verdict.verdicts(table.reset_index(), first, baseline, volume)
    items = [f"<li><b>{html.escape(v.scenario)}</b> <span class=mode>[{html.escape(table.loc[v.run_id]['mode'])}]"
             f"</span> {html.escape(v.sentence)}</li>" for v in said]
    return f"<ul class=verdicts>{''.join(items)}</ul>" if items else "<p>Only one run: nothing to compare.</p>"


def _budget_html(projection: pd.DataFrame, table: pd.DataFrame, budget: float | None) -> str:
    words = verdict.budget_words(projection, budget)
    items = "".join(f"<li><b>{html.escape(table.loc[rid].scenario)}</b>: {html.escape(w)}.</li>"
                    for rid, w in words.items())
    return f"<ul class=budget>{items}</ul>"


def _modes_html(modes: dict[str, str]) -> str:
    seen = [m for m in verdict.MODE_WORDS if any(str(v).split(":")[0] == m for v in modes.values())]
    return "<ul class=modes>" + "".join(f"<li>{html.escape(verdict.MODE_WORDS[m])}</li>" for m in seen) + "</ul>"


_TABLE_COLUMNS: list[tuple[str, str, Callable[[Any], str] | None]] = [
    ("scenario", "scenario", str), ("mode", "data", str), ("requests", "requests", "{:,}".format),
    ("cost_usd", "cost", _money), ("cost_per_1k_usd", "cost / 1k", _money),
    ("d_cost_per_1k_usd", "Δ cost / 1k", lambda v: "" if pd.isna(v) else ("+" if v >= 0 else "-") + _money(abs(v))),
    ("quality", "quality", lambda v: "n/a" if v is None or pd.isna(v) else f"{v:.3f}"),
    ("d_quality", "Δ quality [95%]", None), ("p50_latency_s", "p50 s", "{:.2f}".format),
    ("p95_latency_s", "p95 s", "{:.2f}".format), ("p99_latency_s", "p99 s", "{:.2f}".format),
    ("error_rate", "errors", _pct), ("fallback_rate", "fallbacks", _pct), ("retry_rate", "retries", _pct),
    ("handoff_rate", "hand-offs", _pct), ("strong_share", "strong share", _pct),
]
_EXTRA_WORDS = {"scenario": "The design (the scenario's name).", "mode": "Where the figures come from (see below)."}


def _explain(col: str) -> str:
    return verdict.GLOSSARY[col][1] if col in verdict.GLOSSARY else _EXTRA_WORDS.get(col, "")


def _table_html(table: pd.DataFrame) -> str:
    head = "".join(f"<th title='{html.escape(_explain(col))}'>{html.escape(label)}</th>"
                   for col, label, _ in _TABLE_COLUMNS)
    body = []
    for rid, r in table.iterrows():
        cells = []
        for col, _, fmt in _TABLE_COLUMNS:
            if col == "d_quality":
                text = ("" if pd.isna(r.d_quality) else
                        f"{r.d_quality:+.3f} [{r.d_quality_lo:+.3f}, {r.d_quality_hi:+.3f}]")
            else:
                v = r[col]
                text = "n/a" if v is None or (not isinstance(v, str) and pd.isna(v)) or fmt is None else fmt(v)
            cells.append(f"<td data-col='{col}'>{html.escape(text)}</td>")
        body.append(f"<tr data-run='{html.escape(rid)}'>{''.join(cells)}</tr>")
    glossary = "".join(f"<dt>{html.escape(label)}</dt><dd>{html.escape(_explain(col))}</dd>"
                       for col, label, _ in _TABLE_COLUMNS)
    return (f"<div class=wide><table class=compare><tr>{head}</tr>{''.join(body)}</table></div>"
            f"<details class=glossary open><summary>What each column means</summary><dl>{glossary}</dl></details>")


def _design(yaml_text: str) -> list[str]:
    """The design without comments or defaults (the canonical YAML), so the diff shows only choices."""
    try:
        return parse_scenario(yaml_text).to_yaml().splitlines()
    except WorkbenchError:  # written by another version: show it as stored
        return yaml_text.splitlines()


def _diffs_html(info: pd.DataFrame, baseline: str) -> str:
    base = info.loc[baseline]
    out = []
    for rid, r in info.iterrows():
        if rid == baseline:
            continue
        diff = difflib.unified_diff(_design(base.scenario_yaml), _design(r.scenario_yaml),
                                    f"{base.scenario} (baseline)", r.scenario, lineterm="", n=2)
        text = "\n".join(diff) or "(identical designs)"
        changed = sum(1 for line in text.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---"))
        out.append(f"<details class=diff><summary>{html.escape(base.scenario)} → {html.escape(r.scenario)} "
                   f"({changed} changed lines of YAML)</summary><pre class=diff>{html.escape(text)}</pre></details>")
    return "".join(out) or "<p>Only one run: nothing to compare.</p>"


def _file_name(path) -> str:
    """A stored path shown without its folders: the report travels, the author's home directory does not."""
    return Path(str(path)).name if path is not None and not (isinstance(path, float) and pd.isna(path)) else ""


def _provenance_html(info: pd.DataFrame) -> str:
    rows = []
    for rid, r in info.iterrows():
        spec = json.loads(r.traffic_spec) if isinstance(r.traffic_spec, str) and r.traffic_spec else {}
        traffic = f"dataset {spec['dataset']}" if spec.get("dataset") else _file_name(r.traffic_path)
        source = "" if spec.get("dataset") else f" --traffic {traffic}"  # a dataset is named by the scenario
        repeat = (f"workbench run {_file_name(r.scenario_path) or '<scenario>.yaml'}{source} "
                  f"--seed {r.seed} --requests {r.requests_planned}")
        rows.append(
            f"<tr><td>{html.escape(rid)}</td><td>{html.escape(r.scenario)}</td><td>{html.escape(r['mode'])}</td>"
            f"<td>{r.seed}</td><td><code>{r.scenario_hash[:12]}</code></td><td>{html.escape(traffic)} "
            f"<code>{r.traffic_hash[:12]}</code></td><td>{r.workbench_version}</td><td>{r.status}</td>"
            f"<td><code>{html.escape(repeat)}</code></td></tr>")
    head = ("<tr><th>run</th><th>scenario</th><th>data</th><th>seed</th><th>scenario hash</th><th>traffic</th>"
            "<th>version</th><th>status</th><th>repeat with (from the scenario's folder)</th></tr>")
    notes = [f"<li><b>{html.escape(r.scenario)}</b>: {html.escape(n)}</li>" for _, r in info.iterrows()
             for n in (json.loads(r.notes) if isinstance(r.notes, str) and r.notes else [])]
    method = f"<h3>Method notes</h3><ul>{''.join(notes)}</ul>" if notes else ""
    return f"<table class=prov>{head}{''.join(rows)}</table>{method}"


def _chart_specs(con, run_ids, modes, table, projection, budget) -> list[tuple[str, dict]]:
    points = compare.frontier(table.reset_index())
    made: list[tuple[str, Any] | None] = [
        ("frontier", charts.frontier_chart(points)) if table.quality.notna().any() else None,
            ("cost", charts.cost_chart(_with_mode(compare.cost_breakdown(con, run_ids), modes)))]
    latency = compare.latency_samples(con, run_ids)
    if not latency.empty:  # every request rejected by the budget: no latency to draw
        made.append(("latency", charts.latency_chart(_with_mode(latency, modes))))
    timeline = compare.failure_timeline(con, run_ids)
    if not timeline.empty:
        made.append(("failures", charts.failure_timeline_chart(_with_mode(timeline, modes))))
    quality = compare.quality_by_category(con, run_ids)
    if not quality.empty and quality.quality.notna().any():
        made.append(("quality", charts.quality_chart(_with_mode(quality, modes))))
    made += [(f"rollout-{i}", rollout.timeline_chart(con, rid)) for i, rid in enumerate(run_ids)
             if rollout.is_rollout(con, rid)]  # a rollout's timeline: share per arm, guarded metrics, decisions
    made.append(("projection", charts.projection_chart(projection, budget)))
    return [(name, chart.to_dict()) for name, chart in (m for m in made if m is not None)]


def report_html(con: duckdb.DuckDBPyConnection, run_ids: list[str], *, baseline: str | None = None,
                volume: float | None = None, growth: float = 0.0, budget: float | None = None,
                offpolicy: OffPolicyFn | None = None) -> str:
    """The report for ``run_ids`` as one HTML string (see the module docstring); ``offpolicy`` estimates a
    run's design on its logged dataset (:func:`workbench.estimate.run_estimate`) for the off-policy section."""
    baseline = baseline or run_ids[0]
    if baseline not in run_ids:
        run_ids = [baseline, *run_ids]
    volume = DEFAULT_VOLUME if volume is None else volume
    info = _runs_info(con, run_ids)
    modes = info["mode"].to_dict()
    frame = compare.compare_runs(con, run_ids, baseline)
    verdict_ = no_routing_needed(con, frame)
    table = frame.set_index("run_id")
    summaries = [run_summary(con, rid) for rid in run_ids]
    projection = compare.monthly_projection(summaries, requests_per_day=volume, growth_per_month=growth,
                                            baseline=baseline, budget_usd_per_month=budget)
    specs = _chart_specs(con, run_ids, modes, table, _with_mode(projection, modes), budget)
    specs.append(("money", money.breakdown_chart(money.breakdown_frame(summaries)).to_dict()))
    label = charts.data_label(modes.values())
    divs = "".join(f"<div class=chart id='chart-{name}' data-chart='{name}'></div>" for name, _ in specs
                   if name not in ("projection", "money"))
    payload = script_json({name: spec for name, spec in specs})
    volume_note = ("" if volume != DEFAULT_VOLUME else
                   f" (no volume was given: {DEFAULT_VOLUME:,} a day is assumed)")
    base_name = html.escape(info.loc[baseline].scenario)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Routing comparison ({html.escape(label)})</title>
<style>{_CSS}{PROVENANCE_CSS}</style></head><body>
<h1>Routing comparison: decision memo <span class=label>{html.escape(label)}</span></h1>
{_recommendation_html(table, projection, baseline, budget, volume, growth)}{_no_routing_html(verdict_)}
<p class=scope>{len(run_ids)} runs over the same traffic and seed; baseline <b>{base_name}</b>. Every other
design is compared with it.</p>
<h2>The designs side by side</h2>{_table_html(table)}
<h2>What "{html.escape(label)}" means for these runs</h2>{_modes_html(modes)}
<h2>Where each design's quality came from</h2>{provenance_html(con, run_ids, info["scenario"].to_dict())}
<h2>Monthly projection</h2>
<p>At {volume:,.0f} requests a day{volume_note}, growth {growth:.0%} a month, in {verdict.month_words()};
each design's cost per request as measured in its run.</p>{_budget_html(projection, table, budget)}
<div class=chart id='chart-projection' data-chart='projection'></div>
<h2>Where the money goes</h2>
<p>Each design's cost by what it paid for (litellm's prices of each call's uncached, cached and
cache-written input, output and reasoning tokens at its tier; tools, humans, routing and judging calls),
in the run and in month 1 of the projection.</p>{money.breakdown_table_html(summaries, projection)}
<div class=chart id='chart-money' data-chart='money'></div>
<h2>Evidence</h2>
<p>Each design against the baseline. Quality differences are in percentage points of requests answered
correctly, with a paired bootstrap 95% interval: the same requests are resampled for both designs, and an
interval that includes 0 means these requests cannot tell the two designs apart.</p>
{_verdicts_html(table, projection, baseline, volume)}{divs}
{offpolicy_html(info, offpolicy)}
<h2>What differs between the designs</h2>{_diffs_html(info, baseline)}
<h2>Where the data came from</h2>{_provenance_html(info)}
<script>{_vega_bundle()}</script>
<script id="specs" type="application/json">{payload}</script>
{_LOADER}</body></html>
"""


def build_report(con: duckdb.DuckDBPyConnection, run_ids: list[str], out: str | Path, **kw) -> Path:
    """Write the report for ``run_ids`` to ``out`` (see :func:`report_html` for the options)."""
    path = Path(out)
    text = report_html(con, run_ids, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
