"""Exercise submissions in the trace store: a hiring panel's history of who submitted what, and its score.

Why in the trace store: the scored run is already there (an ordinary run, openable in Audit), so the
submission that produced it sits beside it, and a panel that keeps its ``--db`` keeps its history;
the app reads and writes it only through these functions (the app never touches SQL). The result is
kept whole as JSON (every criterion, every seed's run), with the headline figures in columns so that
the history lists without parsing it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

__all__ = ["Submission", "add_submission", "list_submissions", "candidates"]

@dataclass(frozen=True)
class Submission:
    """One scored submission, as stored."""

    submission_id: str
    candidate: str
    exercise: str
    submitted_at: datetime
    elapsed_s: float | None
    design_yaml: str
    run_id: str | None
    level: str | None
    passed: int | None
    total: int | None
    points: int | None
    max_points: int | None
    result_json: str

    @property
    def result(self) -> dict[str, Any]:
        """The stored result (``ExerciseResult.to_dict``)."""
        return json.loads(self.result_json)


#: The ``submissions`` table's columns: the dataclass's fields, in order (one list, not two).
_COLUMNS = [f.name for f in fields(Submission)]


def _con(con_or_store):
    return getattr(con_or_store, "con", con_or_store)


def add_submission(store, *, candidate: str, exercise: str, design_yaml: str, result: dict[str, Any],
                   elapsed_s: float | None = None, submitted_at: datetime | None = None) -> Submission:
    """Store one scored submission (``result``: ``ExerciseResult.to_dict()``); returns it as stored."""
    name = candidate.strip()
    if not name:
        raise ValueError("a candidate name is required")
    row = Submission(
        submission_id=uuid.uuid4().hex[:12], candidate=name, exercise=exercise,
        submitted_at=submitted_at or datetime.now(UTC).replace(tzinfo=None), elapsed_s=elapsed_s,
        design_yaml=design_yaml, run_id=result.get("run_id"), level=result.get("level"),
        passed=result.get("passed"), total=result.get("total"), points=result.get("points"),
        max_points=result.get("max_points"), result_json=json.dumps(result, default=str))
    _con(store).execute(f"INSERT INTO submissions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                        [getattr(row, c) for c in _COLUMNS])
    return row


def list_submissions(store, *, candidate: str | None = None, exercise: str | None = None) -> list[Submission]:
    """Stored submissions, oldest first; only ``candidate``'s and ``exercise``'s when given."""
    where, args = [], []
    if candidate is not None:
        where.append("candidate = ?")
        args.append(candidate.strip())
    if exercise is not None:
        where.append("exercise = ?")
        args.append(exercise)
    sql = f"SELECT {', '.join(_COLUMNS)} FROM submissions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = _con(store).execute(sql + " ORDER BY submitted_at, submission_id", args).fetchall()
    return [Submission(*r) for r in rows]


def candidates(store) -> list[str]:
    """Names of the candidates with a stored submission, in alphabetical order."""
    return [r[0] for r in _con(store).execute("SELECT DISTINCT candidate FROM submissions ORDER BY 1").fetchall()]
