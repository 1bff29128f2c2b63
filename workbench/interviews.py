"""Scoring a candidate's submission for an interview panel, and keeping it.

Why a layer over :func:`workbench.exercises.score_submission`: a panel scores the same candidate
several times and compares; so the submission is parsed with a file name that says whose design it
is (a parse error then reads ``ada-cost-overrun.yaml:4, field 'fleet': ...``, not ``<scenario>:4``),
the scored runs go to the panel's own trace store (the run opens in Audit like any other), and the
submission is recorded with its result (:mod:`workbench.store.submissions`). The app calls this; it
never touches SQL.
"""

from __future__ import annotations

import re
from pathlib import Path

from workbench.errors import InputError
from workbench.exercises import ExerciseResult, score_submission
from workbench.scenario import parse_scenario
from workbench.store import TraceStore
from workbench.store.submissions import Submission, add_submission, list_submissions

__all__ = ["submission_source", "score_for_candidate", "history"]


def submission_source(candidate: str, exercise: str) -> Path:
    """The file name errors in a candidate's submission are reported against (nothing is written there)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", candidate.strip()).strip("-").lower() or "candidate"
    return Path(f"{slug}-{exercise}.yaml")


def score_for_candidate(exercise: str, design_yaml: str, candidate: str, db: str | Path, *,
                        root: str | Path | None = None, elapsed_s: float | None = None,
                        seeds: list[int] | None = None) -> tuple[ExerciseResult, Submission]:
    """Score ``design_yaml`` on ``exercise`` for ``candidate``, the runs into ``db``; record the submission.

    An empty name or a design that does not parse raises :class:`InputError` before anything is written.
    """
    if not candidate.strip():
        raise InputError("type the candidate's name first", field="candidate")
    scn = parse_scenario(design_yaml, source=submission_source(candidate, exercise))
    result = score_submission(exercise, scn, db=db, root=root, seeds=seeds)
    with TraceStore(db) as store:
        row = add_submission(store, candidate=candidate, exercise=exercise, design_yaml=design_yaml,
                             result=result.to_dict(), elapsed_s=elapsed_s)
    return result, row


def history(db: str | Path, candidate: str, exercise: str | None = None) -> list[Submission]:
    """``candidate``'s stored submissions (on ``exercise`` when given), oldest first."""
    with TraceStore(db) as store:
        return list_submissions(store, candidate=candidate, exercise=exercise)
