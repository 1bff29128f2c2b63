"""The Audit page: every request of a run, why it went where it went, and every call it took.

Why from the store's rows as they are: an audit is only worth something if it shows what was
recorded, not a summary of it. The table is ``requests`` (decision, reason, status, hand-off, grader
verdicts), a click shows that request's ``attempts`` (errors, retries, fallbacks, each answer and its
verdicts), and the export writes the same rows as CSV or Parquet
(:func:`workbench.store.export.export_run`), each labelled with the run's mode.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import pandas as pd
import panel as pn

from workbench.app.safe import html
from workbench.app.state import AppState
from workbench.app.ui import Messages, guarded, mode_badge
from workbench.errors import WorkbenchError
from workbench.store.export import attempt_rows, audit_facets, export_run, request_rows, run_size

__all__ = ["AuditView", "ROW_LIMIT"]

#: Requests shown at once (filters narrow them; the export always holds the whole run).
ROW_LIMIT = 5000
_ALL = "(all)"
_REQ_COLS = ["seq", "request_id", "category", "route", "reason", "final_target", "status", "error_kind", "attempts",
             "retries", "fallbacks", "handoff", "escalations", "cost_usd", "quality", "latency_s", "verdicts"]
_ATT_COLS = ["attempt_no", "purpose", "target", "model", "provider", "is_retry", "is_fallback", "ok", "error_kind",
             "retry_after_s", "wait_s", "start_s", "end_s", "cost_usd", "score", "verdicts", "response"]


def _present(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return frame[[c for c in cols if c in frame.columns]]  # verdicts/response arrive with migration 004


class AuditView:
    """The Audit tab; ``panel`` is its layout."""

    def __init__(self, state: AppState):
        self.state = state
        self.msg = Messages("audit")
        g = guarded(self.msg)
        W = pn.widgets
        self.run = W.Select(label="run", width=520, css_classes=["wb-audit-run"])
        self.status = W.Select(label="status", width=130)
        self.target = W.Select(label="target (any attempt)", width=170)
        self.category = W.Select(label="category", width=170)
        self.run.param.watch(g(lambda e: self._facets()), "value")
        for w in (self.status, self.target, self.category):
            w.param.watch(g(lambda e: self._rows()), "value")
        self.header = pn.pane.HTML("", css_classes=["wb-audit-header"])
        self.requests = W.Tabulator(pd.DataFrame(), disabled=True, show_index=False, pagination="remote",
                                    page_size=15, sizing_mode="stretch_width", selectable=1,
                                    css_classes=["wb-audit-requests"])
        self.requests.on_click(g(self._detail))
        self.detail = pn.pane.HTML("", sizing_mode="stretch_width")
        self.attempts = W.Tabulator(pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                    selectable=False, css_classes=["wb-audit-attempts"])
        self.fmt = W.RadioButtonGroup(label="format", options=["csv", "parquet"], value="csv", width=160)
        self.fmt.param.watch(lambda e: self._names(), "value")
        self.dl_requests = W.FileDownload(callback=lambda: self._export("requests"), label="Export requests",
                                          width=220, css_classes=["wb-export-requests"])
        self.dl_attempts = W.FileDownload(callback=lambda: self._export("attempts"), label="Export attempts",
                                          width=220, css_classes=["wb-export-attempts"])
        self.panel = pn.Column(
            pn.pane.Markdown("### Audit a run\nClick a request to see its attempts. Exports hold the whole run "
                             "(filters only narrow the table)."),
            self.msg.pane, pn.Row(self.run, self.status, self.target, self.category), self.header,
            self.requests, self.detail, self.attempts, pn.Row(self.fmt, self.dl_requests, self.dl_attempts),
            sizing_mode="stretch_width")

    def refresh(self, select: str | None = None) -> None:
        """Re-list the stored runs and pick ``select`` (default: keep the pick, else the last job's last run)."""
        with self.state.store() as st:
            runs = st.runs()
        self.msg.store_ok()
        options = {f"{r.scenario} [{r.mode}] {r.status} · {r.run_id}": r.run_id for r in runs.itertuples()}
        value = select if select is not None else self.run.value
        if value not in options.values():
            last = [r for r in self.state.finished_runs if r in options.values()]
            value = last[-1] if last else next(iter(options.values()), None)
        if options != self.run.options or value != self.run.value:
            self.run.param.update(options=options, value=value)

    def _facets(self) -> None:
        if not self.run.value:
            return
        with self.state.store() as st:
            facets = audit_facets(st, self.run.value)
        for w, key in ((self.status, "status"), (self.target, "target"), (self.category, "category")):
            w.options = [_ALL, *facets[key]]
            w.value = _ALL
        self._names()
        self._rows()

    def _names(self) -> None:
        rid, ext = self.run.value or "run", self.fmt.value
        self.dl_requests.filename = f"{rid}.requests.{ext}"
        self.dl_attempts.filename = f"{rid}.attempts.{ext}"

    def _rows(self) -> None:
        rid = self.run.value
        if not rid:
            return
        pick = {k: (None if w.value in (None, _ALL) else w.value)
                for k, w in (("status", self.status), ("target", self.target), ("category", self.category))}
        with self.state.store() as st:
            frame = request_rows(st, rid, limit=ROW_LIMIT, **pick)
            total = run_size(st, rid)["requests"]
        mode = frame["mode"].iloc[0] if len(frame) else ""
        shown = f"{len(frame):,} of {total:,} requests" + (f" (first {ROW_LIMIT:,})" if len(frame) == ROW_LIMIT else "")
        self.header.object = html("<p>{} {}: {}</p>", mode_badge(mode) if mode else "", rid, shown)
        self.requests.value = _present(frame, _REQ_COLS)
        self.detail.object, self.attempts.value = "", pd.DataFrame()

    def _detail(self, event) -> None:
        row = self.requests.value.iloc[event.row]
        with self.state.store() as st:
            att = attempt_rows(st, self.run.value, row["request_id"])
        verdicts = row.get("verdicts")
        nice = json.dumps(json.loads(verdicts), indent=None) if isinstance(verdicts, str) and verdicts else "none"
        self.detail.object = html(
            "<p class='wb-audit-detail'><b>{}</b>: routed to <b>{}</b> because {}; answered by {} ({}); "
            "{} attempt(s), {} fallback(s), {}; verdicts: {}</p>", row["request_id"], row["route"], row["reason"],
            row["final_target"], row["status"], len(att), row["fallbacks"],
            "handed off to a human" if row["handoff"] else "no hand-off", nice)
        self.attempts.value = _present(att, _ATT_COLS)

    def _export(self, table: str):
        rid = self.run.value
        try:
            if not rid:
                raise WorkbenchError("pick a run first")
            with tempfile.TemporaryDirectory(prefix="workbench-export-") as tmp, self.state.store() as st:
                data = export_run(st, rid, Path(tmp), self.fmt.value)[table].read_bytes()
        except WorkbenchError as exc:
            self.msg.error(str(exc))
            return io.StringIO(f"export failed: {exc}")
        self.msg.ok(f"exported {rid}.{table}.{self.fmt.value} ({len(data):,} bytes)")
        return io.BytesIO(data)
