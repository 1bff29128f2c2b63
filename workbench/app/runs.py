"""Managing stored runs from the app: label, rename (a new id) and delete, next to the runs they act on.

Why here and so small: the work is :mod:`workbench.store.runs` (one transaction per change, audited
and running runs refused with a message that says why); this card only picks the run, asks before a
delete (the first click arms the button and says what will go, the second deletes), shows the
outcome in its own message box beside the buttons, and tells the page to re-list its runs.
"""

from __future__ import annotations

from collections.abc import Callable

import panel as pn

from workbench.app.state import AppState
from workbench.app.ui import Messages, guarded
from workbench.store.export import run_size
from workbench.store.runs import delete_run, label_run, rename_run

__all__ = ["RunsCard"]


class RunsCard(pn.viewable.Viewer):
    """A collapsed card: pick a run, then label, rename or delete it; ``changed`` re-lists the page's runs."""

    def __init__(self, state: AppState, changed: Callable[[], None], **params):
        super().__init__(**params)
        self.state, self.changed = state, changed
        self.msg = Messages("runs")
        g = guarded(self.msg)
        W = pn.widgets
        self.run = W.Select(label="run", width=520, css_classes=["wb-runs-run"])
        self.label = W.TextInput(label="label", placeholder="e.g. before the price change", width=300,
                                 css_classes=["wb-runs-label"])
        self.new_id = W.TextInput(label="new run id", width=300, css_classes=["wb-runs-new-id"])
        self.do_label = W.Button(label="Label", width=110, css_classes=["wb-runs-do-label"])
        self.do_rename = W.Button(label="Rename", width=110, css_classes=["wb-runs-do-rename"])
        self.do_delete = W.Button(label="Delete…", color="danger", width=260, css_classes=["wb-runs-do-delete"])
        self.do_label.on_click(g(lambda e: self._label()))
        self.do_rename.on_click(g(lambda e: self._rename()))
        self.do_delete.on_click(g(lambda e: self._delete()))
        self.run.param.watch(lambda e: self._disarm(), "value")
        self._armed: str | None = None
        self.panel = pn.Card(self.run, pn.Row(self.label, self.do_label), pn.Row(self.new_id, self.do_rename),
                             self.do_delete, self.msg.pane, title="Manage runs (label, rename, delete)",
                             collapsed=True, sizing_mode="stretch_width", css_classes=["wb-runs-card"])

    def __panel__(self):
        return self.panel

    def set_runs(self, options: dict[str, str]) -> None:
        """The runs the card can act on (``{label: run_id}``, as the page lists them)."""
        keep = self.run.value if self.run.value in options.values() else next(iter(options.values()), None)
        self.run.param.update(options=options, value=keep)

    def _picked(self) -> str:
        if not self.run.value:
            raise ValueError("pick a run first")
        return str(self.run.value)

    def _disarm(self) -> None:
        self._armed = None
        self.do_delete.label = "Delete…"

    def _label(self) -> None:
        rid, label = self._picked(), (self.label.value or "").strip()
        with self.state.store() as st:
            label_run(st, rid, label)
        self.msg.ok(f"{rid}: labelled '{label}'" if label else f"{rid}: label removed")
        self.changed()

    def _rename(self) -> None:
        rid, new = self._picked(), (self.new_id.value or "").strip()
        with self.state.store() as st:
            rename_run(st, rid, new)
        self.msg.ok(f"{rid} is now {new}")
        self.new_id.value = ""
        self.changed()

    def _delete(self) -> None:
        rid = self._picked()
        if self._armed != rid:  # first click: say what will go, arm the button
            with self.state.store() as st:
                size = run_size(st, rid)
            self._armed = rid
            self.do_delete.label = "Click again to delete"
            self.msg.warn(f"Delete {rid} with its {size['requests']:,} requests and {size['attempts']:,} attempts? "
                          "This cannot be undone. Click the button again to delete it.")
            return
        with self.state.store() as st:
            removed = delete_run(st, rid)
        self._disarm()
        self.msg.ok(f"{rid} deleted ({removed['requests']:,} requests, {removed['attempts']:,} attempts)")
        self.changed()
