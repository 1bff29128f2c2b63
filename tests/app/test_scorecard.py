"""The scorecard a panel downloads, and the app's figures for people (durations, percentages)."""

from __future__ import annotations

from datetime import datetime

from workbench.app.scorecard import criterion_value, scorecard_html
from workbench.app.ui import duration, percent
from workbench.store.submissions import Submission

HOSTILE = "<script>alert('x')</script>"


def _sub(points: int, level: str, when: datetime) -> Submission:
    import json

    result = {"mode": "simulated", "criteria": [
        {"name": HOSTILE, "kind": "metric", "metric": "error_rate", "passed": False, "measured": 0.0412,
         "target": 0.02, "comparison": "<=", "points": 2, "level": "meets", "worst_seed": 12},
        {"name": "budget", "kind": "element", "metric": None, "passed": True, "measured": "yes",
         "target": "a budget", "comparison": "=", "points": 1, "level": "meets", "worst_seed": None}]}
    return Submission("id", HOSTILE, "cost-overrun", when, 185.0, "name: x", f"run-{points}", level, 1, 2, points, 9,
                      json.dumps(result))


def test_scorecard_lists_every_submission_escaped():
    page = scorecard_html(HOSTILE, [_sub(3, "fails", datetime(2026, 1, 2, 10, 5)),
                                    _sub(7, "meets", datetime(2026, 1, 2, 11, 0))])
    assert "<script>" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "Best submission: 2026-01-02 11:00 UTC on cost-overrun, level <b>meets</b>, 7/9 points." in page
    assert page.count("<h2>Submission") == 2 and "3 min 05 s" in page
    assert "4.12% (seed 12)" in page and "&lt;= 2.00%" in page  # rates as percentages
    assert "http" not in page  # nothing loaded from elsewhere: it opens offline


def test_values_for_people():
    assert criterion_value("cost_per_1k_usd", 2.70461) == "$2.705"
    assert criterion_value("error_rate", 0.25) == "25.00%"
    assert criterion_value("quality", None) == "not measured" and criterion_value(None, None) == "none"
    assert [duration(s) for s in (None, 4.26, 42.4, 185, 29423.974151)] == [
        "n/a", "4.3 s", "42 s", "3 min 05 s", "8 h 10 min"]
    assert percent(0.1234) == "12.3%" and percent(None) == "n/a"
