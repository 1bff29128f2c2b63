"""The Audit page: every request of a run, why it went where it went, what it asked and answered.

Why from the store's rows as they are: an audit is only worth something if it shows what was
recorded, not a summary of it. The table is ``requests`` (decision, reason, status, hand-off, grader
verdicts) with each request's prompt (read back from the run's traffic and checked against its stored
hash, :mod:`workbench.analysis.prompts`) and answer; a click shows that request's ``attempts``
(errors, retries, fallbacks, each answer and its verdicts). Times are shown as a person reads them
("2 h 03 min 05.2 s after the run started"), not as raw seconds. The export writes the same rows, with
the prompt text, as CSV or Parquet (:func:`~workbench.analysis.prompts.export_with_prompts`), each
labelled with the run's mode.

Why a ``param`` filter: the page shows the requests behind a figure traced from Compare
(``AppState.audit_filter``: run, status, target, category or a named condition such as "failed"), and
the widgets, the table and the header all derive from the same filter.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from pathlib import Path

import pandas as pd
import panel as pn
import param
from param.parameters import NoNone

from workbench.analysis.prompts import export_with_prompts, run_prompts
from workbench.app.safe import html
from workbench.app.state import AppState
from workbench.app.ui import Messages, guarded, mode_badge
from workbench.errors import InputError, WorkbenchError
from workbench.store.audit import is_audited, verify_run
from workbench.store.export import FLAGS, attempt_rows, audit_facets, request_rows, run_size
from workbench.store.runs import list_runs

__all__ = ["AuditView", "ROW_LIMIT", "duration", "run_label"]

#: Requests shown at once (filters narrow them; the export always holds the whole run).
ROW_LIMIT = 5000
_ALL = "(all)"
_TEXT_COLS = ["prompt", "answer"]
_REQ_COLS = ["seq", "request_id", "category", "prompt", "answer", "route", "reason", "final_target", "status",
             "error_kind", "arrived", "latency", "attempts", "retries", "fallbacks", "handoff", "escalations",
             "cost_usd", "quality", "verdicts"]
_ATT_COLS = ["attempt_no", "purpose", "target", "model", "provider", "is_retry", "is_fallback", "ok", "error_kind",
             "retry_after", "wait", "started", "took", "cost_usd", "score", "verdicts", "response"]
_FLAG_NAMES = {f"only requests that {words}": key for key, (_, words) in FLAGS.items()}


def duration(seconds: float | None) -> str:
    """``seconds`` as a person reads them: "0.84 s", "3 min 05.2 s", "8 h 10 min 23.97 s" ('' for none)."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    s = float(seconds)
    if abs(s) < 60:
        return f"{s:.2f} s"
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{int(h)} h {int(m):02d} min {sec:05.2f} s" if h else f"{int(m)} min {sec:04.1f} s"


def run_label(row) -> str:
    """How a person knows a run: scenario, label, date and size (the id last)."""
    label = f" · {row.label}" if row.label else ""
    when = pd.Timestamp(row.started_at).strftime("%d %b %H:%M")
    return f"{row.scenario}{label} · {when} · {row.requests:,} req [{row.mode}] · {row.run_id}"


def _short(text, n: int = 160) -> str:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


class AuditView(pn.viewable.Viewer):
    """The Audit tab over a filter (run, status, target, category, flag) it shares with Compare."""

    show_text = param.Boolean(default=True, doc="show each request's prompt and answer text")

    state = param.ClassSelector(class_=AppState, allow_None=NoNone, doc="the session's state (its runs_changed "
                                "re-reads this page's runs)")

    def __init__(self, state: AppState, **params):
        super().__init__(state=state, **params)
        self.msg = Messages("audit")
        g = guarded(self.msg)
        W = pn.widgets
        self.run = W.Select(label="run", width=480, css_classes=["wb-audit-run"])
        self.status = W.Select(label="status", width=130, css_classes=["wb-audit-status"])
        self.target = W.Select(label="target (any attempt)", width=170, css_classes=["wb-audit-target"])
        self.category = W.Select(label="category", width=170, css_classes=["wb-audit-category"])
        self.flag = W.Select(label="condition", options={_ALL: "", **_FLAG_NAMES}, value="", width=260,
                             css_classes=["wb-audit-flag"])
        self.text_toggle = W.Checkbox.from_param(self.param.show_text, label="show prompt and answer text",
                                                 css_classes=["wb-audit-text"])
        self._quiet = False
        self._prompts: dict[str, pd.DataFrame] = {}
        self.run.param.watch(g(lambda e: self._facets()), "value")
        for w in (self.status, self.target, self.category, self.flag):
            w.param.watch(g(lambda e: None if self._quiet else self._rows()), "value")
        self.param.watch(g(lambda e: self._rows()), "show_text")
        state.param.watch(g(lambda e: self.show_figure(e.new)), "audit_filter")
        self.header = pn.pane.HTML("", css_classes=["wb-audit-header"], sizing_mode="stretch_width")
        self.requests = W.Tabulator(pd.DataFrame(), disabled=True, show_index=False, pagination="remote",
                                    page_size=15, sizing_mode="stretch_width", selectable=1,
                                    css_classes=["wb-audit-requests"], layout="fit_data_table")
        self.requests.on_click(g(self._detail))
        self.seal = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-audit-seal-box"])
        self.detail = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-audit-detail-box"])
        self.attempts = W.Tabulator(pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                    selectable=False, css_classes=["wb-audit-attempts"])
        self.fmt = W.RadioButtonGroup(label="format", options=["csv", "parquet"], value="csv", width=160)
        self.fmt.param.watch(lambda e: self._names(), "value")
        self.dl_requests = W.FileDownload(callback=lambda: self._export("requests"), label="Export requests",
                                          width=220, css_classes=["wb-export-requests"])
        self.dl_attempts = W.FileDownload(callback=lambda: self._export("attempts"), label="Export attempts",
                                          width=220, css_classes=["wb-export-attempts"])
        self.panel = pn.Column(
            pn.pane.Markdown("### Audit a run\nClick a request to see its attempts. Exports hold the whole run, "
                             "with each request's prompt and answer text (filters only narrow the table)."),
            self.msg.pane, pn.FlexBox(self.run, self.status, self.target, self.category, self.flag,
                                      sizing_mode="stretch_width"),  # wraps at 1280 px instead of overflowing
            self.text_toggle, self.header, self.seal, self.requests, self.detail, self.attempts,
            pn.Row(self.fmt, self.dl_requests, self.dl_attempts), sizing_mode="stretch_width")

    def __panel__(self):
        return self.panel

    @param.depends("state.runs_changed", watch=True)
    def _runs_changed(self) -> None:
        guarded(self.msg)(self.refresh)()

    def refresh(self, select: str | None = None) -> None:
        """Re-list the stored runs and pick ``select`` (default: keep the pick, else the last job's last run)."""
        with self.state.store() as st:
            runs = list_runs(st)
        self.msg.store_ok()
        options = {run_label(r): r.run_id for r in runs.itertuples()}
        value = select if select is not None else self.run.value
        if value not in options.values():
            last = [r for r in self.state.finished_runs if r in options.values()]
            value = last[-1] if last else next(iter(options.values()), None)
        if options != self.run.options or value != self.run.value:
            self.run.param.update(options=options, value=value)

    def show_figure(self, figure: dict) -> None:
        """Show exactly the requests behind a figure: ``run_id`` and any of status, target, category, flag."""
        if not figure:
            return
        self.refresh(select=figure["run_id"])
        self._quiet = True
        try:
            for w, key in ((self.status, "status"), (self.target, "target"), (self.category, "category")):
                value = figure.get(key) or _ALL
                if value not in w.options:
                    w.options = [*w.options, value]
                w.value = value
            self.flag.value = figure.get("flag") or ""
        finally:
            self._quiet = False
        self._rows(why=figure.get("why", ""))

    def _facets(self) -> None:
        if not self.run.value:
            self.seal.object = ""
            return
        self._seal(self.run.value)
        with self.state.store() as st:
            facets = audit_facets(st, self.run.value)
        self._quiet = True
        try:
            for w, key in ((self.status, "status"), (self.target, "target"), (self.category, "category")):
                w.options = [_ALL, *facets[key]]
                w.value = _ALL
            self.flag.value = ""
        finally:
            self._quiet = False
        self._names()
        self._rows()

    def _seal(self, run_id: str) -> None:
        """The run's audit chain as ``workbench audit verify`` checks it: intact, broken at row N, or not audited."""
        with self.state.store() as st:
            if not is_audited(st.con, run_id):
                state, line = "none", "not audited (its scenario did not set audit: true): no tamper-evident trail"
            else:
                try:
                    result = verify_run(st.con, run_id)
                    state, line = ("intact" if result.intact else "broken"), result.message()
                except InputError as exc:  # e.g. a signed chain and no key here: not checked, said so
                    state, line = "unchecked", str(exc)
        self.seal.object = html("<p class='wb-audit-seal' data-state='{}'><b>Audit trail</b> (checked as "
                                "<code>workbench audit verify</code> does): {}</p>", state, line)

    def _names(self) -> None:
        rid, ext = self.run.value or "run", self.fmt.value
        self.dl_requests.filename = f"{rid}.requests.{ext}"
        self.dl_attempts.filename = f"{rid}.attempts.{ext}"

    def _prompts_of(self, st, rid: str) -> pd.DataFrame:
        if rid not in self._prompts:
            self._prompts[rid] = run_prompts(st, rid)
        return self._prompts[rid]

    def _rows(self, why: str = "") -> None:
        rid = self.run.value
        if not rid:
            return
        pick = {k: (None if w.value in (None, _ALL) else w.value)
                for k, w in (("status", self.status), ("target", self.target), ("category", self.category))}
        with self.state.store() as st:
            frame = request_rows(st, rid, limit=ROW_LIMIT, flag=self.flag.value or None, **pick)
            total = run_size(st, rid)["requests"]
            prompts = self._prompts_of(st, rid) if self.show_text else None
        mode = frame["mode"].iloc[0] if len(frame) else ""
        shown = f"{len(frame):,} of {total:,} requests" + (f" (first {ROW_LIMIT:,})" if len(frame) == ROW_LIMIT else "")
        note = prompts.attrs.get("note", "") if prompts is not None else ""
        self.header.object = html("<p>{} {}: <b class='wb-audit-count' data-rows='{}'>{}</b>{}{}</p>",
                                  mode_badge(mode) if mode else "", rid, len(frame), shown,
                                  f"; showing the requests behind {why}" if why else "", f". {note}" if note else "")
        self.requests.value = self._shown(frame, prompts)
        self.detail.object, self.attempts.value = "", pd.DataFrame()

    def _shown(self, frame: pd.DataFrame, prompts: pd.DataFrame | None) -> pd.DataFrame:
        out = frame.copy()
        out["arrived"] = out["arrival_s"].map(lambda s: f"+{duration(s)}") if "arrival_s" in out else ""
        out["latency"] = out["latency_s"].map(duration) if "latency_s" in out else ""
        if prompts is not None:
            out = out.merge(prompts, on="request_id", how="left")
            out["prompt"] = out["prompt"].map(_short)
            out["answer"] = out["response"].map(_short)
        cols = [c for c in _REQ_COLS if c in out.columns and (self.show_text or c not in _TEXT_COLS)]
        return out[cols]

    def _detail(self, event) -> None:
        row = self.requests.value.iloc[event.row]
        rid = self.run.value
        with self.state.store() as st:
            att = attempt_rows(st, rid, row["request_id"])
            full = request_rows(st, rid).set_index("request_id").loc[row["request_id"]]
            prompt = self._prompts_of(st, rid).set_index("request_id")["prompt"].get(row["request_id"])
        verdicts = row.get("verdicts")
        nice = json.dumps(json.loads(verdicts), indent=None) if isinstance(verdicts, str) and verdicts else "none"
        who = f"answered by {row['final_target']}" if isinstance(row["final_target"], str) else "not answered"
        self.detail.object = html(
            "<p class='wb-audit-detail'><b>{}</b>: routed to <b>{}</b> because {}; {} ({}); {} attempt(s), {} "
            "fallback(s), {}; verdicts: {}</p>{}", row["request_id"], row["route"], row["reason"], who,
            row["status"], len(att), row["fallbacks"], "handed off to a human" if row["handoff"] else "no hand-off",
            nice, html("<div class='wb-audit-text-full'><p><b>Prompt</b></p><pre style='white-space:pre-wrap'>{}</pre>"
                       "<p><b>Answer</b></p><pre style='white-space:pre-wrap'>{}</pre></div>",
                       prompt or "(not available)", full.get("response") or "(no answer)")
            if self.show_text else "")
        att = att.assign(started=att["start_s"].map(lambda s: f"+{duration(s)}"),
                         took=(att["end_s"] - att["start_s"]).map(duration), wait=att["wait_s"].map(duration),
                         retry_after=att["retry_after_s"].map(duration))
        self.attempts.value = att[[c for c in _ATT_COLS if c in att.columns
                                   and (self.show_text or c != "response")]]

    def _export(self, table: str):
        rid = self.run.value
        try:
            if not rid:
                raise WorkbenchError("pick a run first")
            with tempfile.TemporaryDirectory(prefix="workbench-export-") as tmp, self.state.store() as st:
                data = export_with_prompts(st, rid, Path(tmp), self.fmt.value)[table].read_bytes()
        except WorkbenchError as exc:
            self.msg.error(str(exc))
            return io.StringIO(f"export failed: {exc}")
        self.msg.ok(f"exported {rid}.{table}.{self.fmt.value} ({len(data):,} bytes, with prompt and answer text)")
        return io.BytesIO(data)
