"""Rollout exercises: the candidate writes a rollout plan; the rubric replays it on a regressed candidate
and on a control, and scores detection delay, requests exposed, rollback and false alarms.

Why a rubric of its own (``kind: rollout`` in ``rubric.yaml``) and not the design rubric of
:mod:`workbench.rubric`: the submission is a plan, not a design, and what matters is measured on
rollouts, not on one run's summary. The design exercises' machinery (:mod:`workbench.exercises`) leaves
these folders out; ``workbench exercise score`` sends a rollout exercise here.

Measured per held-out seed on the regressed candidate (a criterion holds only on every seed; the worst
value is shown): ``rolled_back`` (1 or 0), ``detection_delay_s`` (virtual seconds from the regression's
start, which the rubric states, to the rollback; infinite without one), ``detection_delay_requests``
(arrivals in that span), ``exposed_requests`` (requests the candidate served from the regression's
start). On the control (a candidate identical to the baseline) over the control seeds:
``false_alarms``, the number of rollouts rolled back. The submission's own ``regression_start_s`` is
replaced by the rubric's: a plan cannot claim when the regression began.
"""

from __future__ import annotations

import math
import operator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workbench.errors import InputError
from workbench.rollout.plan import load_plan
from workbench.rollout.run import prepare_rollout, run_rollout
from workbench.yamlio import field_error, read_text, read_yaml

__all__ = ["RolloutRubric", "is_rollout_exercise", "load_rollout_rubric", "score_plan", "format_plan_result"]

_OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}
SeedList = Annotated[list[int], Field(min_length=3)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Control(_Strict):
    """The control: the baseline against itself, on these seeds."""

    seeds: SeedList
    requests: Annotated[int, Field(ge=1)]


class PlanCriterion(_Strict):
    """A measured target."""

    metric: Literal["rolled_back", "detection_delay_s", "detection_delay_requests", "exposed_requests",
                    "false_alarms"]
    comparison: Literal["<=", ">=", "=="]
    target: float
    name: str | None = None
    points: Annotated[int, Field(ge=1)] = 1


class RolloutRubric(_Strict):
    """A rollout exercise's rubric (``kind: rollout``)."""

    kind: Literal["rollout"]
    title: Annotated[str, Field(min_length=1)]
    baseline: str
    candidate: str
    regression_start_s: Annotated[float, Field(ge=0)] = 0.0
    seeds: SeedList
    requests: Annotated[int, Field(ge=1)] | None = None
    control: Control
    criteria: Annotated[list[PlanCriterion], Field(min_length=1)]


def is_rollout_exercise(directory: str | Path) -> bool:
    """True when ``directory/rubric.yaml`` is a rollout rubric (``kind: rollout``)."""
    try:
        text = (Path(directory) / "rubric.yaml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return any(line.strip() == "kind: rollout" for line in text.splitlines())


def load_rollout_rubric(path: str | Path) -> RolloutRubric:
    """Read and validate a rollout rubric; one :class:`InputError` naming the file, line and field."""
    p = Path(path)
    data, lines = read_yaml(read_text(p, "rubric", InputError), str(p), InputError)
    try:
        return RolloutRubric.model_validate(data)
    except ValidationError as exc:
        raise field_error(exc, str(p), lines, InputError, unknown="unknown field") from None


def score_plan(directory: str | Path, submission: str | Path) -> dict[str, Any]:
    """Replay the submitted plan on the exercise's seeds and control; every criterion with its worst value."""
    d = Path(directory)
    rubric = load_rollout_rubric(d / "rubric.yaml")
    plan = load_plan(submission).model_copy(update={"regression_start_s": rubric.regression_start_s})
    base, cand = d / rubric.baseline, d / rubric.candidate
    preps = [prepare_rollout(base, cand, plan, seed=s, requests=rubric.requests) for s in rubric.seeds]
    per_seed: dict[int, dict[str, float | None]] = {}
    for seed, prep in zip(rubric.seeds, preps, strict=True):
        r = run_rollout(prep)
        start = rubric.regression_start_s
        delay = (r.rolled_back_at_s - start) if r.rolled_back_at_s is not None else math.inf
        arrivals = prep.baseline.arrivals
        end = r.rolled_back_at_s if r.rolled_back_at_s is not None else math.inf
        per_seed[seed] = {"rolled_back": int(r.rolled_back), "detection_delay_s": None if math.isinf(delay) else delay,
                          "detection_delay_requests": sum(1 for t in arrivals if start <= t < end),
                          "exposed_requests": r.exposed_requests}
    alarms = sum(run_rollout(prepare_rollout(base, base, plan, seed=s, requests=rubric.control.requests)).rolled_back
                 for s in rubric.control.seeds)
    results = []
    for c in rubric.criteria:
        if c.metric == "false_alarms":
            worst: float = alarms
        else:
            values = [_or_inf(v[c.metric]) for v in per_seed.values()]
            worst = max(values) if c.comparison == "<=" else min(values)
        results.append({"name": c.name or c.metric, "metric": c.metric, "comparison": c.comparison,
                        "target": c.target, "measured": None if math.isinf(worst) else worst, "points": c.points,
                        "passed": bool(_OPS[c.comparison](worst, c.target))})
    return {"exercise": d.name, "submission": str(submission), "per_seed": per_seed, "false_alarms": alarms,
            "control_runs": len(rubric.control.seeds), "criteria": results,
            "points": sum(c["points"] for c in results if c["passed"]),
            "level": "meets" if all(c["passed"] for c in results) else "fails"}


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else float(value)


def format_plan_result(result: dict[str, Any]) -> str:
    """The score as text: one line per criterion, then the level (figures are simulated)."""
    lines = [f"{result['exercise']}: {result['submission']} (simulated)"]
    for c in result["criteria"]:
        measured = "never (no rollback)" if c["measured"] is None else f"{c['measured']:,.6g}"
        lines.append(f"  {'PASS' if c['passed'] else 'FAIL'} {c['name']}: measured {measured} (worst seed), "
                     f"target {c['comparison']} {c['target']:,g}")
    lines.append(f"level: {result['level']} ({result['false_alarms']} false alarm(s) in {result['control_runs']} "
                 "control rollouts)")
    return "\n".join(lines)
