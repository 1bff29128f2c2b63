"""The Compare page: stored runs side by side, with deltas, intervals, charts, projection, report.

Why nothing is computed here: the table is :func:`workbench.analysis.compare.compare_runs` (refusing
runs over different traffic, with paired bootstrap intervals), the charts are
:mod:`workbench.analysis.charts` (titles say simulated, recorded or live), the projection is
:func:`~workbench.analysis.compare.monthly_projection`, and the report is
:func:`~workbench.analysis.report.build_report`: the CLI, the notebooks and the report show the same
numbers for the same runs.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import pandas as pd
import panel as pn

from workbench.analysis import compare
from workbench.analysis.fleet import no_routing_needed
from workbench.analysis.summary import run_summary
from workbench.app.safe import html, join, labels, text
from workbench.app.state import AppState
from workbench.app.ui import Messages, guarded, mode_badge
from workbench.errors import WorkbenchError

__all__ = ["CompareView", "table_html", "no_routing_html"]

_COLUMNS = [  # key, label, format
    ("requests", "requests", "{:,.0f}"), ("cost_usd", "cost (USD)", "${:,.4f}"),
    ("cost_per_1k_usd", "cost per 1k", "${:,.3f}"), ("d_cost_per_1k_usd", "Δ cost/1k [95%]", None),
    ("quality", "quality", "{:.3f}"), ("d_quality", "Δ quality [95%]", None),
    ("p50_latency_s", "p50 latency (s)", "{:.2f}"), ("p95_latency_s", "p95 latency (s)", "{:.2f}"),
    ("error_rate", "error rate", "{:.2%}"), ("fallback_rate", "fallback rate", "{:.2%}"),
    ("handoff_rate", "hand-off rate", "{:.2%}"), ("strong_share", "strong-model share", "{:.1%}"),
]


def _cell(row: pd.Series, key: str, fmt: str | None) -> str:
    if fmt is None:  # a delta with its interval
        stem = key.removesuffix("_usd")
        v, lo, hi = row[key], row[f"{stem}_lo"], row[f"{stem}_hi"]
        return "-" if v is None or pd.isna(v) else f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    v = row[key]
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def table_html(table: pd.DataFrame) -> str:
    """The comparison table (one row per run, baseline first) as HTML with data-run/data-col hooks."""
    head = html("<th>scenario</th><th>data</th><th>run</th>{}",
                join(html("<th>{}</th>", lbl) for _, lbl, _ in _COLUMNS))
    rows = []
    for _, r in table.iterrows():
        cells = join(html("<td data-col='{}'>{}</td>", k, _cell(r, k, f)) for k, _, f in _COLUMNS)
        rows.append(html("<tr data-run='{}'><td><b>{}</b></td><td>{}</td><td style='font-size:11px'>{}</td>{}</tr>",
                         r.run_id, r.scenario, mode_badge(r["mode"]), r.run_id, cells))
    return html("<table class='wb-compare' style='border-collapse:collapse;font-size:13px'><tr>{}</tr>{}"
                "</table><p style='font-size:12px'>Δ: run minus the first (baseline) run, with the paired bootstrap "
                "95% interval over the same requests.</p><style>.wb-compare td,.wb-compare th{{border:1px solid #ccc;"
                "padding:3px 7px}}</style>", head, join(rows))


def no_routing_html(verdict: dict | None) -> str:
    """The "no routing needed" sentence of :func:`~workbench.analysis.fleet.no_routing_needed` ('' if None)."""
    return "" if verdict is None else html("<p class='wb-no-routing'><b>{}</b></p>", verdict["reason"])


def _saving(usd: float) -> str:
    if usd >= 0:
        return f", saves ${usd:,.2f} a month against the baseline"
    return f", costs ${-usd:,.2f} a month more than the baseline"


class CompareView:
    """The Compare tab; ``panel`` is its layout."""

    def __init__(self, state: AppState):
        self.state = state
        self.msg = Messages("compare")
        g = guarded(self.msg)
        W = pn.widgets
        self.pick = W.MultiChoice(label="runs to compare (the first is the baseline)", sizing_mode="stretch_width",
                                  css_classes=["wb-compare-pick"])
        self.pick.param.watch(g(lambda e: self.update()), "value")
        self.table = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-compare-table"])
        self.charts = pn.Column(sizing_mode="stretch_width")
        self.volume = W.IntSlider(label="requests per day", start=1_000, end=1_000_000, step=1_000, value=10_000,
                                  width=420)
        self.growth = W.FloatInput(label="growth per month (0.05 = 5%)", value=0.0, step=0.01, width=200)
        self.budget = W.FloatInput(label="monthly budget USD (0: none)", value=0.0, start=0.0, width=200)
        for w in (self.volume, self.growth, self.budget):
            w.param.watch(g(lambda e: self._project()), "value")
        self.projection = pn.pane.Vega(None, css_classes=["wb-projection"])
        self.projection_text = pn.pane.HTML("")
        self.download = W.FileDownload(callback=self._report, filename="workbench-report.html",
                                       label="Download the leader's report (HTML)", color="success",
                                       width=320, css_classes=["wb-report"])
        self._summaries: list[dict] = []
        self.panel = pn.Column(
            pn.pane.Markdown("### Compare runs\nOnly runs replayed over identical traffic and seed compare."),
            self.msg.pane, self.pick, self.table, self.download, self.charts,
            pn.pane.Markdown("### Monthly projection"), pn.Row(self.volume, self.growth, self.budget),
            self.projection_text, self.projection, sizing_mode="stretch_width")

    def refresh(self, select: list[str] | None = None) -> None:
        """Re-list the stored runs and pick ``select`` (default: keep the picks, else the last job's runs)."""
        with self.state.store() as st:
            runs = st.runs()
        self.msg.store_ok()
        options = labels({f"{r.scenario} [{r.mode}] {r.status} · {r.run_id}": r.run_id for r in runs.itertuples()})
        pick = select if select is not None else (list(self.pick.value) or self.state.finished_runs)
        pick = [r for r in pick if r in options.values()]
        if options != self.pick.options or pick != list(self.pick.value):
            self.pick.param.update(options=options, value=pick)  # one message: the browser never sees half

    def show_runs(self, run_ids: list[str]) -> None:
        """Compare exactly ``run_ids`` (called when a run finishes)."""
        self.refresh(select=run_ids)

    def update(self) -> None:
        """Recompute the table, charts and projection for the picked runs."""
        ids = list(self.pick.value)
        self.msg.clear()
        if not ids:
            self.table.object, self.charts.objects, self._summaries = "", [], []
            self.projection.object = None
            return
        with self.state.store() as st:
            table = compare.compare_runs(st.con, ids)
            verdict = no_routing_needed(st.con, table)
            self._summaries = [run_summary(st.con, rid) for rid in ids]
            panes = self._charts(st.con, ids, table)
        self.table.object = html("<p>Baseline: <b>{}</b> ({}); {} runs over the same traffic and seed.</p>{}{}",
                                 table.scenario.iloc[0], ids[0], len(ids), no_routing_html(verdict),
                                 table_html(table))
        self.charts.objects = panes
        self._project()

    def _charts(self, con, ids: list[str], table: pd.DataFrame) -> list:
        from workbench.analysis import charts  # Altair: seconds to import, loaded in the background at start

        modes = dict(zip(table.run_id, table["mode"]))

        def moded(frame: pd.DataFrame) -> pd.DataFrame:
            return frame.assign(mode=frame["run_id"].map(modes))

        makers = [("frontier", lambda: charts.frontier_chart(compare.frontier(table))),
                  ("cost", lambda: charts.cost_chart(moded(compare.cost_breakdown(con, ids)))),
                  ("latency", lambda: charts.latency_chart(moded(compare.latency_samples(con, ids)))),
                  ("failures", lambda: charts.failure_timeline_chart(moded(compare.failure_timeline(con, ids)))),
                  ("quality", lambda: charts.quality_chart(moded(compare.quality_by_category(con, ids))))]
        panes, skipped = [], []
        for name, make in makers:
            try:
                panes.append(pn.pane.Vega(make(), css_classes=[f"wb-chart-{name}"], margin=(10, 10)))
            except ValueError as exc:  # nothing to draw (no graders, no failures): say so, draw the rest
                skipped.append(f"{name}: {exc}")
        if skipped:
            panes.append(pn.pane.HTML(text("Not drawn: " + "; ".join(skipped))))
        return panes

    def _project(self) -> None:
        if not self._summaries:
            return
        from workbench.analysis import charts

        budget = self.budget.value or None
        proj = compare.monthly_projection(self._summaries, requests_per_day=self.volume.value,
                                          growth_per_month=self.growth.value or 0.0, budget_usd_per_month=budget)
        modes = {s["run_id"]: s["mode"] for s in self._summaries}
        self.projection.object = charts.projection_chart(proj.assign(mode=proj["run_id"].map(modes)), budget)
        first = proj[proj.month == 1]
        self.projection_text.object = html("<ul class='wb-projection-text'>{}</ul>", join(
            html("<li><b>{}</b>: ${:,.2f} in month 1{}</li>", r.scenario, r.cost_usd,
                 _saving(r.savings_vs_baseline_usd) if i else " (baseline)")
            for i, r in enumerate(first.itertuples())))

    def _report(self):
        from workbench.analysis.report import build_report

        ids = list(self.pick.value)
        if not ids:
            self.msg.error("pick the runs to report first")
            return io.StringIO("no runs were picked")
        try:
            with tempfile.TemporaryDirectory(prefix="workbench-report-") as tmp, self.state.store() as st:
                out = build_report(st.con, ids, Path(tmp) / "report.html", volume=self.volume.value,
                                   growth=self.growth.value or 0.0, budget=self.budget.value or None)
                data = out.read_bytes()
        except (WorkbenchError, ValueError, KeyError, OSError) as exc:
            self.msg.error(f"report not written: {exc}")
            return io.StringIO(f"report not written: {exc}")
        self.msg.ok(f"report written ({len(data) / 1e6:.1f} MB, all JavaScript inline: it opens offline)")
        return io.BytesIO(data)
