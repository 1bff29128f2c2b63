"""``weighted``: shares follow the weights, and the draw is fixed per request under the seed."""

from __future__ import annotations

import pytest

from workbench.errors import ScenarioError
from workbench.policies import RouteContext, build_policy
from workbench.scenario import parse_scenario
from workbench.seeds import request_key
from workbench.traffic import Request

TEXT = """name: w
fleet:
  a: {model: gpt-4o}
  b: {model: gpt-4o-mini}
router:
  policy: weighted
  params:
    weights: WEIGHTS
traffic: {source: t.jsonl}
"""


def decide_all(weights: str, n: int = 20_000, seed: int = 3) -> list[str]:
    policy = build_policy(parse_scenario(TEXT.replace("WEIGHTS", weights)))
    return [policy.decide(Request(id=f"r{i}", prompt="x"), RouteContext(0.0, 0.0, request_key(seed, f"r{i}"))).target
            for i in range(n)]


def test_shares_follow_weights():
    got = decide_all("{a: 1, b: 3}")
    assert got.count("a") / len(got) == pytest.approx(0.25, abs=0.01)


def test_same_seed_same_routes_and_nested_shares_agree():
    assert decide_all("{a: 1, b: 3}", 2000) == decide_all("{a: 1, b: 3}", 2000)
    assert decide_all("{a: 1, b: 3}", 2000) != decide_all("{a: 1, b: 3}", 2000, seed=4)
    # common random numbers: every request sent to 'a' at 25% also goes to 'a' at 50%
    quarter, half = decide_all("{a: 1, b: 3}", 2000), decide_all("{a: 1, b: 1}", 2000)
    assert all(h == "a" for q, h in zip(quarter, half) if q == "a")


def test_decision_says_why():
    policy = build_policy(parse_scenario(TEXT.replace("WEIGHTS", "{a: 1, b: 1}")))
    d = policy.decide(Request(id="r", prompt="x"), RouteContext(0.0, 0.0, request_key(1, "r")))
    assert d.reason.startswith("weighted draw ") and 0 <= d.score < 1 and "share 0.50" in d.reason


@pytest.mark.parametrize("weights,field", [("{a: 1, zz: 1}", "router.params.weights.zz"),
                                           ("{a: 0}", "router.params.weights.a"),
                                           ("{}", "router.params.weights")])
def test_bad_weights_name_the_field(weights, field):
    with pytest.raises(ScenarioError) as err:
        build_policy(parse_scenario(TEXT.replace("WEIGHTS", weights), source="w.yaml"))
    assert err.value.field == field and err.value.line == 8
