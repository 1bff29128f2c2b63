"""``explain``: the replay's decision for one request, and the fallback chain in the replay's order."""

from __future__ import annotations

import json

from conftest import SCENARIOS
from helpers import run, table, wb

from workbench.explain import explain, fallback_chain
from workbench.scenario import load_scenario, parse_scenario

TIERED = SCENARIOS / "support-tiered.yaml"


def test_matches_the_replay_decision_for_a_traffic_request(tmp_path):
    rid, _ = run(TIERED, tmp_path / "t.duckdb", requests=60)
    req = table(tmp_path / "t.duckdb", "requests", rid)
    scn = load_scenario(TIERED)
    for row in req.itertuples():
        out = explain(scn, "any text", request_id=row.request_id)
        assert (out["target"], out["reason"]) == (row.route, row.reason)


def test_fallback_chain_appends_each_targets_rules_once():
    scn = parse_scenario("""name: c
fleet: {a: {model: gpt-4o}, b: {model: gpt-4o-mini}, c: {model: gpt-4.1-mini}}
humans: {desk: {agents: 1, handling_time_s: 60, cost_per_request_usd: 1}}
router: {policy: static, params: {target: a}}
fallbacks:
  a: [{to: b, errors: [server_error]}, {to: c}]
  b: [{to: a}, {to: desk, errors: [timeout]}]
  c: [{to: desk}]
traffic: {source: t.jsonl}
""")
    chain = fallback_chain(scn, "a")
    assert [(f["after"], f["to"]) for f in chain] == [("a", "b"), ("a", "c"), ("b", "desk")]
    assert chain[0]["errors"] == ["server_error"] and chain[1]["errors"] == "any"
    assert chain[2]["kind"] == "human"
    assert fallback_chain(scn, "desk") == []


def test_cli_explain_and_policies(tmp_path):
    res = wb("explain", str(TIERED), "I was charged twice", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["target"] in {"small", "large"} and out["reason"].startswith("weighted draw")
    assert not (tmp_path / "workbench.duckdb").exists()  # explaining writes nothing
    text = wb("explain", str(TIERED), "x", "--id", "T0001", cwd=tmp_path)
    assert text.returncode == 0 and "fallback 1: if" in text.stdout
    listing = wb("policies", "--json", cwd=tmp_path)
    names = {p["name"]: p for p in json.loads(listing.stdout)}
    assert {"static", "weighted"} <= names.keys()
    assert "weights" in names["weighted"]["params"]["properties"]
