"""The Exercises page for a hiring panel: a candidate reads a brief, edits the starting design, submits,
sees the score; the panel keeps each candidate's history and downloads a scorecard.

Why the submission goes through :mod:`workbench.interviews`: the scored runs land in the session's
trace store (each opens in Audit) and the submission is kept with its result
(:mod:`workbench.store.submissions`), so scoring a candidate twice shows both, with the time taken.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import param

from workbench.app.jobs import open_store
from workbench.app.safe import document, html, join
from workbench.app.scorecard import criterion_value, scorecard_html
from workbench.app.state import AppState
from workbench.app.ui import Confirm, Messages, busy, button, duration, guarded
from workbench.errors import InputError, WorkbenchError
from workbench.interviews import score_for_candidate, submission_source
from workbench.store.submissions import Submission, list_submissions

__all__ = ["ExercisesView", "list_exercises", "scorer", "result_html", "candidate_brief", "history_frame",
           "HISTORY_COLUMNS"]

#: Columns of a candidate's history table.
HISTORY_COLUMNS = ["#", "submitted (UTC)", "exercise", "level", "criteria passed", "points", "time taken", "run"]

_log = logging.getLogger(__name__)


def list_exercises(scenarios_dir: str | Path) -> dict[str, Path]:
    """Exercise name -> its folder, for every ``exercises/<name>/brief.md`` under the scenarios folder."""
    root = Path(scenarios_dir) / "exercises"
    return {p.parent.name: p.parent for p in sorted(root.glob("*/brief.md"))} if root.is_dir() else {}


def candidate_brief(text: str) -> str:
    """A brief without its panel-only section (from the ``<!-- panel-only`` marker on)."""
    return text.split("<!-- panel-only")[0]


def _module():
    try:
        return importlib.import_module("workbench.exercises")
    except ImportError:
        return None


def scorer():
    """``workbench.exercises.score_submission``, or None when this version has no exercise scorer."""
    return getattr(_module(), "score_submission", None)


def _get(item: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if isinstance(item, dict) and n in item:
            return item[n]
        if hasattr(item, n):
            return getattr(item, n)
    return default


def result_html(result: Any) -> str:
    """A score result as HTML: a line per criterion (pass or fail, measured against target), then totals.

    Values read as people read them: money with ``$``, rates as percentages, "not measured" for none.
    """
    criteria = _get(result, "criteria", "results", default=None)
    if criteria is None:
        return html("<pre>{}</pre>", result)
    if isinstance(criteria, dict):
        criteria = [{"name": k, **(v if isinstance(v, dict) else {"passed": v})} for k, v in criteria.items()]
    rows = []
    for c in criteria:
        ok = bool(_get(c, "passed", "ok", "pass", default=False))
        name = _get(c, "name", "criterion", "id", default="?")
        metric, measured, target = _get(c, "metric"), _get(c, "measured"), _get(c, "target")
        comparison = _get(c, "comparison", default="")
        shown_target = criterion_value(metric, target) if _get(c, "kind") == "metric" else _short(target)
        got = "not measured" if measured is None else f"measured {criterion_value(metric, measured)}"
        versus = "" if target is None else f": {got}, target {comparison} {shown_target}"
        why = _get(c, "detail", "message", "reason", default="")
        level = _get(c, "level", default="meets")
        tag = "" if level == "meets" else html(" [{}]", level)  # a criterion of a level above passing
        rows.append(html("<li class='wb-criterion' data-pass='{}'>{}{} <b>{}</b>{} {}</li>", str(ok).lower(),
                         "PASS" if ok else "FAIL", tag, name, versus, why or ""))
    passed, total = _get(result, "passed"), _get(result, "total")
    points, most = _get(result, "points"), _get(result, "max_points")
    head = ""
    if isinstance(passed, int) and isinstance(total, int):
        pts = html(", {}/{} points", points, most) if points is not None and most is not None else ""
        mode, run = _get(result, "mode"), _get(result, "run_id")
        where = html(" (replayed on held-out traffic, {}, run {})", mode, run) if mode else ""
        level = _get(result, "level")
        graded = html("<p class='wb-level'>level: <b>{}</b></p>", level) if level else ""
        head = html("<p class='wb-score'><b>{}/{} criteria passed</b>{}{}</p>{}", passed, total, pts, where, graded)
    return html("{}<ul>{}</ul>", head, join(rows))


def _short(v: Any) -> str:
    return "none" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def history_frame(submissions: list[Submission]) -> pd.DataFrame:
    """A candidate's submissions as the history table shows them (oldest first, numbered)."""
    rows = [{"#": i, "submitted (UTC)": s.submitted_at.strftime("%Y-%m-%d %H:%M:%S"), "exercise": s.exercise,
             "level": s.level or "", "criteria passed": f"{s.passed}/{s.total}",
             "points": f"{s.points}/{s.max_points}", "time taken": duration(s.elapsed_s), "run": s.run_id or ""}
            for i, s in enumerate(submissions, 1)]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


class ExercisesView(pn.viewable.Viewer):
    """The Exercises tab for a hiring panel: a candidate, a timer, the brief, the design, submit, the history.

    The candidate's history (``workbench.store.submissions``) and the scorecard come from the trace
    store; the scored run opens in Audit (``AppState.audit_run``). Switching exercises or resetting
    with an edited design asks first; every message shows under the Submit button.
    """

    candidate = param.String(default="", doc="the candidate's name as the panel typed it")
    version = param.Integer(default=0, doc="bumped when a submission is stored (the history re-reads)")

    def __init__(self, state: AppState, **params):
        super().__init__(**params)
        self.state = state
        self.msg = Messages("exercises")
        g = guarded(self.msg)
        W = pn.widgets
        self._started: float | None = None
        self._start_text = ""
        self._shown_exercise: str | None = None
        self.pick = W.Select(label="exercise", width=300, css_classes=["wb-exercise-pick"])
        self.pick.param.watch(g(self._switch), "value")
        self.who = W.TextInput(label="candidate", placeholder="candidate's name", width=240,
                               css_classes=["wb-candidate"])
        self.who.param.watch(g(self._candidate), "value")
        self.timer_btn = W.Button(label="Start timer", width=110, align="end", css_classes=["wb-timer-start"])
        self.timer_btn.on_click(g(self._start_timer))
        self.timer = pn.pane.HTML("", css_classes=["wb-timer"], align="end", margin=(5, 10))
        self.reset_btn = W.Button(label="Reset to start", width=130, align="end", css_classes=["wb-reset"])
        self.reset_btn.on_click(g(self._reset))
        self.confirm = Confirm("exercises", self.msg)
        self.brief = document("", sizing_mode="stretch_width", css_classes=["wb-brief"])
        self.design = W.CodeEditor(language="yaml", height=360, sizing_mode="stretch_width",
                                   css_classes=["wb-design"])
        self.submit = button("Submit for scoring", "primary", width=180,
                               css_classes=["wb-submit"])
        self.submit.on_click(self._score)  # async: handles its own errors
        self.result = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["wb-result"])
        self.history = W.Tabulator(pn.bind(self._history, self.param.candidate, self.param.version),
                                   disabled=True, show_index=False, selectable=1, sizing_mode="stretch_width",
                                   css_classes=["wb-history"])
        self.audit_btn = W.Button(label="Audit the selected run", width=240, css_classes=["wb-open-audit"])
        self.audit_btn.on_click(g(self._open_in_audit))
        self.scorecard = W.FileDownload(callback=self._scorecard, filename="scorecard.html", label="Download scorecard",
                                        width=200, css_classes=["wb-scorecard"])
        self.panel = pn.Column(
            pn.pane.Markdown("### Exercises"), pn.Row(self.pick, self.who, self.timer_btn, self.timer, self.reset_btn),
            self.brief, pn.pane.Markdown("**The candidate's design** (starts from the exercise's starting scenario)"),
            self.design, self.submit, self.confirm.panel, self.msg.pane, self.result,
            pn.pane.Markdown("**This candidate's submissions** (stored in the trace store)"), self.history,
            pn.Row(self.audit_btn, self.scorecard), sizing_mode="stretch_width")
        self.refresh()

    def __panel__(self) -> pn.Column:
        return self.panel

    def refresh(self) -> None:
        """Re-list the exercises and whether they can be scored here."""
        found = list_exercises(self.state.scenarios_dir)
        self.pick.options = list(found)
        if self.pick.value not in found:
            self.pick.value = next(iter(found), None)
        can_score = scorer() is not None
        self.submit.disabled = not (found and can_score)
        if not found:
            self.msg.info(f"No exercises yet (looked for {Path(self.state.scenarios_dir) / 'exercises'}/*/brief.md).")
        elif not can_score:
            self.msg.info("Scoring is not available in this version (workbench.exercises.score_submission).")
        if self._shown_exercise != self.pick.value:
            self._show()

    # --- the exercise and its design ---------------------------------------------------------
    @property
    def edited(self) -> bool:
        """True when the design differs from the exercise's starting scenario."""
        return self.design.value != self._start_text

    def _switch(self, event) -> None:
        if event.new == self._shown_exercise:
            return
        if self._shown_exercise is not None and self.edited:
            old = event.old
            self.confirm.ask(f"The design has edits. Switch to {event.new} and lose them?", self._show,
                             yes="Switch, discard edits", on_cancel=lambda: setattr(self.pick, "value", old))
            return
        self._show()

    def _show(self) -> None:
        self.confirm.hide()
        folder = list_exercises(self.state.scenarios_dir).get(self.pick.value)
        self._shown_exercise = self.pick.value
        if folder is None:
            self.brief.object, self.design.value, self._start_text = "", "", ""
            return
        self.brief.object = candidate_brief((folder / "brief.md").read_text(encoding="utf-8"))
        start = folder / "start.yaml"  # never the solution
        self._start_text = start.read_text(encoding="utf-8") if start.is_file() else ""
        self.design.value = self._start_text
        self.result.object = ""

    def _reset(self, _event=None) -> None:
        def reset() -> None:
            self._show()
            self._started = None
            self._tick()
            self.msg.ok("reset: the starting design, no result, the timer stopped")
        if self.edited:
            self.confirm.ask("Reset to the starting design and lose the edits?", reset, yes="Reset")
        else:
            reset()

    # --- candidate and timer -----------------------------------------------------------------
    def _candidate(self, event) -> None:
        self.candidate = event.new.strip()

    def _start_timer(self, _event=None) -> None:
        if not self.candidate:
            raise InputError("type the candidate's name first", field="candidate")
        self._started = time.monotonic()
        self._tick()
        if pn.state.curdoc is not None and not getattr(self, "_ticking", False):
            self._ticking = True
            pn.state.add_periodic_callback(self._tick, period=1000)

    def elapsed_s(self) -> float | None:
        """Seconds since the timer was started (None when it is not running)."""
        return None if self._started is None else time.monotonic() - self._started

    def _tick(self) -> None:
        elapsed = self.elapsed_s()
        self.timer.object = "" if elapsed is None else html("<b>{}</b> elapsed", duration(elapsed))

    # --- scoring, history, scorecard ---------------------------------------------------------
    def _history(self, candidate: str, version: int) -> pd.DataFrame:
        if not candidate:
            return history_frame([])
        try:
            with open_store(self.state.db) as st:
                return history_frame(list_submissions(st, candidate=candidate))
        except WorkbenchError as exc:
            self.msg.error(str(exc))
            return history_frame([])

    async def _score(self, _event=None) -> None:
        if scorer() is None or not self.pick.value:
            self.msg.error("scoring is not available")
            return
        if not self.candidate:
            self.msg.error("type the candidate's name first (their submissions are kept under it)")
            return
        root = Path(self.state.scenarios_dir) / "exercises"
        self.result.object = ""
        self.msg.info(f"replaying {self.candidate}'s design on the held-out traffic...")
        try:  # a replay takes seconds: off the server's event loop, so other pages stay responsive
            with busy(self.submit):
                result, row = await asyncio.to_thread(score_for_candidate, self.pick.value, self.design.value,
                                                      self.candidate, self.state.db, root=root,
                                                      elapsed_s=self.elapsed_s())
        except WorkbenchError as exc:
            self.msg.error(str(exc))
            return
        except Exception as exc:  # noqa: BLE001  (one line in the page; the log keeps the traceback)
            _log.exception("scoring failed")
            self.msg.error(f"unexpected error: {type(exc).__name__}: {exc}")
            return
        self.msg.ok(f"scored {self.candidate}'s submission: level {row.level}, {row.passed}/{row.total} criteria, "
                    f"{row.points}/{row.max_points} points (run {row.run_id})")
        self.result.object = result_html(result)
        self.version += 1

    def _open_in_audit(self, _event=None) -> None:
        frame = self.history.value
        if frame is None or frame.empty:
            raise InputError("no scored submission yet for this candidate")
        picked = self.history.selection
        run = frame.iloc[picked[0] if picked else len(frame) - 1]["run"]
        self.state.audit_run = ""
        self.state.audit_run = run
        self.msg.ok(f"opened run {run} in Audit")

    def _scorecard(self):
        if not self.candidate:
            self.msg.error("type the candidate's name first")
            return io.StringIO("no candidate")
        with open_store(self.state.db) as st:
            rows = list_submissions(st, candidate=self.candidate)
        self.scorecard.filename = f"scorecard-{submission_source(self.candidate, 'all').stem}.html"
        self.msg.ok(f"scorecard of {self.candidate}: {len(rows)} submission(s)")
        return io.BytesIO(scorecard_html(self.candidate, rows).encode("utf-8"))
