"""The audited scenario the audit tests share (tests/store/test_audit*.py)."""

from __future__ import annotations

#: 200 loan decisions: wrong model answers escalate to a loan officer (an override), failed calls fall
#: back to the officer (no model answer to override); every request sealed.
LOANS = """\
name: loans
seed: 7
concurrency: 8
audit: true
fleet:
  small:
    model: gpt-4o-mini
    sim: {error_rates: {server_error: 0.15}}
humans:
  officer: {agents: 3, handling_time_s: 60, cost_per_request_usd: 2.0, accuracy: 1.0}
router:
  policy: cascade
  params: {chain: [small, officer], min_score: 1.0}
fallbacks:
  small: [{to: officer}]
retries: {max_retries: 0}
graders: [{type: exact}]
traffic:
  source: traffic.jsonl
  arrival: {process: poisson, rate_per_s: 2}
"""
