"""The Run page: replay one or several scenarios over the same traffic and seed, with live counters.

Why a periodic callback: the replay runs in a worker thread (:class:`workbench.app.jobs.RunJob`); this
page copies its counters into widgets on the session's thread four times a second while it runs, and
when it ends shows each run's headline figures read back from the trace store (not the worker's
counters), labelled simulated, recorded or live.
"""

from __future__ import annotations

import panel as pn

from workbench.analysis import run_summary
from workbench.app.safe import html, join, labels, text
from workbench.app.state import DRAFT, AppState
from workbench.app.ui import Messages, guarded, mode_badge

__all__ = ["RunView"]


class RunView:
    """The Run tab; ``panel`` is its layout. ``on_finished`` is called with the run ids of a finished job."""

    def __init__(self, state: AppState, on_finished=None):
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
        self.start = W.Button(label="Run", color="primary", width=120, css_classes=["wb-run-start"])
        self.start.on_click(g(self._start))
        self.stop = W.Button(label="Cancel", color="warning", width=120, disabled=True)
        self.stop.on_click(g(lambda e: self.job.cancel()))
        self.progress = pn.indicators.Progress(value=0, max=100, width=560, active=False, css_classes=["wb-progress"])
        self.counters = pn.pane.HTML("", css_classes=["wb-counters"])
        self.results = pn.pane.HTML("", css_classes=["wb-run-results"], sizing_mode="stretch_width")
        self._poller = None
        self.panel = pn.Column(
            pn.pane.Markdown("### Run scenarios\nThe replay runs in the background; the figures below are read "
                             "from the trace store when it ends."),
            self.msg.pane, self.pick, pn.Row(self.requests), self.traffic_line, pn.Row(self.start, self.stop),
            self.progress, self.counters, self.results, sizing_mode="stretch_width")
        self.refresh()

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
        self.results.object = ""
        self.state.start_run(list(self.pick.value))
        self.start.disabled, self.stop.disabled = True, False
        self.progress.param.update(value=0, active=True)
        self._poller = pn.state.add_periodic_callback(guarded(self.msg)(self._poll), period=250)

    def _poll(self) -> None:
        j = self.job
        busy = j.busy  # read once: the worker sets its final state a moment before it ends
        shown = j.state if not busy or j.state in ("preparing", "running") else "finishing"
        if j.total:
            self.progress.param.update(value=int(100 * j.done / j.total), active=False)
        self.counters.object = html(
            "<div class='wb-live' data-state='{0}'><b>{0}</b>: scenario {1} of {2} <b>{3}</b>; requests "
            "<span class='wb-done'>{4:,}</span> / {5:,}; cost so far ${6:,.4f}; failed {7:,}; {8:.1f} s</div>",
            shown, j.index + 1, j.count, j.scenario, j.done, j.total, j.spent_usd + j.cost_usd, j.failed, j.elapsed_s)
        if busy:
            return
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        self.start.disabled, self.stop.disabled = False, True
        self.progress.active = False
        if j.state == "failed":
            self.msg.error(j.message)
            return
        (self.msg.warn if j.state == "cancelled" else self.msg.ok)(
            j.message + "".join(f" Note: {n}." for n in j.notes))
        self.results.object = self._results_html(j.run_ids)
        self.state.finished_runs = list(j.run_ids)
        if self.on_finished:
            self.on_finished(list(j.run_ids))

    def _results_html(self, run_ids: list[str]) -> str:
        with self.state.store() as st:
            rows = [run_summary(st.con, rid) for rid in run_ids]
        table = [{
            "run": s["run_id"], "scenario": s["scenario"], "data": mode_badge(s["mode"]), "status": s["status"],
            "requests": f"{s['requests']:,}", "cost (USD)": f"${s['cost_usd']:,.4f}",
            "quality": "n/a" if s["quality"] is None else f"{s['quality']:.3f}",
            "error rate": f"{s['error_rate']:.2%}", "p95 latency (s)": f"{s['p95_latency_s'] or 0:.2f}"}
            for s in rows]
        head = join(html("<th>{}</th>", c) for c in (table[0] if table else {}))
        body = join(html("<tr>{}</tr>", join(html("<td>{}</td>", v) for v in r.values())) for r in table)
        return html("<p>From the trace store (open the Compare page for deltas and charts):</p><table border='1' "
                    "class='dataframe wb-results'><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)
