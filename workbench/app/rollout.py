"""The Rollout page: pick a baseline, a candidate and a plan, run the rollout, watch its timeline.

Why a worker thread and a periodic callback (as the Run page): a rollout replays thousands of requests;
the worker (:class:`RolloutJob`) runs :func:`workbench.rollout.run_rollout` into the trace store and
counts progress, and the page polls it four times a second. What the page shows comes from the store,
through :mod:`workbench.analysis.rollout` (the same read-out as ``workbench rollout --json``): the
timeline chart (share per arm, guarded metrics, decisions and alarms; labelled simulated or recorded)
and the stage table with each guardrail's verdict and always-valid p-value.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pandas as pd
import panel as pn
import param
from param.parameters import NoNone

from workbench.analysis.rollout import rollout_readout, stage_table, timeline_chart
from workbench.app.jobs import open_store
from workbench.app.safe import html
from workbench.app.state import AppState
from workbench.app.ui import Messages, button, guarded
from workbench.errors import WorkbenchError
from workbench.rollout import prepare_rollout, run_rollout

__all__ = ["RolloutView", "RolloutJob"]
_log = logging.getLogger(__name__)


class RolloutJob(param.Parameterized):
    """One rollout in a worker thread; counters for the page."""

    state: param.Selector = param.Selector(objects=["idle", "running", "completed", "failed"], default="idle")
    message = param.String(default="")
    done = param.Integer(default=0)
    total = param.Integer(default=0)
    run_id = param.String(default="")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        """True while the worker runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, baseline: Path, candidate: Path, plan: Path, db: str, requests: int | None) -> None:
        """Check the inputs, then replay in a worker thread (bad input raises here: nothing is written)."""
        if self.busy:
            raise WorkbenchError("a rollout is already running")
        prep = prepare_rollout(baseline, candidate, plan, requests=requests)
        self.param.update(state="running", message="", done=0, total=len(prep.baseline.requests), run_id="")
        self._thread = threading.Thread(target=self._work, args=(prep, db), name="workbench-rollout", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends; True if it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.busy

    def _progress(self, done: int, total: int, cost: float, failed: int) -> None:
        self.param.update(done=done, total=total)

    def _work(self, prep, db: str) -> None:
        try:
            with open_store(db) as store:
                result = run_rollout(prep, store, progress=self._progress)
            self.param.update(state="completed", run_id=result.run_id or "", done=result.requests,
                              message="rolled back" if result.rolled_back else "no rollback")
        except WorkbenchError as exc:
            self.param.update(state="failed", message=str(exc))
        except Exception as exc:  # noqa: BLE001  (the page shows one line; the log keeps the traceback)
            _log.exception("rollout failed")
            self.param.update(state="failed", message=f"unexpected error: {type(exc).__name__}: {exc}")


class RolloutView(pn.viewable.Viewer):
    """The Rollout tab; ``panel`` is its layout."""

    state = param.ClassSelector(class_=AppState, allow_None=NoNone, doc="the session's state (folders, store)")

    def __init__(self, state: AppState, **params):
        super().__init__(state=state, **params)
        self.job = RolloutJob()
        self.msg = Messages("rollout")
        g = guarded(self.msg)
        self.baseline = pn.widgets.Select(label="baseline design", width=300, css_classes=["wb-rollout-baseline"])
        self.candidate = pn.widgets.Select(label="candidate design", width=300, css_classes=["wb-rollout-candidate"])
        self.plan = pn.widgets.Select(label="rollout plan", width=300, css_classes=["wb-rollout-plan"])
        self.requests = pn.widgets.IntInput(label="requests (empty: the baseline's sample)", value=None, start=1,
                                            width=220, css_classes=["wb-rollout-requests"])
        self.go = button("Run rollout", "primary", css_classes=["wb-rollout-go"])
        self.go.on_click(g(self._start))
        self.progress = pn.indicators.Progress(value=0, max=100, width=560, active=False,
                                               css_classes=["wb-rollout-progress"])
        self.status = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-rollout-status"])
        self.chart = pn.pane.Vega(None, css_classes=["wb-rollout-chart"], margin=(10, 10))
        self.stages = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                           css_classes=["wb-rollout-stages"])
        self._poller: pn.io.callbacks.PeriodicCallback | None = None
        self.panel = pn.Column(
            pn.pane.Markdown("### Rollout\nMove one stream of the baseline's traffic to a candidate design in "
                             "stages, behind guardrails (`workbench rollout`, README: Rollouts)."),
            self.msg.pane, pn.Row(self.baseline, self.candidate, self.plan), pn.Row(self.requests, self.go),
            self.progress, self.status, self.chart, self.stages, sizing_mode="stretch_width")
        self.refresh()

    def __panel__(self) -> pn.Column:
        return self.panel

    def refresh(self) -> None:
        """List the folder's designs and plans (keeping the picks)."""
        designs = [p.name for p in self.state.scenario_files()]
        plans = [p.name for p in self.state.plan_files()]
        for widget, options in ((self.baseline, designs), (self.candidate, designs), (self.plan, plans)):
            if widget.options != options:
                widget.param.update(options=options, value=widget.value if widget.value in options else
                                    next(iter(options), None))
        if not plans:
            self.msg.info("no rollout plan in the scenarios folder (a YAML file with stages:, e.g. rollout-plan.yaml)")

    def _start(self, _event=None) -> None:
        folder = Path(self.state.scenarios_dir)
        if not (self.baseline.value and self.candidate.value and self.plan.value):
            raise WorkbenchError("pick a baseline, a candidate and a plan")
        self.msg.clear()
        self.job.start(folder / self.baseline.value, folder / self.candidate.value, folder / self.plan.value,
                       self.state.db, self.requests.value)
        self.progress.param.update(value=0, active=True)
        self._poller = pn.state.add_periodic_callback(guarded(self.msg)(self._poll), period=250)

    def _poll(self) -> None:
        j = self.job
        if j.total:
            self.progress.value = int(100 * j.done / j.total)
        self.status.object = html("<div class='wb-rollout-count'>{} of {} requests</div>", f"{j.done:,}",
                                  f"{j.total:,}")
        if j.busy:
            return
        if self._poller is not None:
            self._poller.stop()
            self._poller = None
        self.progress.active = False
        if j.state == "failed":
            self.msg.error(j.message)
            return
        self.show_rollout(j.run_id)

    def show_rollout(self, run_id: str) -> None:
        """Show a stored rollout: its outcome line, timeline chart and stage table."""
        with self.state.store() as st:
            out = rollout_readout(st.con, run_id)
            chart = timeline_chart(st.con, run_id)
            table = stage_table(st.con, run_id)
        back = (f"rolled back at {out['rolled_back_at_s']:,.0f} s (virtual)" if out["rolled_back"]
                else "no rollback")
        self.status.object = html("<div class='wb-rollout-outcome'>run <code>{}</code>: {}; the candidate served {} "
                                  "requests, {} exposed to its regression; {} alarm(s)</div>", run_id, back,
                                  f"{out['candidate_requests']:,}", f"{out['exposed_requests']:,}", len(out["alerts"]))
        self.chart.object = chart
        self.stages.value = table
