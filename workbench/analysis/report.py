"""The leader's report: one standalone HTML file comparing runs, readable offline.

Why one file with everything inline: the reader is often not the person who ran the replay, and
opens the file from an e-mail or a shared drive, possibly offline. Vega, Vega-Lite and vega-embed are
inlined once (from vl-convert's bundle, about 0.9 MB), and each chart is a small JSON spec; no CDN,
no server. Every figure comes from :mod:`workbench.analysis.compare` and ``summary`` (the same
functions the CLI's ``--json`` and the app use), every chart and table says whether its data is
simulated, recorded or live, and the provenance section says how to repeat each run.
"""

from __future__ import annotations

import difflib
import html
import json
from functools import lru_cache
from pathlib import Path

import duckdb
import pandas as pd

from workbench.analysis import charts, compare
from workbench.analysis.fleet import no_routing_needed
from workbench.analysis.summary import run_summary
from workbench.errors import WorkbenchError
from workbench.scenario import parse_scenario

__all__ = ["build_report", "report_html", "script_json", "DEFAULT_VOLUME"]

#: Requests per day assumed by the monthly projection when the user gives none (stated in the report).
DEFAULT_VOLUME = 10_000


@lru_cache(maxsize=1)
def _vega_bundle() -> str:
    import vl_convert

    return vl_convert.javascript_bundle()


#: Characters that could end or comment out a <script> block ("</script>", "<!--"), start an entity,
#: or end a JavaScript line (U+2028/2029): written as JSON \\u escapes, which JSON.parse reads back.
_SCRIPT_UNSAFE = str.maketrans({c: f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"})


def script_json(data) -> str:
    """``data`` as JSON safe inside an HTML ``<script>`` block, whatever strings it holds."""
    return json.dumps(data).translate(_SCRIPT_UNSAFE)


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


def _headline(table: pd.DataFrame, projection: pd.DataFrame, baseline: str, volume: float) -> str:
    first = projection[projection.month == 1].set_index("run_id")
    rows = []
    for rid, r in table.iterrows():
        month = first.loc[rid]
        parts = [f"<b>{html.escape(r.scenario)}</b> <span class=mode>[{html.escape(r['mode'])}]</span>: "
                 f"{_money(month.cost_usd)} a month at {volume:,.0f} requests a day"]
        if rid != baseline:
            saving = month.savings_vs_baseline_usd
            parts.append(f"{'saves' if saving >= 0 else 'costs'} {_money(abs(saving))} a month against the baseline")
            if not pd.isna(r.d_quality):
                parts.append(f"quality {r.d_quality:+.3f} (95% interval {r.d_quality_lo:+.3f} to "
                             f"{r.d_quality_hi:+.3f}{', within noise' if r.d_quality_lo <= 0 <= r.d_quality_hi else ''})")
        parts.append(f"{_pct(r.error_rate)} of requests failed, {_pct(r.fallback_rate)} used a fallback, "
                     f"p95 latency {r.p95_latency_s:.2f} s")
        rows.append("<li>" + "; ".join(parts) + ".</li>")
    return "<ul class=headline>" + "".join(rows) + "</ul>"


def _no_routing_html(verdict: dict | None) -> str:
    """The plain "no routing needed" sentence, when one single-model design beats every other."""
    return "" if verdict is None else f"<p class=no-routing><b>{html.escape(verdict['reason'])}</b></p>"


_TABLE_COLUMNS = [
    ("scenario", "scenario", str), ("mode", "data", str), ("requests", "requests", "{:,}".format),
    ("cost_usd", "cost", _money), ("cost_per_1k_usd", "cost / 1k", _money),
    ("d_cost_per_1k_usd", "Δ cost / 1k", lambda v: "" if pd.isna(v) else ("+" if v >= 0 else "-") + _money(abs(v))),
    ("quality", "quality", lambda v: "n/a" if v is None or pd.isna(v) else f"{v:.3f}"),
    ("d_quality", "Δ quality [95%]", None), ("p50_latency_s", "p50 s", "{:.2f}".format),
    ("p95_latency_s", "p95 s", "{:.2f}".format), ("p99_latency_s", "p99 s", "{:.2f}".format),
    ("error_rate", "errors", _pct), ("fallback_rate", "fallbacks", _pct), ("retry_rate", "retries", _pct),
    ("handoff_rate", "hand-offs", _pct), ("strong_share", "strong share", _pct),
]


def _table_html(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in _TABLE_COLUMNS)
    body = []
    for rid, r in table.iterrows():
        cells = []
        for col, _, fmt in _TABLE_COLUMNS:
            if col == "d_quality":
                text = "" if pd.isna(r.d_quality) else f"{r.d_quality:+.3f} [{r.d_quality_lo:+.3f}, {r.d_quality_hi:+.3f}]"
            else:
                v = r[col]
                text = "n/a" if v is None or (not isinstance(v, str) and pd.isna(v)) else fmt(v)
            cells.append(f"<td data-col='{col}'>{html.escape(text)}</td>")
        body.append(f"<tr data-run='{html.escape(rid)}'>{''.join(cells)}</tr>")
    return f"<table class=compare><tr>{head}</tr>{''.join(body)}</table>"


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
        out.append(f"<h3>{html.escape(base.scenario)} → {html.escape(r.scenario)}</h3>"
                   f"<pre class=diff>{html.escape(text)}</pre>")
    return "".join(out) or "<p>Only one run: nothing to compare.</p>"


def _provenance_html(info: pd.DataFrame) -> str:
    rows = []
    for rid, r in info.iterrows():
        spec = json.loads(r.traffic_spec) if isinstance(r.traffic_spec, str) and r.traffic_spec else {}
        source = "" if spec.get("dataset") else f" --traffic {r.traffic_path}"  # a dataset is named by the scenario
        repeat = (f"workbench run {r.scenario_path or '<scenario>.yaml'}{source} "
                  f"--seed {r.seed} --requests {r.requests_planned}")
        rows.append(
            f"<tr><td>{html.escape(rid)}</td><td>{html.escape(r.scenario)}</td><td>{html.escape(r['mode'])}</td>"
            f"<td>{r.seed}</td><td><code>{r.scenario_hash[:12]}</code></td><td>{html.escape(str(r.traffic_path))} "
            f"<code>{r.traffic_hash[:12]}</code></td><td>{r.workbench_version}</td><td>{r.status}</td>"
            f"<td><code>{html.escape(repeat)}</code></td></tr>")
    head = ("<tr><th>run</th><th>scenario</th><th>data</th><th>seed</th><th>scenario hash</th><th>traffic</th>"
            "<th>version</th><th>status</th><th>repeat with</th></tr>")
    notes = [f"<li><b>{html.escape(r.scenario)}</b>: {html.escape(n)}</li>" for _, r in info.iterrows()
             for n in (json.loads(r.notes) if isinstance(r.notes, str) and r.notes else [])]
    method = f"<h3>Method notes</h3><ul>{''.join(notes)}</ul>" if notes else ""
    return f"<table class=prov>{head}{''.join(rows)}</table>{method}"


def _chart_specs(con, run_ids, modes, table, projection, budget) -> list[tuple[str, dict]]:
    points = compare.frontier(table.reset_index())
    made = [("frontier", charts.frontier_chart(points)) if table.quality.notna().any() else None,
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
    made.append(("projection", charts.projection_chart(projection, budget)))
    return [(name, chart.to_dict()) for name, chart in (m for m in made if m is not None)]


def report_html(con: duckdb.DuckDBPyConnection, run_ids: list[str], *, baseline: str | None = None,
                volume: float | None = None, growth: float = 0.0, budget: float | None = None) -> str:
    """The report for ``run_ids`` as one HTML string (see the module docstring)."""
    baseline = baseline or run_ids[0]
    if baseline not in run_ids:
        run_ids = [baseline, *run_ids]
    volume = DEFAULT_VOLUME if volume is None else volume
    info = _runs_info(con, run_ids)
    modes = info["mode"].to_dict()
    frame = compare.compare_runs(con, run_ids, baseline)
    verdict = no_routing_needed(con, frame)
    table = frame.set_index("run_id")
    summaries = [run_summary(con, rid) for rid in run_ids]
    projection = compare.monthly_projection(summaries, requests_per_day=volume, growth_per_month=growth,
                                            baseline=baseline, budget_usd_per_month=budget)
    specs = _chart_specs(con, run_ids, modes, table, _with_mode(projection, modes), budget)
    label = charts.data_label(modes.values())
    divs = "".join(f"<div class=chart id='chart-{name}' data-chart='{name}'></div>" for name, _ in specs)
    payload = script_json({name: spec for name, spec in specs})
    volume_note = ("" if volume != DEFAULT_VOLUME else
                   f" (no volume was given: {DEFAULT_VOLUME:,} a day is assumed)")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Routing comparison ({html.escape(label)})</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0;font-size:14px}} td,th{{border:1px solid #ccc;padding:4px 8px}}
th{{background:#f3f3f3}} .mode{{color:#a33;font-weight:600}} pre.diff{{background:#f8f8f8;padding:1em;overflow:auto}}
.chart{{margin:1.5em 0}} .label{{background:#fde;padding:2px 6px;border-radius:4px}}
</style></head><body>
<h1>Routing comparison <span class=label>{html.escape(label)}</span></h1>
<p>{len(run_ids)} runs over the same traffic and seed; baseline <b>{html.escape(info.loc[baseline].scenario)}</b>.
Monthly figures at {volume:,.0f} requests a day{volume_note}, growth {growth:.0%} a month, 30.4375 days a month.
Quality intervals are paired bootstrap 95% intervals over the same requests.</p>
<h2>Headline</h2>{_no_routing_html(verdict)}{_headline(table, projection, baseline, volume)}
<h2>Side by side</h2>{_table_html(table)}
<h2>Charts</h2>{divs}
<h2>What differs between the designs</h2>{_diffs_html(info, baseline)}
<h2>Where the data came from</h2>{_provenance_html(info)}
<script>{_vega_bundle()}</script>
<script id="specs" type="application/json">{payload}</script>
<script>
const specs = JSON.parse(document.getElementById("specs").textContent);
for (const [name, spec] of Object.entries(specs)) {{
  vegaEmbed("#chart-" + name, spec, {{renderer: "svg", actions: false}})
    .then(() => document.getElementById("chart-" + name).dataset.rendered = "yes")
    .catch(err => {{ document.getElementById("chart-" + name).textContent = "chart failed: " + err; }});
}}
</script></body></html>
"""


def build_report(con: duckdb.DuckDBPyConnection, run_ids: list[str], out: str | Path, **kw) -> Path:
    """Write the report for ``run_ids`` to ``out`` (see :func:`report_html` for the options)."""
    path = Path(out)
    text = report_html(con, run_ids, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
