"""``static``: one target for everything, and its params checked like the rest of the scenario."""

from __future__ import annotations

import pytest

from workbench.errors import ScenarioError
from workbench.policies import RouteContext, build_policy, policy_names
from workbench.scenario import parse_scenario
from workbench.traffic import Request

TEXT = """name: s
fleet:
  a: {model: gpt-4o}
  b: {model: gpt-4o-mini}
router:
  policy: static
  params: {target: TARGET}
traffic: {source: t.jsonl}
"""


def test_every_request_goes_to_the_target():
    policy = build_policy(parse_scenario(TEXT.replace("TARGET", "b")))
    decisions = {policy.decide(Request(id=str(i), prompt="x"), RouteContext(0.0, 0.0, i)).target
                 for i in range(100)}
    assert decisions == {"b"}
    assert "static" in policy_names() and "weighted" in policy_names()


def test_unknown_target_names_param_and_line():
    with pytest.raises(ScenarioError) as err:
        build_policy(parse_scenario(TEXT.replace("TARGET", "c"), source="s.yaml"))
    assert (err.value.file, err.value.line, err.value.field) == ("s.yaml", 7, "router.params.target")
    assert "unknown target 'c'" in str(err.value)
