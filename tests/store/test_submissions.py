"""Exercise submissions in a real trace store: a candidate's history, filtered and in order."""

from __future__ import annotations

from datetime import datetime

import pytest

from workbench.store import TraceStore
from workbench.store.submissions import add_submission, candidates, list_submissions


def _result(level: str, points: int) -> dict:
    return {"run_id": f"run-{points}", "level": level, "passed": points, "total": 6, "points": points,
            "max_points": 9, "criteria": [{"name": "cost", "passed": True}]}


def test_history_per_candidate_oldest_first(tmp_path):
    with TraceStore(tmp_path / "t.duckdb") as st:
        add_submission(st, candidate=" Ada ", exercise="cost-overrun", design_yaml="name: a\n",
                       result=_result("fails", 3), elapsed_s=61.5, submitted_at=datetime(2026, 1, 2, 10))
        add_submission(st, candidate="Ada", exercise="cost-overrun", design_yaml="name: b\n",
                       result=_result("meets", 7), submitted_at=datetime(2026, 1, 2, 11))
        add_submission(st, candidate="Grace", exercise="failure-drill", design_yaml="name: c\n",
                       result=_result("exceeds", 9))
        with pytest.raises(ValueError, match="a candidate name is required"):
            add_submission(st, candidate="  ", exercise="x", design_yaml="", result={})
    with TraceStore(tmp_path / "t.duckdb") as st:  # persisted
        ada = list_submissions(st, candidate="Ada")
        assert [(s.level, s.points, s.run_id, s.elapsed_s) for s in ada] == [("fails", 3, "run-3", 61.5),
                                                                             ("meets", 7, "run-7", None)]
        assert ada[1].design_yaml == "name: b\n" and ada[1].result["criteria"] == [{"name": "cost", "passed": True}]
        assert [s.candidate for s in list_submissions(st, exercise="failure-drill")] == ["Grace"]
        assert candidates(st) == ["Ada", "Grace"]
