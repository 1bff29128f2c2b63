"""The app's shell: one page of tabs over one browser session's state.

Why plain tabs and no template: templates fetch fonts and styles from CDNs, and the app must work
offline; Panel serves its own bundled JavaScript (Bokeh, Tabulator, Ace, Vega) from the server.
Why dynamic tabs: only the tab on screen is sent to the browser, so the first page loads quickly.
Why a tab switch does almost no work: the pages over stored runs (Compare, Audit, Sweep) depend on
``AppState.runs_changed`` (``param.depends``), bumped when the store's fingerprint of its runs changes
(one aggregate query on each switch, so runs finished elsewhere, e.g. by the CLI, still appear); the
pages over files (Scenarios, Traffic, Run, Exercises) re-list only when their folder changed. Pages
talk through the session's state: the Exercises page sets ``AppState.audit_run`` and the shell opens
it in Audit.
"""

from __future__ import annotations

import threading
from pathlib import Path

import panel as pn

from workbench.app import models
from workbench.app.audit import AuditView
from workbench.app.compare import CompareView
from workbench.app.exercises import ExercisesView
from workbench.app.rollout import RolloutView
from workbench.app.run import RunView
from workbench.app.safe import html
from workbench.app.scenarios import ScenariosView
from workbench.app.state import AppState
from workbench.app.sweep import SweepView
from workbench.app.traffic import TrafficView
from workbench.app.ui import guarded

__all__ = ["build_app", "warm", "local_stylesheets", "EXTENSIONS", "TITLE", "TABS"]

EXTENSIONS = ("tabulator", "codeeditor", "vega")
TABS = ["Scenarios", "Traffic", "Run", "Compare", "Audit", "Exercises", "Sweep", "Rollout"]
TITLE = "AI Routing Workbench"
_warmed = threading.Event()


def _warm_report() -> None:
    import vl_convert  # the report inlines Vega from vl-convert's bundle; the first call builds it

    import workbench.analysis.report  # noqa: F401  (Altair and its schema checks: seconds to import)

    vl_convert.javascript_bundle()  # type: ignore[call-arg]  # the stub omits the default snippet (the whole bundle)


def warm() -> None:
    """Start the slow first-use loads in background threads, once per process: litellm's catalog,
    Altair and the report's inline Vega bundle. Called once the first page is on screen, so that they
    do not compete with it for the interpreter."""
    if not _warmed.is_set():
        _warmed.set()
        models.warm()
        threading.Thread(target=_warm_report, name="workbench-vega", daemon=True).start()


def local_stylesheets() -> None:
    """Make Panel resolve component stylesheets against this server even for a detached model (once).

    Why (found by ``tests/app/test_offline.py``, Panel 1.9.4): components carry stylesheets by URL
    written against Panel's CDN (``loading.css``, ``markdown.css``), rewritten to the server's
    ``static/`` path from the page's ``dist_url`` in the *document* passed to
    ``Reactive._get_properties``. A pane updated while its model is detached, as every model of a
    hidden dynamic tab is (``HTML``/``Markdown._update`` passes ``model.document``, then None), got no
    document, so its stylesheets went back to the CDN, and the browser fetched them when the tab was
    shown again. Here a missing document falls back to the session's own (``pn.state.curdoc``, set
    in every session callback), whose ``dist_url`` is this server's.
    """
    from panel.reactive import Reactive

    original = Reactive._get_properties
    if getattr(original, "_workbench_local", False):
        return

    def _get_properties(self, doc):
        return original(self, doc if doc is not None else pn.state.curdoc)

    _get_properties._workbench_local = True  # type: ignore[attr-defined]
    Reactive._get_properties = _get_properties  # type: ignore[method-assign]


def build_app(db: str | Path = "workbench.duckdb", scenarios_dir: str | Path = "scenarios") -> pn.Column:
    """The whole page for one browser session."""
    local_stylesheets()
    state = AppState(db=str(db), scenarios_dir=str(scenarios_dir))
    scenarios = ScenariosView(state)
    traffic = TrafficView(state)
    compare = CompareView(state)
    audit = AuditView(state)

    def finished(run_ids: list[str]) -> None:
        guarded(compare.msg)(compare.show_runs)(run_ids)
        guarded(audit.msg)(audit.refresh)(select=run_ids[-1] if run_ids else None)
        guarded(run.msg)(state.check_runs)(announce=False)  # Compare and Audit are up to date: no second read

    run = RunView(state, on_finished=finished)
    exercises = ExercisesView(state)
    sweeps = SweepView(state)
    # Filled before its tab is first drawn (a Tabulator filled while its tab is being drawn may draw no rows),
    # but after the first page is on screen: reading the store (migrating a new file) need not delay it.
    pn.state.onload(guarded(sweeps.msg)(sweeps.refresh))
    rollout = RolloutView(state)
    views: list = [scenarios, traffic, run, compare, audit, exercises, sweeps, rollout]
    tabs = pn.Tabs(*((name, v.panel) for name, v in zip(TABS, views, strict=True)), dynamic=True,
                   sizing_mode="stretch_width", css_classes=["wb-tabs"])

    def shown(event) -> None:
        view = views[event.new]
        # a view that cannot read the store (another process holds it) says so in its message box
        if view in (compare, audit, sweeps) and not view.msg.store_failed:
            guarded(view.msg)(state.check_runs)()  # re-reads the pages over runs only when the runs changed
        else:
            guarded(view.msg)(view.refresh)()  # cheap: these re-list their folder only when it changed
    tabs.param.watch(shown, "active")

    def open_in_audit(event) -> None:
        if event.new:
            guarded(audit.msg)(audit.refresh)(select=event.new)
            tabs.active = TABS.index("Audit")
    state.param.watch(open_in_audit, "audit_run")
    # a figure traced on Compare: Audit has filtered itself (AuditView.show); bring it to the front
    state.param.watch(lambda e: setattr(tabs, "active", views.index(audit)), "audit_filter")
    if pn.state.curdoc is not None:
        pn.state.onload(warm)
        _when_catalog_ready(scenarios.form.catalog_loaded)
    header = pn.pane.HTML(html(
        "<div style='display:flex;gap:2em;align-items:baseline'><h2 style='margin:6px 0'>{}</h2>"
        "<span>trace store <code>{}</code> &middot; scenarios <code>{}</code> &middot; every figure shown is read "
        "from the trace store and labelled simulated, recorded or live</span></div>", TITLE, db, scenarios_dir),
        sizing_mode="stretch_width", css_classes=["wb-header"])
    return pn.Column(header, tabs, sizing_mode="stretch_width")


def _when_catalog_ready(callback) -> None:
    if models.catalog_ready():
        callback()
        return

    def poll() -> None:
        if models.catalog_ready():
            cb.stop()
            callback()

    cb = pn.state.add_periodic_callback(poll, period=500)
