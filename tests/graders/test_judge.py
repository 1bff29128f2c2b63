"""``llm_judge``'s own parts: the judge request it builds, the verdict it reads, its params and model."""

from __future__ import annotations

import pytest

from workbench.errors import ScenarioError
from workbench.graders.base import grade_all
from workbench.graders.judge import DEFAULT_CRITERIA
from workbench.traffic import Request

REQ = Request(id="t42", prompt="What is 17 * 3?", category="math", difficulty=0.7, expected="51",
              metadata={"source": "quiz"})


def test_judge_request_carries_question_answer_criteria_and_the_right_verdict(make_graders):
    (judge,) = make_graders("- {type: llm_judge, params: {model: judge, criteria: 'The number must be exact.'}}")
    jr = judge.judge_request(REQ, "It is 51.", 1.0)
    assert (jr.id, jr.category, jr.difficulty, jr.expected) == ("t42#judge", "math", 0.7, "PASS")
    assert jr.metadata == {"choices": ["PASS", "FAIL"]}
    for part in ["Criteria: The number must be exact.", "Question:\nWhat is 17 * 3?", "Answer:\nIt is 51.",
                 "Reply with one word: PASS if it does, FAIL if it does not."]:
        assert part in jr.prompt
    assert judge.judge_request(REQ, "It is 54.", 0.0).expected == "FAIL"
    assert judge.judge_request(REQ, "Maybe 51", 0.5).expected == "PASS"
    assert judge.judge_request(REQ, "Maybe 51", 0.49).expected == "FAIL"
    assert judge.judge_request(REQ, "It is 51.", None).expected is None
    assert "Answer:\n(no answer)" in judge.judge_request(REQ, None, None).prompt
    assert REQ.id == "t42" and REQ.metadata == {"source": "quiz"}  # the judged request is left alone


@pytest.mark.parametrize("reply, verdict", [
    ("PASS", 1.0), ("FAIL", 0.0), ("FAIL.", 0.0), ("Verdict: **PASS**", 1.0),
    ("It is not a FAIL; on reflection: PASS", 1.0),      # the last one wins
    ("PASS at first sight, but the unit is wrong. FAIL", 0.0),
    ("FAIL: the answer does not pass the criteria", 0.0),  # the words as written come first
    ("Pass.", 1.0), ("fail", 0.0),                          # then any case
    ("PASSED", None), ("The answer is fine.", None), ("", None), (None, None),
])
def test_parse(make_graders, reply, verdict):
    (judge,) = make_graders("- {type: llm_judge, params: {model: judge}}")
    assert judge.parse(reply) == verdict


def test_own_verdict_words(make_graders):
    (judge,) = make_graders("- {type: llm_judge, params: {model: judge, pass_word: 'YES', fail_word: 'NO'}}")
    jr = judge.judge_request(REQ, "51", 0.0)
    assert jr.expected == "NO" and jr.metadata["choices"] == ["YES", "NO"] and "YES if it does" in jr.prompt
    assert [judge.parse(t) for t in ["YES", "NO, it is wrong", "PASS", "not NOW"]] == [1.0, 0.0, None, None]
    assert judge.params.criteria == DEFAULT_CRITERIA


def test_the_engine_scores_judges(make_graders):
    exact, judge = make_graders("- type: exact\n- {type: llm_judge, params: {model: judge}}")
    assert judge.needs_call and not exact.needs_call
    assert judge.score(REQ, "51", 1.0) is None
    assert grade_all([exact, judge], REQ, "51", 1.0) == (1.0, {"exact": 1.0})


@pytest.mark.parametrize("params, field, message", [
    ("{model: gpt-5}", "model", "'gpt-5' is not a fleet model (fleet: small, judge)"),
    ("{}", "model", "Field required"),
    ("{model: judge, pass_word: OK, fail_word: ok}", "fail_word", "fail_word must differ from pass_word ('OK')"),
    ("{model: judge, pass_word: 'LOOKS GOOD'}", "pass_word", "should match pattern"),
    ("{model: judge, criteria: ''}", "criteria", "at least 1 character"),
])
def test_bad_params_name_the_field_and_line(make_graders, params, field, message):
    with pytest.raises(ScenarioError) as info:
        make_graders(f"- type: exact\n- type: llm_judge\n  params: {params}\n")
    assert info.value.field == f"graders[1].params.{field}" and info.value.line == 10, str(info.value)
    assert message in str(info.value), str(info.value)
