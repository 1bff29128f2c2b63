"""A candidate's scorecard as one HTML file: every submission, its level and each criterion's verdict.

Why a file of its own, built only with :mod:`workbench.app.safe`: the panel downloads it and passes it
around (email, the hiring system); everything in it came from the candidate (their name, the
design's names) or from files a panel opened, so every value is escaped; it has no script and no
external asset, so it opens anywhere, offline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workbench.analysis.summary import METRIC_LABELS
from workbench.app.safe import Safe, html, join
from workbench.app.ui import duration
from workbench.store.submissions import Submission

__all__ = ["scorecard_html", "criterion_value"]

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;color:#1a202c}"
          "table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}td,th{border:1px solid #cbd5e0;"
          "padding:3px 8px;text-align:left}.pass{color:#276749}.fail{color:#c53030}"
          "@media print{body{margin:0}}")


def criterion_value(metric: str | None, value: Any) -> str:
    """A measured or target value as people read it: ``$`` for money, ``%`` for rates, seconds rounded;
    ``"not measured"`` when there is none."""
    if value is None:
        return "not measured" if metric else "none"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    fmt = next((f for k, _, f in METRIC_LABELS if k == metric), "{:.4g}")
    return fmt.format(value)


def _criteria(result: dict) -> Safe:
    rows = []
    for c in result.get("criteria", []):
        ok = bool(c.get("passed"))
        seed = c.get("worst_seed")
        measured = criterion_value(c.get("metric"), c.get("measured")) + (f" (seed {seed})" if seed is not None else "")
        target = c.get("target")
        shown_target = criterion_value(c.get("metric"), target) if c.get("kind") == "metric" else str(target)
        rows.append(html("<tr><td class='{}'>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>",
                         "pass" if ok else "fail", "PASS" if ok else "FAIL", c.get("level", "meets"),
                         c.get("name", "?"), measured, c.get("comparison", ""), shown_target, c.get("points", "")))
    head = "<tr><th>verdict</th><th>level</th><th>criterion</th><th>measured</th><th>target</th><th>points</th></tr>"
    return html("<table>{}{}</table>", Safe(head), join(rows))


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def scorecard_html(candidate: str, submissions: list[Submission]) -> str:
    """The scorecard of ``candidate``: a summary line per submission, then each one's criteria."""
    summary = join(html("<tr><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b></td><td>{}/{}</td><td>{}/{}</td>"
                        "<td>{}</td><td><code>{}</code></td></tr>", i, _when(s.submitted_at), s.exercise, s.level,
                        s.passed, s.total, s.points, s.max_points, duration(s.elapsed_s), s.run_id or "")
                   for i, s in enumerate(submissions, 1))
    details = join(html("<h2>Submission {}: {} ({})</h2><p>Replayed on the exercise's held-out traffic ({} data, "
                        "run <code>{}</code>; every seed's run is in the trace store and opens in Audit).</p>{}",
                        i, s.exercise, _when(s.submitted_at), s.result.get("mode", "?"), s.run_id or "",
                        _criteria(s.result))
                   for i, s in enumerate(submissions, 1))
    best = max((s for s in submissions if s.points is not None), key=lambda s: s.points or 0, default=None)
    verdict = (html("<p>Best submission: {} on {}, level <b>{}</b>, {}/{} points.</p>", _when(best.submitted_at),
                    best.exercise, best.level, best.points, best.max_points) if best else
               html("<p>No scored submission yet.</p>"))
    return html("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Scorecard: {}</title><style>{}</style>"
                "</head><body><h1>Scorecard: {}</h1>{}<table><tr><th>#</th><th>submitted</th><th>exercise</th>"
                "<th>level</th><th>criteria passed</th><th>points</th><th>time taken</th><th>run</th></tr>{}</table>"
                "{}</body></html>", candidate, Safe(_STYLE), candidate, verdict, summary, details)
