"""The Scenarios page: the folder's scenarios, one open as a form and as YAML, validated live, drawn.

Why the editor and the form share the draft's text: they cannot disagree, and the validation message
(the scenario parser's own, naming file, line and field) always describes what is on screen. Saving
writes a new file and never overwrites one (``ScenarioDraft.save_as``).
"""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.app.diagram import wiring_svg
from workbench.app.form import ScenarioForm
from workbench.app.safe import html
from workbench.app.state import AppState, list_scenarios
from workbench.app.ui import Messages, guarded, mode_badge, plain

__all__ = ["ScenariosView"]

_BLANK = """name: new-design
description: one model, no fallback
fleet:
  main: {model: gpt-4o-mini, provider: simulated}
router: {policy: static, params: {target: main}}
graders: [{type: exact}]
traffic:
  source: traffic/support_tickets.jsonl
  arrival: {process: recorded, field: arrived_at}
"""


class ScenariosView:
    """The Scenarios tab; ``panel`` is its layout."""

    def __init__(self, state: AppState):
        self.state, self.draft = state, state.draft
        self.msg = Messages("scenarios")
        g = guarded(self.msg)
        W = pn.widgets
        self.files = W.Select(label="scenario files", size=8, width=250, css_classes=["wb-files"])
        open_btn = W.Button(label="Open", color="primary", width=80)
        open_btn.on_click(g(self._open))
        new_btn = W.Button(label="New", width=80)
        new_btn.on_click(g(self._new))
        self.listing = W.Tabulator(pd.DataFrame(), disabled=True, show_index=False, width=250, height=260,
                                   hidden_columns=["models"], selectable=False)
        self.form = ScenarioForm(self.draft, self.msg)
        self.editor = W.CodeEditor(value=self.draft.text, language="yaml", height=640, sizing_mode="stretch_width",
                                   css_classes=["wb-yaml"])
        self.editor.param.watch(g(self._typed), "value")
        self.validation = pn.pane.Alert("", alert_type="info", css_classes=["wb-validation"],
                                        sizing_mode="stretch_width", disable_math=True)
        self.diagram = pn.pane.HTML("", css_classes=["wb-diagram-pane"], sizing_mode="stretch_width")
        self.title = pn.pane.HTML("", css_classes=["wb-title"])
        self.save_name = W.TextInput(label="save as (a new file in the scenarios folder)", placeholder="my-design",
                                     width=280)
        save = W.Button(label="Save as", color="success", width=100, align="end")
        save.on_click(g(self._save))
        self.draft.param.watch(lambda e: self._redraw(), ["text", "path"])
        left = pn.Column(self.files, pn.Row(open_btn, new_btn), self.listing, width=270)
        right = pn.Column(pn.pane.Markdown("**YAML** (edits here update the form; a form edit rewrites the "
                                           "YAML and drops its comments)"), self.editor, min_width=420,
                          sizing_mode="stretch_width")
        self.panel = pn.Column(
            self.title, self.msg.pane, self.validation,
            pn.Row(left, pn.Column(self.form.panel, width=700), right, sizing_mode="stretch_width"),
            pn.pane.Markdown("### Wiring: router &rarr; models &rarr; fallbacks &rarr; human nodes"), self.diagram,
            pn.Row(self.save_name, save), sizing_mode="stretch_width")
        self.refresh()
        if not self.draft.text and self.files.value:
            self._open()  # start on the first scenario rather than an empty page
        self._redraw()

    def refresh(self) -> None:
        """Re-list the scenario files (called when the tab is shown)."""
        rows = list_scenarios(self.state.scenarios_dir)
        self.files.options = [r["file"] for r in rows]
        self.listing.value = pd.DataFrame(rows, columns=["file", "name", "mode", "policy", "models", "error"])
        if self.files.value is None and rows:
            self.files.value = rows[0]["file"]

    def _open(self, _event=None) -> None:
        if not self.files.value:
            raise ValueError("pick a scenario file first")
        self.msg.clear()
        self.draft.load(f"{self.state.scenarios_dir}/{self.files.value}")

    def _new(self, _event=None) -> None:
        self.msg.clear()
        self.draft.path = ""
        self.draft.text = _BLANK

    def _typed(self, event) -> None:
        if event.new != self.draft.text:
            self.draft.text = event.new

    def _save(self, _event=None) -> None:
        path = self.draft.save_as(self.save_name.value)
        self.refresh()
        self.files.value = path.name
        self.msg.ok(f"saved {path} (name: {self.draft.data.get('name')})")

    def _redraw(self) -> None:
        d = self.draft
        if self.editor.value != d.text:
            self.editor.value = d.text
        where = d.path or "a new design (not saved yet)"
        scn = d.scenario
        badge = mode_badge(scn.mode) if scn else ""
        self.title.object = html("<h3 style='margin:4px 10px'>Editing {} {}</h3>", where, badge)
        if scn is not None:
            self.validation.param.update(alert_type="success", object=html(
                "<div>Valid: <b>{}</b>, {} model(s), {} human node(s), policy <b>{}</b>, {} fallback rule(s).</div>",
                scn.name, len(scn.fleet), len(scn.humans), scn.router.policy,
                sum(len(r) for r in scn.fallbacks.values())))
        else:
            self.validation.param.update(alert_type="danger", object=plain(d.error))
        if d.yaml_ok:
            self.form.refresh()
            self.diagram.object = wiring_svg(d.data, d.routes())
