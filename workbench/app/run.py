"""The Run page: replay one or several scenarios over the same traffic and seed, with live counters.

Why a periodic callback: the replay runs in a worker thread (:class:`workbench.app.jobs.RunJob`); this
page copies its counters into widgets on the session's thread four times a second while it runs, and
when it ends shows each run's headline figures read back from the trace store (not the worker's
counters), labelled simulated, recorded or live.
"""

from __future__ import annotations

import pandas as pd
import panel as pn
from panel.io.callbacks import PeriodicCallback

from workbench.analysis import run_summary
from workbench.app.safe import html, labels, text
from workbench.app.state import DRAFT, AppState
from workbench.app.ui import Messages, button, duration, guarded, percent
from workbench.store.alerts import run_alerts

__all__ = ["RunView", "results_frame", "alerts_frame", "RESULT_COLUMNS", "ALERT_COLUMNS"]

#: Columns of the finished runs' table (the data column says simulated, recorded or live).
RESULT_COLUMNS = ["run", "scenario", "data", "status", "requests", "cost (USD)", "quality", "error rate",
                  "p95 latency"]
#: Columns of the monitors' alerts table (shown only when a run raised some).
ALERT_COLUMNS = ["run", "at (s, virtual)", "monitor", "target", "statistic", "threshold", "action", "message"]


class RunView(pn.viewable.Viewer):
    """The Run tab; ``panel`` is its layout. ``on_finished`` is called with the run ids of a finished job."""

    def __init__(self, state: AppState, on_finished=None, **params):
        super().__init__(**params)
        self.state, self.job, self.on_finished = state, state.job, on_finished
        self.msg = Messages("run")
        g = guarded(self.msg)
        W = pn.widgets
        self.pick = W.MultiChoice(label="scenarios to run, in order (the first is the baseline)", width=560,
                                  css_classes=["wb-run-pick"])
        self.pick.param.watch(lambda e: setattr(state, "run_names", list(e.new)), "value")
        self.requests = W.IntInput.from_param(state.traffic.param.sample, label="requests (0: the traffic page's "
                                              "or the scenario's sample)", width=300,
                                              css_classes=["wb-run-requests"])
        self.traffic_line = pn.pane.HTML("", css_classes=["wb-run-traffic"])
        self.start = button("Run", "primary", width=120, css_classes=["wb-run-start"])
        self.start.on_click(g(self._start))
        self.stop = button("Cancel", "warning", width=120, disabled=True)
        self.stop.on_click(g(lambda e: self.job.cancel()))
        self.progress = pn.indicators.Progress(value=0, max=100, width=560, active=False, css_classes=["wb-progress"])
        self.counters = pn.pane.HTML("", css_classes=["wb-counters"])
        self.results_note = pn.pane.HTML("", css_classes=["wb-run-results-note"])
        self.results = W.Tabulator(pd.DataFrame(columns=RESULT_COLUMNS), disabled=True, show_index=False,
                                   selectable=False, sizing_mode="stretch_width", visible=False,
                                   css_classes=["wb-run-results"])
        self.alerts = W.Tabulator(pd.DataFrame(columns=ALERT_COLUMNS), disabled=True, show_index=False,
                                  selectable=False, sizing_mode="stretch_width", visible=False,
                                  css_classes=["wb-run-alerts"])
        self._poller: PeriodicCallback | None = None
        self.panel = pn.Column(
            pn.pane.Markdown("### Run scenarios\nThe replay runs in the background; the figures below are read "
                             "from the trace store when it ends."),
            self.pick, pn.Row(self.requests), self.traffic_line, pn.Row(self.start, self.stop), self.msg.pane,
            self.progress, self.counters, self.results_note, self.results, self.alerts,
            sizing_mode="stretch_width")
        self.refresh()

    def __panel__(self) -> pn.Column:
        return self.panel

    def refresh(self) -> None:
        """Re-list the scenarios (the editor's draft first) and the traffic line."""
        files = [p.name for p in self.state.scenario_files()]
        name = self.state.draft.data.get("name", "?") if self.state.draft.yaml_ok else "?"
        options = labels({f"{DRAFT}: {name}": DRAFT, **{f: f for f in files}})
        keep = [v for v in self.pick.value if v in options.values()]
        if options != self.pick.options or keep != list(self.pick.value):
            self.pick.param.update(options=options, value=keep)
        self.traffic_line.object = text(f"Traffic: {self.state.traffic.describe()} (change it on the Traffic page).")

    def _start(self, _event=None) -> None:
        self.msg.clear()
        self.results.visible, self.results_note.object = False, ""
        self.alerts.visible = False
        self.state.start_run(list(self.pick.value))
        self.start.param.update(disabled=True, loading=True)
        self.stop.disabled = False
        self.progress.param.update(value=0, active=True)
        self._poll()  # the first progress line at once, then four times a second
        self._poller = pn.state.add_periodic_callback(guarded(self.msg)(self._poll), period=250)

    def _poll(self) -> None:
        j = self.job
        busy = j.busy  # read once: the worker sets its final state a moment before it ends
        shown = j.state if not busy or j.state in ("preparing", "running") else "finishing"
        if j.total:
            self.progress.param.update(value=int(100 * j.done / j.total), active=False)
        # the current scenario's own figures beside its name; the job's total (every scenario so far) apart
        self.counters.object = html(
            "<div class='wb-live' data-state='{0}'><b>{0}</b>: scenario {1} of {2} <b>{3}</b>: requests "
            "<span class='wb-done'>{4:,}</span> / {5:,}, cost so far <span class='wb-cost'>${6:,.4f}</span>, "
            "failed {7:,}. This job: ${8:,.4f} over {9} scenario(s) so far; {10} elapsed</div>",
            shown, j.index + 1, j.count, j.scenario or "(preparing)", j.done, j.total, j.cost_usd, j.failed,
            j.total_usd, len(j.run_ids) + (0 if j.scenario_done or j.state != "running" else 1),
            duration(j.elapsed_s))
        if busy:
            return
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        self.start.param.update(disabled=False, loading=False)
        self.stop.disabled = True
        self.progress.active = False
        if j.state == "failed":
            self.msg.error(j.message)
            return
        (self.msg.warn if j.state == "cancelled" else self.msg.ok)(
            j.message + "".join(f" Note: {n}." for n in j.notes))
        self._show_results(j.run_ids)
        self.state.finished_runs = list(j.run_ids)
        if self.on_finished:
            self.on_finished(list(j.run_ids))

    def _show_results(self, run_ids: list[str]) -> None:
        with self.state.store() as st:
            rows = [run_summary(st.con, rid) for rid in run_ids]
            alerts = {rid: run_alerts(st.con, rid) for rid in run_ids}
        self.results_note.object = html("<p>From the trace store (open the Compare page for deltas and charts):</p>")
        self.results.param.update(value=results_frame(rows), visible=True)
        frame = alerts_frame(alerts)
        self.alerts.param.update(value=frame, visible=not frame.empty)


def results_frame(summaries: list[dict]) -> pd.DataFrame:
    """Each run's headline figures as the Run page shows them: money in $, rates in %, times in seconds."""
    return pd.DataFrame([{
        "run": s["run_id"], "scenario": s["scenario"], "data": s["mode"], "status": s["status"],
        "requests": f"{s['requests']:,}", "cost (USD)": f"${s['cost_usd']:,.4f}",
        "quality": "n/a" if s["quality"] is None else f"{s['quality']:.3f}",
        "error rate": percent(s["error_rate"], 2),
        "p95 latency": "n/a" if s["p95_latency_s"] is None else f"{s['p95_latency_s']:.2f} s"}
        for s in summaries], columns=RESULT_COLUMNS)


def alerts_frame(alerts: dict[str, list[dict]]) -> pd.DataFrame:
    """The monitors' alarms of each run (``run_alerts`` by run id), in the order they were raised."""
    return pd.DataFrame([{
        "run": rid, "at (s, virtual)": f"{a['at_s']:.1f}", "monitor": a["monitor"], "target": a["target"] or "design",
        "statistic": f"{a['statistic']:.3g}", "threshold": f"{a['threshold']:.3g}", "action": a["action"],
        "message": a["message"]} for rid, rows in alerts.items() for a in rows], columns=ALERT_COLUMNS)
