"""The replay engine, end to end on the simulated provider and a real DuckDB file."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import run, table

from workbench.replay import replay
from workbench.runner import prepare

# Quiet models: no random errors, fixed latency, so every failure below is the one the test caused.
QUIET = "sim: {error_rates: {}, latency_sigma: 0, ttft_s: 1.0, tokens_per_s: 100}"

BASE = f"""
name: t
seed: 7
concurrency: 16
fleet:
  large: {{model: gpt-4o, {QUIET}}}
  small: {{model: gpt-4o-mini, {QUIET}}}
router: {{policy: static, params: {{target: large}}}}
graders: [{{type: exact}}]
traffic: {{source: traffic.jsonl, arrival: {{process: poisson, rate_per_s: 1.0}}}}
"""


def with_lines(text: str, *extra: str) -> str:
    return text + "\n".join(extra) + "\n"


def test_same_seed_same_rows_other_seed_other_rows(scenario_file, tmp_path):
    path = scenario_file(BASE.replace("static, params: {target: large}",
                                      "weighted, params: {weights: {large: 1, small: 1}}"), n=300)
    runs = [run(path, tmp_path / f"{i}.duckdb", seed=s)[0] for i, s in enumerate([7, 7, 8])]
    frames = [table(tmp_path / f"{i}.duckdb", "requests", rid).drop(columns="run_id")
              for i, rid in enumerate(runs)]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert not frames[0][["route", "arrival_s"]].equals(frames[2][["route", "arrival_s"]])


def test_cost_identity_requests_attempts_summary(scenario_file, db):
    path = scenario_file(with_lines(BASE, "fallbacks: {large: [{to: small}]}",
                                    "retries: {max_retries: 1}").replace(
        f"large: {{model: gpt-4o, {QUIET}}}",
        "large: {model: gpt-4o, sim: {error_rates: {server_error: 0.3}}}"), n=400)
    rid, s = run(path, db)
    req, att = table(db, "requests", rid), table(db, "attempts", rid)
    assert req.request_id.is_unique and len(req) == 400  # each request written exactly once
    assert not att.duplicated(["request_id", "attempt_no"]).any()
    assert s["cost_usd"] == pytest.approx(req.cost_usd.sum(), rel=1e-12)
    assert s["cost_usd"] == pytest.approx(att.cost_usd.sum(), rel=1e-12)
    per_request = att.groupby("request_id").cost_usd.sum()
    merged = req.set_index("request_id").cost_usd
    assert (per_request.reindex(merged.index).fillna(0) - merged).abs().max() < 1e-12
    assert sum(m["cost_usd"] for m in s["by_model"].values()) == pytest.approx(s["cost_usd"], rel=1e-12)
    # failed attempts happened, were recorded, and cost nothing
    failed = att[~att.ok]
    assert len(failed) > 50 and (failed.cost_usd == 0).all()
    assert s["retry_rate"] > 0.1 and s["fallback_rate"] > 0.01


def test_outage_without_fallback_fails_exactly_the_window(scenario_file, db):
    path = scenario_file(with_lines(BASE.replace(
        f"large: {{model: gpt-4o, {QUIET}}}",
        "large: {model: gpt-4o, sim: {error_rates: {}, outages: [{start_s: 200, end_s: 400}]}}"),
        "retries: {max_retries: 2, backoff_s: 1, jitter: 0}"), n=600)
    rid, s = run(path, db)
    req, att = table(db, "requests", rid), table(db, "attempts", rid)
    failed = req[req.status == "failed"]
    # retries after 1 s and 2 s: a request arriving >= 3 s before the end cannot escape the window
    in_window = req[(req.arrival_s >= 200) & (req.arrival_s < 397)]
    assert len(in_window) > 150
    assert set(in_window.request_id) <= set(failed.request_id)
    assert failed.arrival_s.between(200, 400).all()
    assert (failed.error_kind == "server_error").all()
    assert s["error_rate"] == pytest.approx(len(failed) / len(req))
    errs = att[~att.ok]
    assert errs.start_s.between(200, 400).all()
    assert (errs.groupby("request_id").size().loc[list(in_window.request_id)] == 3).all()


def test_outage_with_fallback_moves_traffic_and_fails_nothing(scenario_file, db):
    path = scenario_file(with_lines(BASE.replace(
        f"large: {{model: gpt-4o, {QUIET}}}",
        "large: {model: gpt-4o, sim: {error_rates: {}, outages: [{start_s: 200, end_s: 400}]}}"),
        "retries: {max_retries: 0}", "fallbacks: {large: [{to: small, errors: [server_error]}]}"), n=600)
    rid, s = run(path, db)
    req = table(db, "requests", rid)
    assert s["failed"] == 0
    window = req[(req.arrival_s >= 200) & (req.arrival_s < 400)]
    assert (window.final_target == "small").all() and (window.fallbacks == 1).all()
    assert (req[req.arrival_s >= 400].final_target == "large").all()
    assert s["by_model"]["small"]["answered"] == len(window)


def test_rate_limit_burst_gives_429s_and_retries_honour_retry_after(scenario_file, db):
    path = scenario_file(with_lines(BASE.replace(
        f"large: {{model: gpt-4o, {QUIET}}}",
        f"large: {{model: gpt-4o, limits: {{rpm: 30}}, {QUIET}}}").replace(
        "{process: poisson, rate_per_s: 1.0}", "{process: poisson, rate_per_s: 5.0}"),
        "retries: {max_retries: 5, backoff_s: 0.1, jitter: 0}"), n=60)
    rid, s = run(path, db)
    att = table(db, "attempts", rid)
    limited = att[att.error_kind == "rate_limit"]
    assert len(limited) > 10 and (limited.retry_after_s > 0).all()
    nxt = att.groupby("request_id").shift(-1)
    waited = nxt.start_s[limited.index] - (limited.end_s + limited.retry_after_s)
    assert (waited.dropna() >= -1e-9).all()
    assert s["retry_rate"] > 0.2
    # never more than 30 successful calls in any 60-second window
    ok = att[att.ok].start_s.sort_values().to_numpy()
    assert max(((ok >= t) & (ok < t + 60)).sum() for t in ok) <= 30


def test_timeout_cuts_attempt_at_the_limit(scenario_file, db):
    path = scenario_file(with_lines(BASE, "timeouts: {attempt_s: 0.5}", "retries: {max_retries: 1}"), n=30)
    rid, s = run(path, db)
    att = table(db, "attempts", rid)
    assert (att.error_kind == "timeout").all() and len(att) == 60
    assert (att.end_s - att.start_s).round(9).eq(0.5).all()
    assert s["error_rate"] == 1.0 and s["cost_usd"] == 0


def test_concurrency_one_serialises_requests(scenario_file, db):
    path = scenario_file(BASE.replace("concurrency: 16", "concurrency: 1").replace(
        "rate_per_s: 1.0", "rate_per_s: 50.0"), n=50)
    rid, _ = run(path, db)
    req = table(db, "requests", rid)
    assert (req.start_s.iloc[1:].to_numpy() >= req.end_s.iloc[:-1].to_numpy() - 1e-9).all()
    assert req.latency_s.iloc[-1] > 10 * req.latency_s.iloc[0]  # queueing counts in latency


def test_human_queue_waits_grow_when_overloaded(scenario_file, db):
    path = scenario_file(with_lines(BASE.replace("params: {target: large}", "params: {target: desk}"),
                                    "humans: {desk: {agents: 2, handling_time_s: 60, cost_per_request_usd: 2.5}}"),
                         n=200)
    rid, s = run(path, db)
    att = table(db, "attempts", rid).sort_values("start_s")
    assert s["handoff_rate"] == 1.0 and s["cost_usd"] == pytest.approx(200 * 2.5)
    # 1 request/s into 2 agents who finish one per 30 s between them: the queue grows without bound
    assert att.wait_s.iloc[:2].max() == 0
    assert att.wait_s.iloc[-40:].mean() > 3000
    assert att.wait_s.rank().corr(att.start_s.rank()) > 0.9
    assert (att.model == "human").all() and (att.provider == "human").all()


def test_fallback_chain_follows_targets_own_rules_to_a_human(scenario_file, db):
    down = "sim: {error_rates: {}, outages: [{start_s: 0, end_s: 100000}]}"
    path = scenario_file(with_lines(BASE.replace(f"large: {{model: gpt-4o, {QUIET}}}",
                                                 f"large: {{model: gpt-4o, {down}}}")
                                    .replace(f"small: {{model: gpt-4o-mini, {QUIET}}}",
                                             f"small: {{model: gpt-4o-mini, {down}}}"),
                                    "humans: {desk: {agents: 50, handling_time_s: 30, cost_per_request_usd: 1}}",
                                    "retries: {max_retries: 0}",
                                    "fallbacks: {large: [{to: small}], small: [{to: desk}]}"), n=20)
    rid, s = run(path, db)
    att = table(db, "attempts", rid)
    chains = att.groupby("request_id").target.apply(list)
    assert (chains.map(tuple) == ("large", "small", "desk")).all()
    assert s["handoff_rate"] == 1.0 and s["failed"] == 0 and s["fallback_rate"] == 1.0


def test_context_window_is_not_retried_and_falls_back(scenario_file, db):
    path = scenario_file(with_lines(BASE.replace(f"large: {{model: gpt-4o, {QUIET}}}",
                                                 f"large: {{model: gpt-4o, context_window: 5, {QUIET}}}"),
                                    "retries: {max_retries: 3}",
                                    "fallbacks: {large: [{to: small, errors: [context_window]}]}"), n=20)
    rid, _ = run(path, db)
    att = table(db, "attempts", rid)
    assert list(att.groupby("request_id").error_kind.first().unique()) == ["context_window"]
    assert (att.groupby("request_id").size() == 2).all()


@pytest.mark.parametrize("mode", ["reject", "downgrade"])
def test_budget_guard(scenario_file, db, mode):
    extra = "budget: {max_usd: 0.05, on_exceed: reject}" if mode == "reject" else \
        "budget: {max_usd: 0.05, on_exceed: downgrade, downgrade_to: small}"
    rid, s = run(scenario_file(with_lines(BASE, extra), n=200), db)
    req = table(db, "requests", rid)
    if mode == "reject":
        assert s["rejected"] > 50 and (req[req.status == "rejected"].cost_usd == 0).all()
        assert s["cost_usd"] < 0.05 + 16 * req[req.status == "ok"].cost_usd.max()  # at most the in-flight
    else:
        assert s["rejected"] == 0 and (req.route == "small").sum() > 50
        assert req[req.route == "small"].reason.str.contains("downgraded").all()


def test_common_random_numbers_across_scenarios(scenario_file, tmp_path):
    a = scenario_file(BASE, n=300, name="a.yaml")
    b = scenario_file(BASE.replace("static, params: {target: large}",
                                   "weighted, params: {weights: {large: 1, small: 1}}"), name="b.yaml")
    ra, _ = run(a, tmp_path / "a.duckdb")
    rb, _ = run(b, tmp_path / "b.duckdb")
    qa = table(tmp_path / "a.duckdb", "requests", ra).set_index("request_id")
    qb = table(tmp_path / "b.duckdb", "requests", rb).set_index("request_id")
    same = qb.index[qb.final_target == "large"]
    assert len(same) > 100
    pd.testing.assert_series_equal(qa.loc[same, "quality"], qb.loc[same, "quality"])
    pd.testing.assert_series_equal(qa.loc[same, "arrival_s"], qb.loc[same, "arrival_s"])


def test_cancel_flushes_finished_requests_only(scenario_file):
    prep = prepare(scenario_file(BASE, n=3000))
    written: list = []

    class Sink:
        def write(self, requests, attempts):
            written.append((list(requests), list(attempts)))

    polls = iter(range(10**9))
    stats = replay(prep.scenario, prep.requests, prep.arrivals, provider=prep.provider, policy=prep.policy,
                   graders=prep.graders, seed=prep.seed, run_id="x", sink=Sink(), flush_every=100,
                   cancel=lambda: next(polls) >= 2)
    reqs = [r for batch, _ in written for r in batch]
    atts = [a for _, batch in written for a in batch]
    assert stats.cancelled and 0 < len(reqs) < 3000 and len(reqs) == stats.requests
    assert {a.request_id for a in atts} == {r.request_id for r in reqs}  # every written attempt belongs to a written request
