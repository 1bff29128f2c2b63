"""The Scenarios page: the folder's scenarios, one open as a form and as YAML, validated live, drawn.

Why the editor and the form share the draft's text: they cannot disagree, and the validation message
(the scenario parser's own, naming file, line and field) always describes what is on screen. "Save as"
never overwrites a file silently: replacing one, saving over the open file, deleting a file and
discarding unsaved edits are each asked first, beside the button that asked.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import panel as pn
import param
from param.parameters import NoNone

from workbench.app.diagram import wiring_svg
from workbench.app.form import ScenarioForm
from workbench.app.safe import html
from workbench.app.state import AppState, ScenarioDraft, delete_scenario, duplicate_scenario, list_scenarios
from workbench.app.ui import Confirm, Messages, busy, button, guarded, mode_badge, plain
from workbench.errors import InputError

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


_LISTING = ["file", "name", "mode", "policy", "models", "error"]


def _signature(files: list[Path]) -> tuple:
    """Each file's name, modification time and size: a change of the folder changes it."""
    out = []
    for f in files:
        try:
            st = f.stat()
        except OSError:  # removed meanwhile: it is not listed
            continue
        out.append((f.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


class ScenariosView(pn.viewable.Viewer):
    """The Scenarios tab over the session's draft; ``panel`` is its layout.

    Every action's message shows beside the buttons that caused it: file actions (open, new,
    duplicate, delete) under the file list, saving under the save buttons. Discarding unsaved edits
    (New, Open) and replacing or deleting a file are asked first, in the same place.
    """

    draft = param.ClassSelector(class_=ScenarioDraft, allow_None=NoNone,
                                doc="the session's draft (the YAML is its source of truth)")

    def __init__(self, state: AppState, **params):
        super().__init__(draft=state.draft, **params)
        self.state = state
        self.msg = Messages("scenarios")  # saving
        self.files_msg = Messages("files", width=250, sizing_mode=None)
        W = pn.widgets
        gf, gs = guarded(self.files_msg), guarded(self.msg)
        self.files = W.Select(label="scenario files", size=8, width=250, css_classes=["wb-files"])
        open_btn = button("Open", "primary", width=80)
        open_btn.on_click(gf(self._open))
        new_btn = W.Button(label="New", width=70)
        new_btn.on_click(gf(self._new))
        dup_btn = W.Button(label="Duplicate", width=90, css_classes=["wb-duplicate"])
        dup_btn.on_click(gf(self._duplicate))
        del_btn = button("Delete file", "danger", "outline", width=100,
                           css_classes=["wb-delete"])
        del_btn.on_click(gf(self._delete))
        self.files_confirm = Confirm("files", self.files_msg)
        self.files_confirm.panel.width = 250
        self.listing = W.Tabulator(pd.DataFrame(), disabled=True, show_index=False, width=250, height=260,
                                   hidden_columns=["models"], selectable=False, css_classes=["wb-listing"])
        self.form = ScenarioForm(self.draft, self.msg)
        self.editor = W.CodeEditor(value=self.draft.text, language="yaml", height=640, sizing_mode="stretch_width",
                                   min_width=360, css_classes=["wb-yaml"])
        self.editor.param.watch(gs(self._typed), "value")
        self.validation = pn.pane.Alert("", alert_type="info", css_classes=["wb-validation"],
                                        sizing_mode="stretch_width", disable_math=True)
        self.title = pn.pane.HTML("", css_classes=["wb-title"])
        self.save_name = W.TextInput(placeholder="my-design", width=180, css_classes=["wb-save-name"])
        self.save_as_btn = button("Save as", "success", width=90)
        self.save_as_btn.on_click(gs(self._save_as))
        self.save_btn = button("Save", "success", "outline", width=70,
                                 css_classes=["wb-save"])
        self.save_btn.on_click(gs(self._save))
        self.confirm = Confirm("save", self.msg)
        # the browser asks before leaving the page while the draft has unsaved edits
        self._leave_guard = W.TextInput(value="", visible=False)
        self._leave_guard.jscallback(value="window.onbeforeunload = cb_obj.value ? "
                                           "(e) => { e.preventDefault(); e.returnValue = ''; } : null;")
        self.draft.param.watch(lambda e: self._redraw(), ["text", "path", "saved_text"])
        left = pn.Column(self.files, pn.Row(open_btn, new_btn), pn.Row(dup_btn, del_btn), self.files_confirm.panel,
                         self.files_msg.pane, self.listing, width=270)
        right = pn.Column(
            pn.Row(self.save_name, self.save_as_btn, self.save_btn, sizing_mode="stretch_width"),
            self.confirm.panel, self.msg.pane,
            pn.pane.Markdown("**YAML** (edits here update the form; a form edit rewrites the YAML)"),
            self.editor, min_width=360, sizing_mode="stretch_width")
        self.panel = pn.Column(
            self.title, self.validation,
            pn.Row(left, pn.Column(self.form.panel, min_width=420, sizing_mode="stretch_width"), right,
                   sizing_mode="stretch_width"),
            pn.pane.Markdown("### Wiring: router &rarr; models &rarr; fallbacks &rarr; human nodes"),
            pn.pane.HTML(self._diagram, css_classes=["wb-diagram-pane"], sizing_mode="stretch_width"),
            self._leave_guard, sizing_mode="stretch_width")
        self._listed: tuple = ()  # the folder's files, dates and sizes as last listed
        self.refresh()
        if not self.draft.text and self.files.value:  # start on the first scenario rather than an empty page
            self.draft.load(f"{self.state.scenarios_dir}/{self.files.value}")
        self._redraw()

    def __panel__(self) -> pn.Column:
        return self.panel

    @param.depends("draft.text", "draft.data", "draft.yaml_ok")
    def _diagram(self) -> str:
        d = self.draft
        return wiring_svg(d.data, d.routes()) if d.yaml_ok else ""

    def refresh(self) -> None:
        """Re-list the scenario files when the folder changed (called when the tab is shown; cheap otherwise).

        The names are listed at once; checking every file (parse, policy, graders: ~20 ms each) fills
        the table's columns after the first page is on screen (``pn.state.onload``), so that a folder of
        many scenarios does not delay the editor.
        """
        listed = _signature(self.state.scenario_files())
        if listed == self._listed:
            return
        self._listed = listed
        names = [name for name, _, _ in listed]
        self.files.options = names
        if self.files.value not in names and names:
            self.files.value = names[0]
        self.listing.value = pd.DataFrame({"file": names, "name": "", "mode": "", "policy": "", "models": "",
                                           "error": "checking..."}, columns=_LISTING)
        pn.state.onload(self._check_listing)  # once the page is drawn (at once when it is, or outside a server)

    def _check_listing(self) -> None:
        self.listing.value = pd.DataFrame(list_scenarios(self.state.scenarios_dir), columns=_LISTING)

    def _discarding(self, what: str, action) -> None:
        """Run ``action`` now, or after asking when the draft has unsaved edits."""
        if self.draft.dirty:
            self.files_confirm.ask(f"The draft has unsaved edits. {what} anyway and lose them?", action,
                                   yes="Discard edits")
        else:
            action()

    def _open(self, _event=None) -> None:
        if not self.files.value:
            raise ValueError("pick a scenario file first")
        name = self.files.value
        self._discarding(f"Open {name}", lambda: self._load(name))

    def _load(self, name: str) -> None:
        self.files_msg.clear()
        self.draft.load(f"{self.state.scenarios_dir}/{name}")
        self.files_msg.ok(f"opened {name}")

    def _new(self, _event=None) -> None:
        def new() -> None:
            self.draft.start(_BLANK)
            self.files_msg.ok("a new design (not saved yet): Save as names its file")
        self._discarding("Start a new design", new)

    def _duplicate(self, _event=None) -> None:
        if not self.files.value:
            raise ValueError("pick a scenario file first")
        path = duplicate_scenario(self.state.scenarios_dir, self.files.value)
        self.refresh()
        self.files.value = path.name
        self.files_msg.ok(f"copied {self.files.value} to {path.name} (Open it to edit)")

    def _delete(self, _event=None) -> None:
        name = self.files.value
        if not name:
            raise ValueError("pick a scenario file first")

        def delete() -> None:
            path = delete_scenario(self.state.scenarios_dir, name)
            if self.draft.path and Path(self.draft.path).resolve() == path.resolve():
                self.draft.path = ""  # the draft stays on screen, now as an unsaved design
            self.refresh()
            self.files_msg.ok(f"deleted {name} (its runs stay in the trace store)")
        self.files_confirm.ask(f"Delete the file {name}? This cannot be undone.", delete, yes="Delete file")

    def _typed(self, event) -> None:
        if event.new != self.draft.text:
            self.draft.text = event.new

    def _save_as(self, _event=None) -> None:
        target = self.draft.target_of(self.save_name.value or "")
        if target.exists():
            if self.draft.scenario is None:
                raise InputError(f"not saved: fix the design first ({self.draft.error})")
            self.confirm.ask(f"{target.name} already exists. Replace it with this design?",
                             lambda: self._write(target.name, overwrite=True), yes="Replace file")
            return
        self._write(target.name, overwrite=False)

    def _save(self, _event=None) -> None:
        if not self.draft.path:
            raise InputError("a new design has no file yet: type a name and use Save as")
        name = Path(self.draft.path).name
        if self.draft.scenario is None:
            raise InputError(f"not saved: fix the design first ({self.draft.error})")
        self.confirm.ask(f"Save over {name}?", lambda: self._write(name, overwrite=True), yes="Save over it")

    def _write(self, name: str, overwrite: bool) -> None:
        self.msg.clear()
        with busy(self.save_as_btn, self.save_btn):
            path = self.draft.save_as(name, overwrite=overwrite)
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
        edited = html(" <span class='wb-dirty' style='color:#b7791f'>(unsaved edits)</span>") if d.dirty else ""
        self.title.object = html("<h3 style='margin:4px 10px'>Editing {} {}{}</h3>", where, badge, edited)
        self._leave_guard.value = "dirty" if d.dirty else ""
        if scn is not None:
            self.validation.param.update(alert_type="success", object=html(
                "<div>Valid: <b>{}</b>, {} model(s), {} human node(s), policy <b>{}</b>, {} fallback rule(s).</div>",
                scn.name, len(scn.fleet), len(scn.humans), scn.router.policy,
                sum(len(r) for r in scn.fallbacks.values())))
        else:
            self.validation.param.update(alert_type="danger", object=plain(d.error))
        if d.yaml_ok:
            self.form.refresh()
