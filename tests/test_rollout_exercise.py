"""The "silent regression" exercise: a plan is scored on a regressed candidate and on a control.

The reference plan meets every target; the starting plan (promote on schedule) never rolls back and
fails. Figures are the panel table's in brief.md (simulated, seeds 11-13, control seeds 101-110).
"""

from __future__ import annotations

import pytest
from conftest import SCENARIOS

from workbench.errors import InputError
from workbench.exercises import list_exercises
from workbench.rollout.exercise import format_plan_result, load_rollout_rubric, score_plan

EX = SCENARIOS / "exercises" / "silent-regression"


def test_the_solution_meets_and_the_start_fails():
    good = score_plan(EX, EX / "solution.yaml")
    assert good["level"] == "meets" and good["false_alarms"] == 0
    measured = {c["metric"]: c["measured"] for c in good["criteria"]}
    assert measured["rolled_back"] == 1 and measured["exposed_requests"] == 806
    assert measured["detection_delay_s"] == pytest.approx(6854.6, abs=0.1)
    start = score_plan(EX, EX / "start.yaml")
    assert start["level"] == "fails"
    by = {c["metric"]: c for c in start["criteria"]}
    assert by["rolled_back"]["measured"] == 0 and by["detection_delay_s"]["measured"] is None
    assert by["exposed_requests"]["measured"] == 13611 and by["false_alarms"]["passed"]
    assert "measured never (no rollback)" in format_plan_result(start)


def test_a_trigger_happy_plan_raises_false_alarms(tmp_path):
    plan = tmp_path / "plan.yaml"
    # one quality guardrail at alpha 0.9, a wide mixture (tau 0.5), looked at every request from 2 samples on
    plan.write_text("stages:\n  - {share: 0.05, min_requests: 1000}\n  - {share: 0.5, min_requests: 1000}\n"
                    "  - {share: 1.0}\nguardrails:\n  - {metric: quality, tau: 0.5}\nalpha: 0.9\nlook_every: 1\n"
                    "min_samples: 2\n")
    scored = score_plan(EX, plan)
    alarms = next(c for c in scored["criteria"] if c["metric"] == "false_alarms")
    assert scored["false_alarms"] == 3 and not alarms["passed"] and scored["level"] == "fails"


def test_rollout_exercises_stay_out_of_the_design_exercises():
    assert "silent-regression" not in [e.name for e in list_exercises()]
    rubric = load_rollout_rubric(EX / "rubric.yaml")
    assert rubric.kind == "rollout" and len(rubric.seeds) == 3 and len(rubric.control.seeds) == 10


def test_a_bad_rollout_rubric_names_file_line_and_field(tmp_path):
    bad = tmp_path / "rubric.yaml"
    bad.write_text((EX / "rubric.yaml").read_text().replace("metric: exposed_requests", "metric: exposed"))
    with pytest.raises(InputError) as exc:
        load_rollout_rubric(bad)
    assert exc.value.line == 14 and exc.value.field == "criteria[2].metric"
