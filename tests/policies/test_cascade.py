"""``cascade``: cheapest first, escalate on a failed check; both calls paid."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS
from helpers import run, table

from workbench.errors import ScenarioError
from workbench.policies import RouteContext, build_policy
from workbench.scenario import parse_scenario

TRAFFIC = SCENARIOS / "traffic" / "support_tickets.jsonl"
FLEET = """fleet:
  small: {model: gpt-4o-mini, sim: {error_rates: {}}}
  large: {model: gpt-4o, sim: {error_rates: {}}}
graders: [{type: exact}]
"""
TAIL = f"traffic: {{source: {TRAFFIC}, arrival: {{process: poisson, rate_per_s: 2}}}}\n"
CASCADE = "name: k\nseed: 4\n" + FLEET + "router: {policy: cascade, params: {chain: [small, large], min_score: 1}}\n" + TAIL


def static(target: str) -> str:
    return f"name: {target}\nseed: 4\n" + FLEET + f"router: {{policy: static, params: {{target: {target}}}}}\n" + TAIL


def test_checks():
    scn = parse_scenario(FLEET.join(["name: k\n", "router: {policy: cascade, params: {chain: [small, large], "
                                     "refusal: '(?i)cannot', format: '^[a-z_]+$'}}\ntraffic: {source: t}\n"]))
    p, ctx = build_policy(scn), RouteContext(0, 0, 1)
    assert p.decide(None, ctx).target == "small"
    assert p.review(None, ctx, "small", "refund_issued", None) is None
    assert p.review(None, ctx, "small", "I cannot do that", None) == ("large", "answer is a refusal")
    assert p.review(None, ctx, "small", "Refund issued!", None) == ("large", "answer is not in the required format")
    assert p.review(None, ctx, "large", "I cannot", None) is None  # the last model's answer stands


def test_escalation_pays_twice_and_lifts_quality(tmp_path):
    results = {}
    for name, text in (("small", static("small")), ("large", static("large")), ("cascade", CASCADE)):
        (tmp_path / f"{name}.yaml").write_text(text)
        results[name] = run(tmp_path / f"{name}.yaml", tmp_path / "t.duckdb")
    rid, s = results["cascade"]
    req, att = table(tmp_path / "t.duckdb", "requests", rid), table(tmp_path / "t.duckdb", "attempts", rid)
    escalated = req[req.escalations > 0]
    # exactly the requests the small model got wrong were escalated, each with two paid calls
    first = att[att.purpose == "answer"].set_index("request_id")
    assert set(escalated.request_id) == set(first.index[first.score < 1])
    assert (att[att.purpose == "escalation"].groupby("request_id").size() == 1).all()
    assert (escalated.final_target == "large").all() and escalated.reason.str.contains("escalated to large").all()
    assert s["cost_usd"] == pytest.approx(att.cost_usd.sum())
    escalation_cost = att[att.purpose == "escalation"].cost_usd.sum()
    assert escalation_cost > 0 and s["escalation_cost_usd"] == pytest.approx(escalation_cost)
    assert s["escalation_rate"] == pytest.approx(len(escalated) / len(req))
    small, large = results["small"][1], results["large"][1]
    assert small["cost_usd"] < s["cost_usd"] < large["cost_usd"]
    # with a perfect check the cascade is right whenever either model is
    assert s["quality"] > large["quality"] > small["quality"]


def test_min_score_needs_graders_and_a_check_is_required():
    no_graders = CASCADE.replace("graders: [{type: exact}]\n", "")
    with pytest.raises(ScenarioError) as err:
        build_policy(parse_scenario(no_graders, source="k.yaml"))
    assert err.value.field == "router.params.min_score"
    with pytest.raises(ScenarioError, match="needs a check"):
        build_policy(parse_scenario(CASCADE.replace(", min_score: 1", ""), source="k.yaml"))
