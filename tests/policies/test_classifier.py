"""``classifier``: a fleet model labels each request; its call is a paid attempt and the label routes."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS
from helpers import run, table

from workbench.errors import ScenarioError
from workbench.policies import RouteContext, build_policy
from workbench.scenario import parse_scenario
from workbench.traffic import Request

TRAFFIC = SCENARIOS / "traffic" / "support_tickets.jsonl"
TEXT = f"""name: c
seed: 3
fleet:
  router: {{model: gpt-4o-mini, sim: {{error_rates: {{}}}}}}
  small: {{model: gpt-4o-mini, sim: {{error_rates: {{}}}}}}
  large: {{model: gpt-4o, sim: {{error_rates: {{}}}}}}
router:
  policy: classifier
  params:
    model: router
    routes: {{simple: small, complex: large}}
    default: large
    truth: {{by: difficulty, threshold: 0.5, low: simple, high: complex}}
graders: [{{type: exact}}]
traffic: {{source: {TRAFFIC}, arrival: {{process: poisson, rate_per_s: 2}}}}
"""


def policy(text: str = TEXT):
    return build_policy(parse_scenario(text, source="c.yaml"))


def test_answer_to_route():
    p = policy()
    req = Request(id="a", prompt="hi", difficulty=0.9)
    ctx = RouteContext(0.0, 0.0, 1)
    d = p.decide(req, ctx)
    assert d.target is None and d.consult.model == "router"
    assert d.consult.request.expected == "complex" and d.consult.request.metadata["choices"] == ["simple", "complex"]
    assert "hi" in d.consult.request.prompt and "simple, complex" in d.consult.request.prompt
    assert p.after_consult(req, ctx, "Label: COMPLEX.").target == "large"
    assert p.after_consult(req, ctx, "simple").target == "small"
    assert p.after_consult(req, ctx, "no idea").target == "large"
    assert p.after_consult(req, ctx, None).reason == "classifier router failed: default"


def test_router_cost_is_in_the_run_and_labels_follow_the_router_quality(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(TEXT)
    rid, s = run(path, tmp_path / "t.duckdb")
    req, att = table(tmp_path / "t.duckdb", "requests", rid), table(tmp_path / "t.duckdb", "attempts", rid)
    routing = att[att.purpose == "route"]
    assert len(routing) >= len(req) == 370 and (routing.target == "router").all()
    assert routing.cost_usd.sum() > 0.01
    assert s["cost_usd"] == pytest.approx(att.cost_usd.sum()) == pytest.approx(req.cost_usd.sum())
    assert s["by_model"]["router"]["cost_usd"] == pytest.approx(routing.cost_usd.sum())
    assert s["by_model"]["router"]["answered"] == 0
    assert s["routing_cost_usd"] == pytest.approx(routing.cost_usd.sum())
    # the simulated router (gpt-4o-mini: 0.93 easy .. 0.346 hard) labels most requests right
    truth = (req.difficulty > 0.5).map({True: "large", False: "small"})
    agreement = (req.route == truth).mean()
    assert 0.7 < agreement < 0.95
    assert req.reason.str.startswith("classifier router said").mean() > 0.99


def test_router_outage_sends_everything_to_default(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(TEXT.replace("router: {model: gpt-4o-mini, sim: {error_rates: {}}}",
                                 "router: {model: gpt-4o-mini, sim: {error_rates: {server_error: 1.0}}}"))
    rid, s = run(path, tmp_path / "t.duckdb", requests=50)
    req = table(tmp_path / "t.duckdb", "requests", rid)
    assert (req.route == "large").all() and s["failed"] == 0
    assert (req.reason == "classifier router failed: default").all()


@pytest.mark.parametrize("old,new,field", [
    ("model: router", "model: nobody", "router.params.model"),
    ("default: large", "default: nowhere", "router.params.default"),
    ("low: simple", "low: easy", "router.params.truth"),
])
def test_bad_params_name_the_field(old, new, field):
    with pytest.raises(ScenarioError) as err:
        policy(TEXT.replace(old, new))
    assert err.value.field == field and err.value.line is not None
