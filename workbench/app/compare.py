"""The Compare page: stored runs side by side, in words and figures, each figure traceable to its requests.

Why nothing is computed here: the table is :func:`workbench.analysis.compare.compare_runs` (refusing
runs over different traffic, with paired bootstrap intervals), the words are
:mod:`workbench.analysis.verdict` (a verdict per design, the glossary, incompatible runs explained),
the charts are :mod:`workbench.analysis.charts` (titles say simulated, recorded or live), the
projection is :func:`~workbench.analysis.compare.monthly_projection`, and the report is
:func:`~workbench.analysis.report.build_report`: the CLI, the notebooks and the report show the same
numbers for the same runs.

Why runs are picked by scenario, label and date, grouped by traffic: only runs over the same requests
compare, and a person knows a run by what it was, not by its id. The baseline is one widget: the table,
the verdicts and the projection all read it. A click on a table cell, or the "show requests" action
under the charts, sets ``AppState.audit_filter`` and the Audit page shows exactly the requests behind
that figure.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import pandas as pd
import panel as pn
import param
from param.parameters import NoNone

from workbench.analysis import compare, provenance, verdict
from workbench.analysis.fleet import no_routing_needed
from workbench.analysis.summary import run_summary
from workbench.app.audit import run_label
from workbench.app.runs import RunsCard
from workbench.app.safe import html, join, labels, text
from workbench.app.state import AppState
from workbench.app.ui import Messages, guarded
from workbench.errors import WorkbenchError
from workbench.store.runs import list_runs

__all__ = ["CompareView", "table_frame", "provenance_frame", "no_routing_html", "COLUMNS", "CELL_FILTERS"]

COLUMNS = [  # key, format ("delta": a difference with its interval)
    ("requests", "{:,.0f}"), ("cost_usd", "${:,.4f}"), ("cost_per_1k_usd", "${:,.3f}"), ("d_cost_per_1k_usd", "delta"),
    ("quality", "{:.1%}"), ("d_quality", "delta"), ("p50_latency_s", "{:.2f} s"), ("p95_latency_s", "{:.2f} s"),
    ("error_rate", "{:.2%}"), ("fallback_rate", "{:.2%}"), ("handoff_rate", "{:.2%}"), ("strong_share", "{:.1%}"),
]
#: The requests behind a cell: a column's figure counts the requests that meet this condition
#: (workbench.store.export.FLAGS); every other column's figure is over all the run's requests.
CELL_FILTERS = {"error_rate": "failed", "fallback_rate": "fallback", "handoff_rate": "handoff"}
_HINT = ("Pick two or more runs to compare. Runs are listed newest first, grouped by the traffic they replayed: only "
         "runs of one group (same requests, same seed) compare. Then choose the baseline the others are measured "
         "against. Click any figure in the table to see the requests behind it in Audit.")


def _cell(row: pd.Series, key: str, fmt: str) -> str:
    if fmt == "delta":
        stem = key.removesuffix("_usd")
        v, lo, hi = row[key], row[f"{stem}_lo"], row[f"{stem}_hi"]
        return "-" if v is None or pd.isna(v) else f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    v = row[key]
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def table_frame(table: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """The comparison table as shown: one row per run, baseline first, figures formatted as text."""
    rows = []
    for _, r in table.iterrows():
        row = {"run_id": r.run_id, "role": "baseline" if r.run_id == baseline else "compared",
               "scenario": r.scenario, "data": r["mode"]}
        row.update({k: _cell(r, k, f) for k, f in COLUMNS})
        rows.append(row)
    return pd.DataFrame(rows)


def provenance_frame(summaries: list[dict], names: dict[str, str]) -> pd.DataFrame:
    """Where each run's quality came from: one row per run, one column per provenance (share of its requests,
    as text), in the order of :data:`workbench.analysis.provenance.LABELS`."""
    seen = [p for p in provenance.LABELS if any(p in (s.get("provenance") or {}) for s in summaries)]
    seen += sorted({p for s in summaries for p in (s.get("provenance") or {})} - set(seen))
    rows = [{"run_id": s["run_id"], "scenario": names.get(s["run_id"], s["scenario"]),
             **{p: f"{(s.get('provenance') or {}).get(p, 0.0):.0%}" for p in seen}} for s in summaries]
    return pd.DataFrame(rows, columns=["run_id", "scenario", *seen])


def no_routing_html(verdict_: dict | None) -> str:
    """The "no routing needed" sentence of :func:`~workbench.analysis.fleet.no_routing_needed` ('' if None)."""
    return "" if verdict_ is None else html("<p class='wb-no-routing'><b>{}</b></p>", verdict_["reason"])


def _saving(usd: float) -> str:
    if usd >= 0:
        return f", saves ${usd:,.2f} a month against the baseline"
    return f", costs ${-usd:,.2f} a month more than the baseline"


def _connection(st):
    """The open store's connection (the app hands it to analysis functions, it never queries it)."""
    if st.con is None:
        raise WorkbenchError("the trace store is closed")
    return st.con


def _glossary() -> str:
    items = join(html("<dt>{}</dt><dd>{}</dd>", label, words) for label, words in verdict.GLOSSARY.values())
    modes = join(html("<dt>{}</dt><dd>{}</dd>", m, words) for m, words in verdict.MODE_WORDS.items())
    return html("<dl class='wb-glossary' style='font-size:13px'>{}{}</dl>", items, modes)


def _too_few(picked: list) -> bool:
    """Fewer than two runs picked: nothing to compare yet (the hint shows)."""
    return len(picked) < 2


def _enough(picked: list) -> bool:
    """Two or more runs picked: there is a comparison to show."""
    return not _too_few(picked)


class CompareView(pn.viewable.Viewer):
    """The Compare tab; ``panel`` is its layout."""

    state = param.ClassSelector(class_=AppState, allow_None=NoNone, doc="the session's state (its runs_changed "
                                "re-reads this page's runs)")

    def __init__(self, state: AppState, **params):
        super().__init__(state=state, **params)
        self.msg = Messages("compare")
        g = guarded(self.msg)
        W = pn.widgets
        self.pick = W.MultiChoice(label="runs to compare (newest first, grouped by traffic)",
                                  sizing_mode="stretch_width", css_classes=["wb-compare-pick"])
        self.baseline = W.Select(label="baseline (the others are measured against it)", width=520,
                                 css_classes=["wb-compare-baseline"])
        self.pick.param.watch(g(lambda e: self._picked()), "value")
        self.baseline.param.watch(g(lambda e: self.update()), "value")
        # derived from the picks, not set by a callback: shown until two runs are picked
        self.hint = pn.pane.HTML(text(_HINT, "wb-compare-hint"), sizing_mode="stretch_width",
                                 visible=pn.bind(_too_few, self.pick))
        self.summary = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-compare-summary"])
        self.table = W.Tabulator(pd.DataFrame(), disabled=True, show_index=False, selectable=False,
                                 hidden_columns=["run_id"], sizing_mode="stretch_width", layout="fit_data_table",
                                 titles={k: label for k, (label, _) in verdict.GLOSSARY.items()},
                                 header_tooltips={k: words for k, (_, words) in verdict.GLOSSARY.items()},
                                 css_classes=["wb-compare-table"])
        self.table.on_click(g(self._trace_cell))
        self.provenance = W.Tabulator(pd.DataFrame(), disabled=True, show_index=False, selectable=False,
                                      hidden_columns=["run_id"], layout="fit_data_table",
                                      header_tooltips=dict(provenance.LABELS), css_classes=["wb-compare-provenance"])
        self.provenance_title = pn.pane.HTML(text(
            "Where each design's quality came from (share of its requests). A quality difference is called "
            f"significant only when at most {provenance.SIMULATED_MAX:.0%} of the requests where it differs have "
            "simulated quality.", "wb-provenance-title"), sizing_mode="stretch_width",
            visible=pn.bind(_enough, self.pick))
        self.verdicts = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-verdicts"])
        self.glossary = pn.Card(pn.pane.HTML(_glossary(), sizing_mode="stretch_width"), title="What each figure means",
                                collapsed=True, sizing_mode="stretch_width", css_classes=["wb-compare-glossary"])
        self.charts = pn.Column(sizing_mode="stretch_width")
        self.figure = W.Select(label="a chart's figure", width=520, css_classes=["wb-trace-figure"])
        self.trace = W.Button(label="show these requests in Audit", width=260, css_classes=["wb-trace"])
        self.trace.on_click(g(lambda e: self._trace_figure()))
        self.volume = W.IntSlider(label="requests per day", start=1_000, end=1_000_000, step=1_000, value=10_000,
                                  width=420)
        self.growth = W.FloatInput(label="growth per month (0.05 = 5%)", value=0.0, step=0.01, width=200)
        self.budget = W.FloatInput(label="monthly budget USD (0: none)", value=0.0, start=0.0, width=200)
        for w in (self.volume, self.growth, self.budget):
            w.param.watch(g(lambda e: self._project()), "value")
        self.projection = pn.pane.Vega(None, css_classes=["wb-projection"])
        self.projection_text = pn.pane.HTML("")
        self.money = pn.pane.HTML("", css_classes=["wb-money"])  # where the money goes, by design and part
        self.download = W.FileDownload(callback=self._report, filename="workbench-report.html",
                                       label="Download the leader's report (HTML)", color="success",
                                       width=320, css_classes=["wb-report"])
        self._summaries: list[dict] = []
        self._table = pd.DataFrame()
        self._names: dict[str, str] = {}
        # a run labelled, renamed or deleted: every page over runs (this one, Audit, Sweep) re-reads them
        self.manage = RunsCard(state, changed=g(lambda: state.check_runs()))
        self.panel = pn.Column(
            pn.pane.Markdown("### Compare runs"), self.msg.pane, self.hint, self.pick, self.baseline, self.summary,
            self.table, self.provenance_title, self.provenance, self.verdicts, self.glossary, self.download,
            self.charts,
            pn.Row(self.figure, self.trace), pn.pane.Markdown("### Monthly projection"),
            pn.Row(self.volume, self.growth, self.budget), self.projection_text, self.projection,
            pn.pane.Markdown("### Where the money goes"), self.money, self.manage.panel, sizing_mode="stretch_width")

    def __panel__(self):
        return self.panel

    @param.depends("state.runs_changed", watch=True)
    def _runs_changed(self) -> None:
        guarded(self.msg)(self.refresh)()

    def refresh(self, select: list[str] | None = None) -> None:
        """Re-list the stored runs and pick ``select`` (default: keep the picks, else the last job's runs)."""
        with self.state.store() as st:
            runs = list_runs(st)
        self.msg.store_ok()
        newest = runs.groupby(["traffic_hash", "seed"], sort=False)["started_at"].transform("max")
        runs = runs.assign(_group=newest).sort_values(["_group", "traffic_hash", "seed", "started_at"],
                                                      ascending=[False, True, True, False], kind="stable")
        self._names = {r.run_id: run_label(r).rsplit(" · ", 1)[0] for r in runs.itertuples()}
        options = labels({f"{Path(str(r.traffic_path)).name} seed {r.seed} ▸ {run_label(r)}": r.run_id
                          for r in runs.itertuples()})
        self.manage.set_runs({run_label(r): r.run_id for r in runs.itertuples()})
        pick = select if select is not None else (list(self.pick.value) or self.state.finished_runs)
        pick = [r for r in pick if r in options.values()]
        if options != self.pick.options or pick != list(self.pick.value):
            self.pick.param.update(options=options, value=pick)  # one message: the browser never sees half

    def show_runs(self, run_ids: list[str]) -> None:
        """Compare exactly ``run_ids`` (called when a run finishes)."""
        self.refresh(select=run_ids)

    def _picked(self) -> None:
        ids = list(self.pick.value)
        options = {self._names.get(r, r): r for r in ids}
        value = self.baseline.value if self.baseline.value in ids else (ids[0] if ids else None)
        if value != self.baseline.value:
            self.baseline.param.update(options=options, value=value)  # its watcher updates the page
        else:
            self.baseline.options = options
            self.update()

    def _clear(self) -> None:
        self.summary.object, self.verdicts.object, self.projection_text.object = "", "", ""
        self.money.object = ""
        self.table.value, self.charts.objects, self._summaries = pd.DataFrame(), [], []
        self.provenance.value = pd.DataFrame()
        self.figure.options, self.projection.object = [], None

    def update(self) -> None:
        """Recompute the table, verdicts, charts and projection for the picked runs and baseline."""
        picked, base = list(self.pick.value), self.baseline.value
        self.msg.clear()
        if not picked or base not in picked:
            self._clear()
            return
        ids = [base, *[r for r in picked if r != base]]
        with self.state.store() as st:
            con = _connection(st)
            try:
                table = compare.compare_runs(con, ids, base)
            except ValueError as exc:
                self._clear()
                self.msg.warn(verdict.incompatible_words(exc, self._names))
                return
            found = no_routing_needed(con, table)
            self._summaries = [run_summary(con, rid) for rid in ids]
            panes = self._charts(con, ids, table)
        self._table = table
        self.summary.object = html("<p>Baseline: <b>{}</b>; {} runs over the same traffic and seed.</p>{}",
                                   self._names.get(base, base), len(ids), no_routing_html(found))
        self.table.value = table_frame(table, base)
        self.provenance.value = provenance_frame(self._summaries, self._names)
        self.charts.objects = panes
        self._project()

    def _charts(self, con, ids: list[str], table: pd.DataFrame) -> list:
        from workbench.analysis import charts, money  # Altair: seconds to import, loaded in the background

        modes = dict(zip(table.run_id, table["mode"], strict=True))

        def moded(frame: pd.DataFrame) -> pd.DataFrame:
            return frame.assign(mode=frame["run_id"].map(modes))

        cost, quality = compare.cost_breakdown(con, ids), compare.quality_by_category(con, ids)
        self._figures(cost, quality)
        makers = [("frontier", lambda: charts.frontier_chart(compare.frontier(table))),
                  ("cost", lambda: charts.cost_chart(moded(cost))),
                  ("latency", lambda: charts.latency_chart(moded(compare.latency_samples(con, ids)))),
                  ("failures", lambda: charts.failure_timeline_chart(moded(compare.failure_timeline(con, ids)))),
                  ("quality", lambda: charts.quality_chart(moded(quality))),
                  ("money", lambda: money.breakdown_chart(money.breakdown_frame(self._summaries)))]
        panes: list[pn.viewable.Viewable] = []
        skipped: list[str] = []
        for name, make in makers:
            try:
                panes.append(pn.pane.Vega(make(), css_classes=[f"wb-chart-{name}"], margin=(10, 10)))
            except ValueError as exc:  # nothing to draw (no graders, no failures): say so, draw the rest
                skipped.append(f"{name}: {exc}")
        if skipped:
            panes.append(pn.pane.HTML(text("Not drawn: " + "; ".join(skipped))))
        from workbench.analysis import rollout  # a rollout's timeline: share per arm, guarded metrics, decisions

        panes += [pn.pane.Vega(rollout.timeline_chart(con, rid), css_classes=["wb-chart-rollout"], margin=(10, 10))
                  for rid in ids if rollout.is_rollout(con, rid)]
        return panes

    def _figures(self, cost: pd.DataFrame, quality: pd.DataFrame) -> None:
        """The chart marks a user can trace: each target's cost bar and each category's quality bar."""
        figures = {}
        for r in cost.drop_duplicates(["run_id", "target"]).itertuples():
            figures[f"cost by target: {r.target} in {self._names.get(r.run_id, r.scenario)}"] = (
                r.run_id, "target", r.target)
        for r in quality.itertuples():
            figures[f"quality by category: {r.category} in {self._names.get(r.run_id, r.scenario)}"] = (
                r.run_id, "category", r.category)
        # a plain Select shows its options as text (safe.py): no escaping, the names stay as written
        self.figure.options = {k: "|".join(map(str, v)) for k, v in figures.items()}

    def _send(self, figure: dict) -> None:
        if figure == self.state.audit_filter:
            self.state.param.trigger("audit_filter")
        else:
            self.state.audit_filter = figure

    def _trace_cell(self, event) -> None:
        row = self.table.value.iloc[event.row]
        column = event.column if event.column in dict(COLUMNS) else "requests"
        label = verdict.GLOSSARY.get(column, (column, ""))[0]
        self._send({"run_id": row["run_id"], "flag": CELL_FILTERS.get(column),
                    "why": f"{label} of {self._names.get(row['run_id'], row['scenario'])}"})

    def _trace_figure(self) -> None:
        if not self.figure.value:
            raise WorkbenchError("pick runs to compare first: their charts' figures are listed here")
        run_id, key, value = self.figure.value.split("|", 2)
        name = next(k for k, v in self.figure.options.items() if v == self.figure.value)
        self._send({"run_id": run_id, key: value, "why": name})

    def _project(self) -> None:
        if not self._summaries:
            return
        from workbench.analysis import charts

        budget = self.budget.value or None
        base = self.baseline.value
        proj = compare.monthly_projection(self._summaries, requests_per_day=float(self.volume.value or 0),
                                          growth_per_month=self.growth.value or 0.0, budget_usd_per_month=budget,
                                          baseline=base)
        modes = {s["run_id"]: s["mode"] for s in self._summaries}
        self.projection.object = charts.projection_chart(proj.assign(mode=proj["run_id"].map(modes)), budget)
        first = proj[proj.month == 1]
        self.projection_text.object = html("<ul class='wb-projection-text'>{}</ul>", join(
            html("<li><b>{}</b>: ${:,.2f} in month 1{}</li>", r.scenario, r.cost_usd,
                 _saving(r.savings_vs_baseline_usd) if r.run_id != base else " (baseline)")
            for r in first.itertuples()))
        from workbench.analysis.money import breakdown_table_html

        self.money.object = breakdown_table_html(self._summaries, proj)
        said = verdict.verdicts(self._table, first.set_index("run_id").cost_usd.to_dict(), base,
                                float(self.volume.value or 0))
        self.verdicts.object = html("<ul class='wb-verdict-list'>{}</ul>", join(
            html("<li data-run='{}'><b>{}</b> against the baseline: {}</li>", v.run_id, self._names.get(v.run_id,
                 v.scenario), v.sentence) for v in said))

    def _report(self):
        from workbench.analysis.report import build_report
        from workbench.estimate import run_estimate

        ids = list(self.pick.value)
        if not ids:
            self.msg.error("pick the runs to report first")
            return io.StringIO("no runs were picked")
        try:
            with tempfile.TemporaryDirectory(prefix="workbench-report-") as tmp, self.state.store() as st:
                out = build_report(st.con, ids, Path(tmp) / "report.html", baseline=self.baseline.value,
                                   volume=self.volume.value, growth=self.growth.value or 0.0,
                                   budget=self.budget.value or None, offpolicy=run_estimate)
                data = out.read_bytes()
        except (WorkbenchError, ValueError, KeyError, OSError) as exc:
            self.msg.error(f"report not written: {exc}")
            return io.StringIO(f"report not written: {exc}")
        self.msg.ok(f"report written ({len(data) / 1e6:.1f} MB, all JavaScript inline: it opens offline)")
        return io.BytesIO(data)
