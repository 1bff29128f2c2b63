"""``explain``: the replay's decision for one request, and the fallback chain in the replay's order."""

from __future__ import annotations

import json

import pytest

from conftest import SCENARIOS
from helpers import run, table, wb

from workbench.errors import InputError
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
    assert chain[0]["errors"] == ["server_error"] and chain[1]["errors"] == "any but configuration errors"
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


def test_a_calibrated_threshold_is_calibrated_on_the_replayed_traffic_first(scenario_file):
    # a bug: explain called decide() on a threshold policy that had never been fitted (a traceback)
    path = scenario_file("""name: cut
fleet: {big: {model: gpt-4o}, small: {model: gpt-4o-mini}}
router:
  policy: threshold
  params: {strong: big, weak: small, strong_share: 0.5, scorer: {type: length}}
traffic: {source: traffic.jsonl}
""", n=40)
    from workbench.runner import prepare

    cut = prepare(path).policy._cut  # the cut a run uses
    out = explain(load_scenario(path), "x" * 10_000)
    assert out["target"] == "big" and f"> {cut:.6g}" in out["reason"] and "calibrated to 50%" in out["reason"]
    assert explain(load_scenario(path), "x")["target"] == "small"


def test_a_learned_scorer_explains_traffic_requests_and_says_why_not_free_text(routellm_env):
    scn = load_scenario(SCENARIOS / "gsm8k-threshold.yaml")
    out = explain(scn, "ignored", request_id="gsm8k-0003")
    assert out["target"] in ("strong", "weak") and "learned P(" in out["reason"]
    with pytest.raises(InputError, match="scores the replayed requests only"):
        explain(scn, "What is 2 + 2?")


def test_cli_explain_names_what_a_fallback_without_errors_takes(tmp_path):
    """A fallback rule without ``errors`` takes any kind but the configuration errors: the text says so
    (it printed the word 'any' letter by letter once the chain said more than 'any')."""
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nfleet: {a: {model: gpt-4o}, b: {model: gpt-4o-mini}}\n"
                    "router: {policy: static, params: {target: a}}\nfallbacks: {a: [{to: b}]}\n"
                    "traffic: {source: t.jsonl}\n")
    res = wb("explain", str(path), "hello", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "fallback 1: if a fails (any but configuration errors) -> b [model]" in res.stdout
