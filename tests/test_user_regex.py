"""Every regex a user writes (a rule's ``regex``, a cascade's ``refusal`` and ``format``, the ``regex``
grader's ``pattern``) runs on RE2, in time linear in the text: ``(a+)+$`` on a 26-character prompt took
Python's backtracking engine about 5 s a call (and doubles with each character); patterns RE2 cannot
run in linear time are one error naming the scenario's file, line and field."""

from __future__ import annotations

import time

import pytest

from workbench.errors import ScenarioError
from workbench.graders import build_graders
from workbench.policies import RouteContext, build_policy
from workbench.registry import check_regex, compile_regex
from workbench.scenario import parse_scenario
from workbench.traffic import Request

EVIL = "(a+)+$"
#: Python's re needs about 2**27 steps to fail on it; RE2 a few dozen.
TEXT = "a" * 26 + "!"

SCENARIO = """name: r
fleet:
  small: {model: gpt-4o-mini}
  large: {model: gpt-4o}
router:
  policy: PARAMS
traffic: {source: t.jsonl}
graders:
  - {type: regex, params: {pattern: 'GRADER'}}
"""
RULES = "rules\n  params:\n    default: small\n    rules:\n      - {to: large, regex: 'RULE'}"
CASCADE = "cascade\n  params: {chain: [small, large], refusal: 'REFUSAL', format: 'FORMAT'}"


def scenario(router: str, **patterns: str):
    text = SCENARIO.replace("PARAMS", router)
    for key, value in {"RULE": "x", "REFUSAL": "x", "FORMAT": "x", "GRADER": "x", **patterns}.items():
        text = text.replace(key, value)
    return parse_scenario(text, source="s.yaml")


def test_pathological_patterns_run_in_linear_time():
    rules = build_policy(scenario(RULES, RULE=EVIL, GRADER=EVIL))
    cascade = build_policy(scenario(CASCADE, REFUSAL=EVIL, FORMAT=EVIL))
    (grader,) = build_graders(scenario(RULES, GRADER=EVIL))
    ctx, req = RouteContext(0.0, 0.0, 1), Request(id="r", prompt=TEXT)
    started = time.perf_counter()
    assert rules.decide(req, ctx).target == "small"
    assert cascade.review(req, ctx, "small", TEXT, None) == ("large", "answer is not in the required format")
    assert grader.score(req, TEXT, None) == 0.0
    long = "a" * 200_000 + "!"  # linear: a long text costs microseconds per character, not forever
    assert compile_regex(EVIL).search(long) is None and compile_regex(EVIL).search("a" * 9) is not None
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("router, patterns, line, field", [
    (RULES, {"RULE": "(?<!un)happy"}, 10, "router.params.rules[0].regex"),
    (CASCADE, {"REFUSAL": "(can)not \\1"}, 7, "router.params.refusal"),
    (CASCADE, {"FORMAT": "^(?=.*ok)"}, 7, "router.params.format"),
], ids=["lookbehind", "backreference", "lookahead"])
def test_patterns_re2_cannot_run_are_one_error_naming_the_field(router, patterns, line, field):
    with pytest.raises(ScenarioError) as info:
        build_policy(scenario(router, **patterns))
    err = info.value
    assert (err.file, err.line, err.field) == ("s.yaml", line, field)
    assert "regex not supported by RE2, the linear-time engine user patterns run on" in err.reason
    assert "lookarounds and backreferences cannot be used" in err.reason


def test_grader_pattern_re2_cannot_run_names_the_grader(capfd):
    with pytest.raises(ScenarioError) as info:
        build_graders(scenario(RULES, GRADER="(?P<x>a)(?P=x)"))
    assert (info.value.field, info.value.line) == ("graders[0].params.pattern", 13)
    assert capfd.readouterr().err == ""  # RE2's own log line is silenced: one error, ours
    with pytest.raises(ValueError, match="invalid regex: missing \\)"):  # Python's syntax messages are kept
        check_regex("(a")

