"""Tool and data steps (retrieval, tool, lookup) around a route's model call: exact numbers under a seed."""

from __future__ import annotations

import re

import litellm
import pandas as pd
import pytest
from conftest import SCENARIOS
from helpers import run, table, wb

from workbench.app.diagram import wiring_svg
from workbench.errors import ScenarioError
from workbench.explain import explain
from workbench.replay import replay
from workbench.runner import prepare
from workbench.scenario import load_scenario, parse_scenario
from workbench.steps import route_steps
from workbench.yamlio import read_yaml

QUIET = "sim: {error_rates: {}, latency_sigma: 0, ttft_s: 1.0, tokens_per_s: 100}"
BASE = f"""
name: steps
seed: 7
concurrency: 16
fleet:
  large: {{model: gpt-4o, {QUIET}}}
router: {{policy: static, params: {{target: large}}}}
retries: {{max_retries: 2, backoff_s: 0.5, multiplier: 2.0, jitter: 0}}
graders: [{{type: exact}}]
traffic: {{source: traffic.jsonl, arrival: {{process: poisson, rate_per_s: 0.05}}}}
"""
HUMANS = "humans:\n  tier2: {agents: 4, handling_time_s: 60, cost_per_request_usd: 3.5}\n"
# Fixed latencies (p50 = p95): every time below is exact.
STEPS = """steps:
  kb: {kind: retrieval, latency: {p50_s: 0.25, p95_s: 0.25}, cost_per_call_usd: 0.0004, context_tokens: 900}
  crm: {kind: lookup, latency: {p50_s: 0.1, p95_s: 0.1}, cost_per_call_usd: 0.001}
  act: {kind: tool, latency: {p50_s: 0.5, p95_s: 0.5}, cost_per_call_usd: 0.002, context_tokens: 50}
"""


def with_steps(steps: str = STEPS, route: str = "{before: [kb, crm], after: [act]}", extra: str = "") -> str:
    return BASE.replace(f"large: {{model: gpt-4o, {QUIET}}}",
                        f"large: {{model: gpt-4o, {QUIET}, steps: {route}}}") + steps + extra


def _litellm_cost(prompt: int, completion: int) -> float:
    p, c = litellm.cost_per_token(model="gpt-4o", prompt_tokens=prompt, completion_tokens=completion)
    return p + c


def test_steps_delay_the_call_extend_the_request_and_are_billed(scenario_file, db):
    rid, s = run(scenario_file(with_steps(), n=20), db)
    req, att = table(db, "requests", rid), table(db, "attempts", rid)
    assert (req.status == "ok").all() and len(att) == 80
    for r in req.itertuples():
        rows = att[att.request_id == r.request_id]
        assert list(rows.purpose) == ["retrieval", "lookup", "answer", "tool"]
        assert list(rows.target) == ["kb", "crm", "large", "act"]
        kb, crm, call, act = rows.itertuples()
        assert (kb.start_s, kb.end_s) == pytest.approx((r.arrival_s, r.arrival_s + 0.25), abs=1e-9)
        assert (crm.start_s, crm.end_s) == pytest.approx((r.arrival_s + 0.25, r.arrival_s + 0.35), abs=1e-9)
        assert call.start_s == crm.end_s and act.start_s == call.end_s  # the call waits for its steps
        assert r.end_s == act.end_s == pytest.approx(call.end_s + 0.5, abs=1e-9)
        assert r.latency_s == pytest.approx(call.end_s - call.start_s + 0.85, abs=1e-9)
        assert r.final_target == "large" and r.response == call.response  # the tool does not change the answer
        assert r.cost_usd == pytest.approx(0.0034 + call.cost_usd, rel=1e-12)
    steps = att[att.purpose != "answer"]
    assert set(steps.provider) == {"simulated"} and set(steps.model) == {"kb", "crm", "act"}
    assert steps.groupby("purpose").cost_usd.sum().round(10).to_dict() == {"lookup": 0.02, "retrieval": 0.008,
                                                                          "tool": 0.04}
    # the sum identity: requests = attempts = run
    assert s["cost_usd"] == pytest.approx(req.cost_usd.sum(), rel=1e-12)
    assert s["cost_usd"] == pytest.approx(att.cost_usd.sum(), rel=1e-12)


def test_context_tokens_raise_the_model_calls_prompt_tokens_and_cost(scenario_file, tmp_path):
    plain, _ = run(scenario_file(BASE, n=20, name="plain.yaml"), tmp_path / "a.duckdb")
    stepped, _ = run(scenario_file(with_steps(), n=20, name="stepped.yaml"), tmp_path / "b.duckdb")
    p_att = table(tmp_path / "a.duckdb", "attempts", plain).set_index("request_id")
    s_att = table(tmp_path / "b.duckdb", "attempts", stepped)
    calls = s_att[s_att.purpose == "answer"].set_index("request_id")
    # 900 from kb; the after-step's 50 context tokens come after the call and add nothing
    assert (calls.prompt_tokens - p_att.prompt_tokens).tolist() == [900] * 20
    for c in calls.itertuples():
        assert c.cost_usd == pytest.approx(_litellm_cost(c.prompt_tokens, c.completion_tokens), rel=1e-12)
    req = table(tmp_path / "b.duckdb", "requests", stepped).set_index("request_id")
    assert (req.prompt_tokens == calls.prompt_tokens).all()  # steps themselves bill per call, not per token


def test_a_failed_step_is_retried_then_failed_over_then_handed_to_a_human(scenario_file, db):
    steps = """steps:
  kb: {kind: retrieval, latency: {p50_s: 0.25, p95_s: 0.25}, cost_per_call_usd: 0.0004, error_rate: 1,
       fallback: kb-backup, on_failure: "human:tier2"}
  kb-backup: {kind: retrieval, latency: {p50_s: 0.1, p95_s: 0.1}, cost_per_call_usd: 0.0001, error_rate: 1}
"""
    rid, s = run(scenario_file(with_steps(steps, "{before: [kb]}", HUMANS), n=10), db)
    req, att = table(db, "requests", rid), table(db, "attempts", rid)
    for r in req.itertuples():
        rows = att[att.request_id == r.request_id]
        assert list(rows.target) == ["kb"] * 3 + ["kb-backup"] * 3 + ["tier2"]  # no model call
        assert list(rows.is_retry) == [False, True, True, False, True, True, False]
        assert list(rows.is_fallback) == [False, False, False, True, False, False, True]
        assert list(rows.error_kind[:6]) == ["server_error"] * 6
        a = r.arrival_s  # backoff 0.5 then 1.0 (no jitter), each failure after the step's latency
        expected = [a, a + 0.75, a + 2.0, a + 2.25, a + 2.85, a + 3.95, a + 4.05]
        assert list(rows.start_s) == pytest.approx(expected, abs=1e-9)
        assert (r.status, r.final_target, r.handoff, r.retries, r.fallbacks, r.attempts) == (
            "ok", "tier2", True, 4, 2, 7)
        assert r.cost_usd == pytest.approx(3 * 0.0004 + 3 * 0.0001 + 3.5, rel=1e-12)
    assert s["cost_usd"] == pytest.approx(att.cost_usd.sum(), rel=1e-12)


def test_on_failure_fail_fails_the_request_and_skip_calls_the_model_without_context(scenario_file, tmp_path):
    failing = """steps:
  kb: {kind: retrieval, latency: {p50_s: 0.25, p95_s: 0.25}, cost_per_call_usd: 0.0004, timeout_rate: 1,
       timeout_s: 1.5, context_tokens: 900, on_failure: ONFAIL}
"""
    rid, _ = run(scenario_file(with_steps(failing.replace("ONFAIL", "fail"), "{before: [kb]}"), n=5,
                               name="fail.yaml"), tmp_path / "f.duckdb")
    req, att = table(tmp_path / "f.duckdb", "requests", rid), table(tmp_path / "f.duckdb", "attempts", rid)
    assert set(req.status) == {"failed"} and set(req.error_kind) == {"timeout"}
    assert set(att.purpose) == {"retrieval"} and len(att) == 15
    assert ((att.end_s - att.start_s).round(9) == 1.5).all()  # a timeout lasts timeout_s
    assert req.cost_usd.round(10).tolist() == [0.0012] * 5

    rid, _ = run(scenario_file(with_steps(failing.replace("ONFAIL", "skip"), "{before: [kb]}"), n=5,
                               name="skip.yaml"), tmp_path / "s.duckdb")
    plain, _ = run(scenario_file(BASE, n=5, name="plain.yaml"), tmp_path / "p.duckdb")
    req = table(tmp_path / "s.duckdb", "requests", rid)
    calls = table(tmp_path / "s.duckdb", "attempts", rid).query("purpose == 'answer'")
    base = table(tmp_path / "p.duckdb", "attempts", plain)
    assert set(req.status) == {"ok"} and req.error_kind.isna().all()
    assert calls.prompt_tokens.tolist() == base.prompt_tokens.tolist()  # no context from a skipped step


def test_a_fallback_model_runs_its_own_steps_and_keeps_its_fallback_flag(scenario_file, db):
    text = with_steps(route="{before: [kb]}").replace(
        "router: {policy: static, params: {target: large}}",
        "  small: {model: gpt-4o-mini, sim: {outages: [{start_s: 0, end_s: 100000}]}}\n"
        "router: {policy: static, params: {target: small}}\nfallbacks: {small: [{to: large}]}")
    rid, _ = run(scenario_file(text, n=5), db)
    att = table(db, "attempts", rid)
    first = att[att.request_id == "r0000"]
    assert list(first.target) == ["small"] * 3 + ["kb", "large"]
    assert list(first.is_fallback) == [False, False, False, False, True]
    prompt = [{"role": "user", "content": "Why was I charged twice in March? (#0)"}]
    assert first.prompt_tokens.iloc[4] == litellm.token_counter(model="gpt-4o", messages=prompt) + 900


def test_a_design_without_steps_is_unchanged_by_declared_but_unused_steps(scenario_file, tmp_path):
    plain, _ = run(scenario_file(BASE, n=30, name="plain.yaml"), tmp_path / "a.duckdb")
    unused = with_steps(route="{before: [], after: []}")
    other, _ = run(scenario_file(unused, n=30, name="unused.yaml"), tmp_path / "b.duckdb")
    for name in ("requests", "attempts"):
        a = table(tmp_path / "a.duckdb", name, plain).drop(columns="run_id")
        b = table(tmp_path / "b.duckdb", name, other).drop(columns="run_id")
        pd.testing.assert_frame_equal(a, b)


def test_steps_on_the_wall_clock_make_the_virtual_clocks_decisions(scenario_file):
    fast = """steps:
  kb: {kind: retrieval, latency: {p50_s: 0.01, p95_s: 0.02}, cost_per_call_usd: 0.0004, error_rate: 0.3,
       context_tokens: 100}
  act: {kind: tool, latency: {p50_s: 0.01, p95_s: 0.01}, cost_per_call_usd: 0.002}
"""
    text = with_steps(fast, "{before: [kb], after: [act]}").replace(
        QUIET, "sim: {error_rates: {}, latency_sigma: 0, ttft_s: 0.02, tokens_per_s: 5000}").replace(
        "rate_per_s: 0.05", "rate_per_s: 50").replace("backoff_s: 0.5", "backoff_s: 0.01")
    prep = prepare(scenario_file(text, n=12))
    got = {}
    for clock in ("virtual", "wall"):
        written: list = []

        class Sink:
            def write(self, requests, attempts, out=written):
                out.append((list(requests), list(attempts)))

        replay(prep.scenario, prep.requests, prep.arrivals, provider=prep.provider, policy=prep.policy,
               graders=prep.graders, seed=prep.seed, run_id="w", sink=Sink(), clock=clock)
        atts = sorted((a for _, b in written for a in b), key=lambda a: (a.request_id, a.attempt_no))
        got[clock] = [(a.request_id, a.target, a.provider, a.purpose, a.ok, a.prompt_tokens, a.cost_usd)
                      for a in atts]
    assert got["wall"] == got["virtual"]
    assert {(t, p) for _, t, p, *_ in got["wall"]} == {("kb", "simulated"), ("large", "simulated"),
                                                        ("act", "simulated")}
    assert any(not ok for _, t, _, _, ok, *_ in got["wall"] if t == "kb")  # failures retried on the wall clock


BAD = [
    ("{before: [kb, crm], after: [act]}", "{before: [kb, nope]}", "fleet.large.steps.before[1]", "unknown step 'nope'"),
    ("kind: retrieval", "kind: search", "steps.kb.kind", "'retrieval'"),
    ("cost_per_call_usd: 0.001}", "cost_per_call_usd: 0.001, error_rate: -0.1}", "steps.crm.error_rate",
     "greater than or equal to 0"),
    ("cost_per_call_usd: 0.001}", "cost_per_call_usd: 0.001, timeout_rate: 1.5}", "steps.crm.timeout_rate",
     "less than or equal to 1"),
    ("cost_per_call_usd: 0.001}", 'cost_per_call_usd: 0.001, on_failure: "human:nobody"}', "steps.crm.on_failure",
     "unknown human 'nobody'"),
    ("cost_per_call_usd: 0.001}", "cost_per_call_usd: 0.001, fallback: gone}", "steps.crm.fallback",
     "unknown step 'gone'"),
    ("cost_per_call_usd: 0.001}", "cost_per_call_usd: 0.001, error_rate: 0.6, timeout_rate: 0.6}", "steps.crm",
     "above 1"),
    ("cost_per_call_usd: 0.001}", "cost_per_call_usd: 0.001, on_failure: retry}", "steps.crm.on_failure",
     "should match pattern"),
]


@pytest.mark.parametrize(("old", "new", "field", "says"), BAD, ids=[b[2] + "-" + b[3][:12] for b in BAD])
def test_bad_steps_get_one_error_naming_file_line_and_field(scenario_file, old, new, field, says):
    text = with_steps(extra=HUMANS)
    assert old in text
    text = text.replace(old, new, 1)
    path = scenario_file(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if new in t)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    err = exc.value
    assert (err.file, err.line, err.field) == (str(path), line, field) and says in str(err)


def test_a_bad_step_writes_nothing(scenario_file, tmp_path):
    path = scenario_file(with_steps(route="{before: [kb, nope]}"))
    out = wb("run", str(path), "--db", str(tmp_path / "never.duckdb"), cwd=tmp_path)
    assert out.returncode == 2 and "unknown step 'nope'" in out.stderr
    assert not (tmp_path / "never.duckdb").exists()


def test_explain_and_the_diagram_show_a_routes_steps(scenario_file):
    path = scenario_file(with_steps(STEPS.replace("context_tokens: 900}", "context_tokens: 900, fallback: crm}")))
    out = explain(load_scenario(path), "Why was I charged twice?")
    assert [s["step"] for s in out["steps"]["before"]] == ["kb", "crm"]
    assert out["steps"]["before"][0] | {} == {
        "step": "kb", "kind": "retrieval", "p50_s": 0.25, "p95_s": 0.25, "cost_per_call_usd": 0.0004,
        "error_rate": 0.0, "timeout_rate": 0.0, "context_tokens": 900, "fallbacks": ["crm"], "on_failure": "fail"}
    assert out["steps"]["after"][0]["step"] == "act" and out["steps"]["after"][0]["context_tokens"] == 0
    assert "steps" not in explain(load_scenario(scenario_file(BASE, name="plain.yaml")), "Why?")
    text = wb("explain", str(path), "Why was I charged twice?", cwd=path.parent).stdout
    assert "step before the call: kb [retrieval, simulated]" in text and "-> crm -> fail" in text
    svg = wiring_svg(read_yaml(path.read_text(), "s")[0])
    assert "steps: kb &gt; crm &gt; call &gt; act" in svg
    assert "large before: kb [retrieval, simulated]; if it fails -&gt; crm -&gt; fail" in svg
    draft = wiring_svg({"fleet": {"m": {"model": "x", "steps": {"before": ["ghost"]}}}})
    assert "step ghost (not declared under steps!)" in draft


def test_the_library_scenario_with_steps_loads_and_explains():
    scn = load_scenario(SCENARIOS / "support-with-lookup.yaml")
    out = explain(scn, "My invoice is wrong")
    assert [s["step"] for s in out["steps"]["before"]] == ["kb-search", "crm"]
    assert out["steps"]["before"][0]["fallbacks"] == ["kb-cache"]
    large = route_steps(scn, "large")
    assert {s["kind"] for when in large.values() for s in when} == {"retrieval", "lookup", "tool"}


def test_the_readme_steps_example_is_a_valid_scenario_block():
    readme = (SCENARIOS.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if b.startswith("steps:"))
    scn = parse_scenario("name: r\n" + block + HUMANS + "router: {policy: static, params: {target: large}}\n"
                         "traffic: {source: t.jsonl}\n", source="README.md")
    assert scn.fleet["large"].steps.before == ["kb-search", "crm"] and set(scn.steps) == {
        "kb-search", "kb-cache", "crm", "ticket-update"}


def test_a_models_draws_do_not_depend_on_the_steps_before_it(scenario_file, tmp_path):
    """Regression: step calls counted as attempts shifted the model's seeded draws (latency, output
    length), so adding a lookup changed what the model did, confounding a with/without comparison."""
    noisy = "sim: {error_rates: {}, latency_sigma: 0.6, ttft_s: 1.0, tokens_per_s: 100}"
    base = BASE.replace(QUIET, noisy)
    stepped = with_steps().replace(QUIET, noisy)
    plain, _ = run(scenario_file(base, n=30, name="plain.yaml"), tmp_path / "a.duckdb")
    withs, _ = run(scenario_file(stepped, n=30, name="stepped.yaml"), tmp_path / "b.duckdb")
    a = table(tmp_path / "a.duckdb", "attempts", plain).set_index("request_id")
    b = table(tmp_path / "b.duckdb", "attempts", withs)
    b = b[b.purpose == "answer"].set_index("request_id")
    assert len(a) == len(b) == 30
    assert a.completion_tokens.nunique() > 5 and (a.end_s - a.start_s).round(6).nunique() > 20  # really drawn
    assert (b.completion_tokens == a.completion_tokens).all()
    assert ((b.end_s - b.start_s) - (a.end_s - a.start_s)).abs().max() < 1e-9
