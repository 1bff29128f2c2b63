"""The clock seam: one engine, two clocks, the same decisions; and its collaborators on their own."""

from __future__ import annotations

import math

import pytest

from workbench.errors import ErrorKind
from workbench.replay import AsyncioClock, VirtualClock, clock_for, replay
from workbench.replay.breaker import CircuitBreaker
from workbench.runner import prepare
from workbench.scenario import CircuitBreaker as BreakerSpec

FAST = "sim: {error_rates: {}, latency_sigma: 0, ttft_s: 0.02, tokens_per_s: 5000}"
TWO = f"""
name: clocks
seed: 11
concurrency: 4
fleet:
  a: {{model: gpt-4o, {FAST}}}
  b: {{model: gpt-4o-mini, {FAST}}}
router: {{policy: weighted, params: {{weights: {{a: 1, b: 1}}}}}}
graders: [{{type: exact}}]
traffic: {{source: traffic.jsonl, arrival: {{process: poisson, rate_per_s: 100}}}}
"""


def _rows(prep, clock):
    written: list = []

    class Sink:
        def write(self, requests, attempts):
            written.append((list(requests), list(attempts)))

    stats = replay(prep.scenario, prep.requests, prep.arrivals, provider=prep.provider, policy=prep.policy,
                   graders=prep.graders, seed=prep.seed, run_id="c", sink=Sink(), clock=clock)
    reqs = sorted((r for batch, _ in written for r in batch), key=lambda r: r.seq)
    atts = sorted((a for _, batch in written for a in batch), key=lambda a: (a.request_id, a.attempt_no))
    return stats, reqs, atts


def test_the_wall_clock_makes_the_virtual_clocks_decisions(scenario_file):
    prep = prepare(scenario_file(TWO, n=30))
    assert clock_for(prep.provider) == "virtual"
    vs, vreq, vatt = _rows(prep, "virtual")
    ws, wreq, watt = _rows(prep, "wall")  # the simulated models sleep their 20-odd ms
    assert vs.requests == ws.requests == 30 and not vs.cancelled and not ws.cancelled
    decided = ("request_id", "route", "final_target", "status", "attempts", "prompt_tokens",
               "completion_tokens", "cost_usd", "quality", "response", "prompt_hash")
    assert [[getattr(r, f) for f in decided] for r in wreq] == [[getattr(r, f) for f in decided] for r in vreq]
    assert {r.route for r in vreq} == {"a", "b"}
    assert [(a.target, a.model, a.provider, a.ok) for a in watt] == [(a.target, a.model, a.provider, a.ok)
                                                                     for a in vatt]
    # only the clock differs: virtual times are exact arrivals, wall times are measured
    assert [r.arrival_s for r in vreq] == sorted(prep.arrivals)
    assert vs.virtual_s == pytest.approx(max(r.end_s for r in vreq))
    assert ws.virtual_s >= max(r.end_s for r in wreq) > 0


def test_the_clock_is_chosen_from_the_declared_contract_or_named(scenario_file):
    prep = prepare(scenario_file(TWO, n=3))

    class LiveModes:
        """A fleet whose model 'a' answers with coroutines (as a live provider declares)."""

        modes = {"a": "live", "b": "simulated"}
        asynchronous = True

        def is_async(self, model):
            return model == "a"

        def bind(self, model):  # never called: the clock is chosen first
            raise AssertionError

    assert clock_for(LiveModes()) == "wall" and clock_for(prep.provider) == "virtual"
    with pytest.raises(ValueError, match="clock must be 'virtual' or 'wall', not 'sundial'"):
        replay(prep.scenario, prep.requests, prep.arrivals, provider=prep.provider, policy=prep.policy,
               graders=prep.graders, seed=1, run_id="c", sink=None, clock="sundial")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="virtual clock cannot await a live model"):
        replay(prep.scenario, prep.requests, prep.arrivals, provider=LiveModes(), policy=prep.policy,
               graders=prep.graders, seed=1, run_id="c", sink=None, clock="virtual")  # type: ignore[arg-type]
    assert VirtualClock.stopping is False and AsyncioClock().stopping is False


def test_circuit_breaker_opens_past_allowed_fails_in_the_window_and_closes_after_cooldown():
    spec = BreakerSpec(allowed_fails=2, window_s=10.0, cooldown_s=30.0, errors=["server_error"])
    br = CircuitBreaker(spec, ["a", "b"])
    br.failed("a", ErrorKind.RATE_LIMIT, 0.0)  # not a kind this breaker counts
    br.failed("a", ErrorKind.SERVER_ERROR, 1.0)
    br.failed("a", ErrorKind.SERVER_ERROR, 2.0)
    assert not br.is_open("a", 2.0)  # two failures are allowed
    br.failed("a", ErrorKind.SERVER_ERROR, 11.5)  # the one at 1.0 left the window (11.5 - 10 > 1.0)
    assert not br.is_open("a", 11.5) and list(br.fails["a"]) == [2.0, 11.5]
    br.failed("a", ErrorKind.SERVER_ERROR, 11.9)  # 2.0, 11.5, 11.9: three in the window
    assert br.is_open("a", 11.9) and br.is_open("a", 41.8) and not br.is_open("a", 41.9)
    assert br.kind == {"a": ErrorKind.SERVER_ERROR} and not br.is_open("b", 20.0)
    assert br.open_until["b"] == -math.inf and len(br.fails["a"]) == 0  # the window restarts when it opens
