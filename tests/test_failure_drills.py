"""Failure drills: an outage of the large model, with and without a fallback and a circuit breaker."""

from __future__ import annotations

import pytest
from helpers import run, table

QUIET = "{error_rates: {}}"
DRILL = f"""
name: drill
seed: 11
concurrency: 64
fleet:
  large: {{model: gpt-4o, sim: {{error_rates: {{}}, outages: [{{start_s: 300, end_s: 600}}]}}}}
  small: {{model: gpt-4o-mini, sim: {QUIET}}}
router: {{policy: static, params: {{target: large}}}}
retries: {{max_retries: 2, backoff_s: 1, jitter: 0}}
traffic: {{source: traffic.jsonl, arrival: {{process: poisson, rate_per_s: 2}}}}
"""
FALLBACK = "fallbacks: {large: [{to: small, errors: [server_error]}]}\n"
BREAKER = "circuit_breaker: {allowed_fails: 3, window_s: 60, cooldown_s: 30}\n"


def drill(scenario_file, db, extra: str = ""):
    rid, s = run(scenario_file(DRILL + extra, n=1800), db)
    return s, table(db, "requests", rid), table(db, "attempts", rid)


def in_window(req):
    return req[(req.arrival_s >= 300) & (req.arrival_s < 597)]  # 3 s: the retries cannot outlast it


def test_without_fallback_errors_equal_the_share_in_the_window(scenario_file, db):
    s, req, _ = drill(scenario_file, db)
    window = in_window(req)
    assert len(window) > 400
    assert s["failed"] >= len(window) and s["failed"] <= len(window) + 10  # +: arrivals in the last 3 s
    assert s["error_rate"] == pytest.approx(len(window) / len(req), abs=0.01)


def test_with_fallback_errors_in_the_window_fall_to_zero(scenario_file, db):
    s, req, _ = drill(scenario_file, db, FALLBACK)
    window = in_window(req)
    assert s["failed"] == 0
    assert (window.final_target == "small").all()
    assert (req[req.arrival_s >= 600].final_target == "large").all()


def test_circuit_breaker_cuts_wasted_attempts(scenario_file, tmp_path):
    _, req_a, att_a = drill(scenario_file, tmp_path / "a.duckdb", FALLBACK)
    s, req_b, att_b = drill(scenario_file, tmp_path / "b.duckdb", FALLBACK + BREAKER)
    wasted_a = (~att_a.ok & (att_a.target == "large")).sum()
    wasted_b = (~att_b.ok & (att_b.target == "large")).sum()
    assert wasted_a >= 3 * len(in_window(req_a))  # every request in the window tries large 3 times
    assert wasted_b < wasted_a / 5
    assert s["failed"] == 0 and req_b.skips.sum() > 300
    # the cooled-down requests reached the fallback sooner: lower latency in the window
    assert in_window(req_b).latency_s.mean() < in_window(req_a).latency_s.mean() - 1.0


def test_circuit_open_without_fallback_fails_fast_without_a_call(scenario_file, db):
    s, req, att = drill(scenario_file, db, BREAKER)
    fast = req[req.error_kind == "circuit_open"]
    never = fast[fast.attempts == 0]  # others tried large, then found the circuit open on a retry
    assert len(never) > 300 and (fast.skips == 1).all()
    assert not att.request_id.isin(never.request_id).any()  # no call was made for them
    assert (never.latency_s < 0.5).mean() > 0.9  # they fail at once (a queue wait aside)
