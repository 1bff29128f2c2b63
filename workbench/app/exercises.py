"""The Exercises page: a candidate reads a brief, edits the starting design, submits, sees the score.

Why guarded: the exercises (``scenarios/exercises/<name>/brief.md``) and their scorer
(``workbench.exercises.score_submission``) are built separately; until the scorer exists this page
lists the briefs and says that scoring is not available, instead of failing to import.
"""

from __future__ import annotations

import asyncio
import html
import importlib
import inspect
import logging
from pathlib import Path
from typing import Any

import panel as pn

from workbench.app.state import AppState
from workbench.app.ui import Messages, guarded
from workbench.errors import WorkbenchError

__all__ = ["ExercisesView", "list_exercises", "scorer", "result_html", "candidate_brief"]

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
    """A score result as HTML: a line per criterion (pass or fail, measured against target), then totals."""
    criteria = _get(result, "criteria", "results", default=None)
    if criteria is None:
        return f"<pre>{html.escape(str(result))}</pre>"
    if isinstance(criteria, dict):
        criteria = [{"name": k, **(v if isinstance(v, dict) else {"passed": v})} for k, v in criteria.items()]
    rows = []
    for c in criteria:
        ok = bool(_get(c, "passed", "ok", "pass", default=False))
        name = _get(c, "name", "criterion", "id", default="?")
        measured, target = _get(c, "measured"), _get(c, "target")
        comparison = _get(c, "comparison", default="")
        versus = "" if target is None else f": measured {_short(measured)}, target {comparison} {_short(target)}"
        why = _get(c, "detail", "message", "reason", default="")
        level = _get(c, "level", default="meets")
        tag = "" if level == "meets" else f" [{html.escape(str(level))}]"  # a criterion of a level above passing
        rows.append(f"<li class='wb-criterion' data-pass='{str(ok).lower()}'>{'PASS' if ok else 'FAIL'}{tag} "
                    f"<b>{html.escape(str(name))}</b>{html.escape(versus)} {html.escape(str(why or ''))}</li>")
    passed, total = _get(result, "passed"), _get(result, "total")
    points, most = _get(result, "points"), _get(result, "max_points")
    head = ""
    if isinstance(passed, int) and isinstance(total, int):
        head = f"<p class='wb-score'><b>{passed}/{total} criteria passed</b>"
        head += f", {points}/{most} points" if points is not None and most is not None else ""
        mode, run = _get(result, "mode"), _get(result, "run_id")
        where = f" (replayed on held-out traffic, {html.escape(str(mode))}, run {html.escape(str(run))})"
        head += (where if mode else "") + "</p>"
        level = _get(result, "level")
        head += f"<p class='wb-level'>level: <b>{html.escape(str(level))}</b></p>" if level else ""
    return f"{head}<ul>{''.join(rows)}</ul>"


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class ExercisesView:
    """The Exercises tab; ``panel`` is its layout."""

    def __init__(self, state: AppState):
        self.state = state
        self.msg = Messages("exercises")
        g = guarded(self.msg)
        W = pn.widgets
        self.pick = W.Select(label="exercise", width=300)
        self.pick.param.watch(g(lambda e: self._show()), "value")
        self.brief = pn.pane.Markdown("", sizing_mode="stretch_width")
        self.design = W.CodeEditor(language="yaml", height=360, sizing_mode="stretch_width")
        self.submit = W.Button(label="Submit for scoring", color="primary", width=180)
        self.submit.on_click(self._score)  # async: handles its own errors
        self.result = pn.pane.HTML("", sizing_mode="stretch_width")
        self.panel = pn.Column(pn.pane.Markdown("### Exercises"), self.msg.pane, self.pick, self.brief,
                               pn.pane.Markdown("**Your design** (starts from the exercise's starting scenario)"),
                               self.design, self.submit, self.result, sizing_mode="stretch_width")
        self.refresh()

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
        else:
            self.msg.clear()
        self._show()

    def _show(self) -> None:
        folder = list_exercises(self.state.scenarios_dir).get(self.pick.value)
        if folder is None:
            self.brief.object, self.design.value = "", ""
            return
        self.brief.object = candidate_brief((folder / "brief.md").read_text(encoding="utf-8"))
        start = folder / "start.yaml"  # never the solution
        self.design.value = start.read_text(encoding="utf-8") if start.is_file() else ""
        self.result.object = ""

    async def _score(self, _event=None) -> None:
        score = scorer()
        if score is None or not self.pick.value:
            self.msg.error("scoring is not available")
            return
        root = Path(self.state.scenarios_dir) / "exercises"
        kw = {"root": str(root)} if "root" in inspect.signature(score).parameters else {}
        self.submit.loading, self.result.object = True, ""
        self.msg.info("replaying your design on the held-out traffic...")
        try:  # a replay takes seconds: off the server's event loop, so other pages stay responsive
            result = await asyncio.to_thread(score, self.pick.value, self.design.value, **kw)
        except WorkbenchError as exc:
            self.msg.error(str(exc))
            return
        except Exception as exc:  # noqa: BLE001  (one line in the page; the log keeps the traceback)
            _log.exception("scoring failed")
            self.msg.error(f"unexpected error: {type(exc).__name__}: {exc}")
            return
        finally:
            self.submit.loading = False
        self.msg.clear()
        self.result.object = result_html(result)
