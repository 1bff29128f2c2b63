"""The Sweep page: a stored sweep's trials, its Pareto front as a chart, and the design it picked.

Why read-only and from the store: a sweep runs dozens of replays (``workbench sweep``, minutes on a
pool or a cluster), and its trials are ordinary runs, so this page shows what the store holds
(:func:`workbench.analysis.sweep.sweep_result`), the same figures the command printed; any trial's
run opens in Compare and Audit like any other run. Everything from the user's files (parameter
values, ids, names) is shown as text: escaped in HTML, plain text in the table, data in the chart.
"""

from __future__ import annotations

import json

import pandas as pd
import panel as pn
import param
from param.parameters import NoNone

from workbench.analysis.sweep import front_chart, sweep_result
from workbench.app.safe import Safe, html, join
from workbench.app.state import AppState
from workbench.app.ui import Messages, guarded, mode_badge
from workbench.store.sweeps import list_sweeps

__all__ = ["SweepView", "TRIAL_COLUMNS"]

#: Columns of the trials table, in order.
TRIAL_COLUMNS = ["trial", "changes", "cost_per_1k_usd", "quality", "error_rate", "p95_latency_s", "feasible",
                 "on_front", "run_id"]


class SweepView(pn.viewable.Viewer):
    """The Sweep tab; ``panel`` is its layout."""

    state = param.ClassSelector(class_=AppState, allow_None=NoNone, doc="the session's state (its runs_changed "
                                "re-reads this page's runs)")

    def __init__(self, state: AppState, **params):
        super().__init__(state=state, **params)
        self.msg = Messages("sweep")
        g = guarded(self.msg)
        self.sweep = pn.widgets.Select(label="sweep", width=560, css_classes=["wb-sweep-select"])
        self.sweep.param.watch(g(lambda e: self.show_sweep(e.new)), "value")
        self.header = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-sweep-header"])
        self.chart = pn.pane.Vega(None, css_classes=["wb-sweep-front"], margin=(10, 10))
        self.trials = pn.widgets.Tabulator(pd.DataFrame(columns=TRIAL_COLUMNS), disabled=True, show_index=False,
                                           pagination="remote", page_size=20, sizing_mode="stretch_width",
                                           formatters={"changes": {"type": "plaintext"},
                                                       "run_id": {"type": "plaintext"}},
                                           css_classes=["wb-sweep-trials"])
        self.panel = pn.Column(
            pn.pane.Markdown("### Design search\nSweeps stored by `workbench sweep SCENARIO --space SPACE.yaml`: "
                             "every trial is a run (open it in Compare or Audit)."),
            self.msg.pane, self.sweep, self.header, self.chart, self.trials, sizing_mode="stretch_width")

    def __panel__(self) -> pn.Column:
        return self.panel

    @param.depends("state.runs_changed", watch=True)
    def _runs_changed(self) -> None:
        guarded(self.msg)(self.refresh)()

    def refresh(self) -> None:
        """Re-list the stored sweeps (newest first) and keep the pick, else show the newest."""
        with self.state.store() as st:
            sweeps = list_sweeps(st)
        options = {f"{r.scenario} · {r.sampler} · {r.trials} trials · {r.status} · {r.sweep_id}": r.sweep_id
                   for r in sweeps.itertuples()}
        value = self.sweep.value if self.sweep.value in options.values() else next(iter(options.values()), None)
        if options != self.sweep.options or value != self.sweep.value:
            self.sweep.param.update(options=options, value=value)
        elif value is not None:
            self.show_sweep(str(value))
        if not options:
            self.msg.info("no sweep stored yet: run `workbench sweep SCENARIO --space SPACE.yaml`")

    def show_sweep(self, sweep_id: str | None) -> None:
        """Show one sweep: header, chart of the front, trials table."""
        if not sweep_id:
            return
        with self.state.store() as st:
            result = sweep_result(st.con, sweep_id)
        self.msg.clear()
        header = _header(result)
        if header == self.header.object:
            # Unchanged since last shown (the tab re-reads the store each time it opens): a table re-filled
            # while its tab is being drawn sometimes drew no rows, so leave what is drawn alone.
            return
        self.header.object = header
        frame = pd.DataFrame(result["trials"])
        self.chart.object = front_chart(frame) if len(frame) else None
        frame["changes"] = [", ".join(f"{k}={json.dumps(v)}" for k, v in p.items()) or "(baseline)"
                            for p in frame["params"]]
        self.trials.value = frame[TRIAL_COLUMNS]


def _header(result: dict) -> Safe:
    modes = join((mode_badge(m) for m in result["modes"]), " ")
    cons = ", ".join(f"{c['metric']} {c['op']} {c['bound']:g}" for c in result["constraints"]) or "no constraint"
    lines = [html("<p>{} <b>{}</b> over <b>{}</b>: {} trials ({}, {}); front: trials {}</p>", modes,
                  result["sweep_id"], result["scenario"], len(result["trials"]), result["sampler"],
                  result["executor"], ", ".join(map(str, result["front"])))]
    best = result["best"]
    if best is None:
        lines.append(html("<p class='wb-sweep-best'>No design meets {}.</p>", cons))
        return join(lines)
    text: str = html("Cheapest design meeting {}: trial {} ({}), cost per 1k ${:.3f}, quality {}, error rate {:.2%}; "
                "changes: <code>{}</code>", cons, best["trial"], best["run_id"], best["cost_per_1k_usd"],
                _num(best["quality"]), best["error_rate"], json.dumps(best["params"], sort_keys=True))
    vs = best.get("vs_baseline")
    if vs:
        text += html(". Against the baseline: Δ cost/1k {:+.3f} [{:+.3f}, {:+.3f}]", vs["cost_per_1k_delta"],
                     vs["cost_per_1k_lo"], vs["cost_per_1k_hi"])
        if vs["quality_delta"] is not None:
            text += html(", Δ quality {:+.3f} [{:+.3f}, {:+.3f}]", vs["quality_delta"], vs["quality_lo"],
                         vs["quality_hi"])
        text += " (95% paired bootstrap)"
    lines.append(html("<p class='wb-sweep-best'>{}</p>", Safe(text)))
    return join(lines)


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"
