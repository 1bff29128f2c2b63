"""An LLM judge in a replay: a paid, timed call per answer, its verdict stored beside the others."""

from __future__ import annotations

import json

import pytest
from helpers import run, table

JUDGED = """name: judged
seed: 5
fleet:
  small: {model: gpt-4o-mini, sim: {error_rates: {}}}
  judge: {model: gpt-4o, sim: JUDGE_SIM}
router: {policy: static, params: {target: small}}
graders:
  - type: exact
  - type: llm_judge
    params: {model: judge}
traffic: {source: traffic.jsonl, arrival: {process: poisson, rate_per_s: 5}}
"""


def judged(scenario_file, judge_sim: str) -> object:
    return scenario_file(JUDGED.replace("JUDGE_SIM", judge_sim), n=120, name="judged.yaml", difficulty=0.6)


def test_a_perfect_judge_agrees_with_exact_and_is_paid_for(scenario_file, db):
    path = judged(scenario_file, "{error_rates: {}, quality_easy: 1.0, quality_hard: 1.0}")
    rid, s = run(path, db)
    req = table(db, "requests", rid)
    att = table(db, "attempts", rid)
    judge = att[att.purpose == "judge"]
    assert len(judge) == 120 and (judge.target == "judge").all() and (judge.cost_usd > 0).all()
    assert s["judging_cost_usd"] == pytest.approx(judge.cost_usd.sum())
    assert s["cost_usd"] == pytest.approx(att.cost_usd.sum())
    verdicts = [json.loads(v) for v in req.verdicts]
    assert all(v["llm_judge"] == v["exact"] for v in verdicts)  # right on every answer
    wrong = sum(v["exact"] == 0.0 for v in verdicts)
    assert 10 < wrong < 110  # the small model is wrong on some answers, so agreement is not trivial
    assert req.quality.tolist() == [v["exact"] for v in verdicts]
    # the judge sees the answer after it is given: its call starts when the answer ends
    answer = att[att.purpose == "answer"].set_index("request_id")
    assert (judge.set_index("request_id").start_s >= answer.end_s - 1e-9).all()


def test_a_judge_that_cannot_answer_leaves_quality_to_the_other_graders(scenario_file, db):
    path = judged(scenario_file, "{outages: [{start_s: 0, end_s: 100000}]}")
    rid, s = run(path, db)
    req = table(db, "requests", rid)
    verdicts = [json.loads(v) for v in req.verdicts]
    assert all(v["llm_judge"] is None for v in verdicts)
    assert req.quality.tolist() == [v["exact"] for v in verdicts]
    assert s["failed"] == 0 and s["completed"] == 120  # a failed judge does not fail the request


def test_a_judge_must_be_a_fleet_model(scenario_file):
    from workbench.errors import ScenarioError
    from workbench.runner import prepare

    path = scenario_file(JUDGED.replace("JUDGE_SIM", "{}").replace("{model: judge}", "{model: gpt-5}"), n=5)
    with pytest.raises(ScenarioError) as err:
        prepare(path)
    assert "s.yaml:10, field 'graders[1].params.model'" in str(err.value)
