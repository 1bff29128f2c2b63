"""``loadbalance``: litellm Router's strategies among deployments of one model group.

Unit tests drive ``decide`` with a hand-set :class:`FleetState`; the end-to-end tests replay real
traffic through the simulated provider, where one deployment of three is slow.
"""

from __future__ import annotations

from collections import Counter

import pytest
from helpers import run, table

from workbench.errors import ScenarioError
from workbench.policies import build_policy
from workbench.policies.base import FleetState, RouteContext
from workbench.scenario import parse_scenario
from workbench.seeds import request_key
from workbench.traffic import Request

TEXT = """name: l
fleet:
  east: {model: gpt-4o}
  west: {model: gpt-4o}
  azure: {model: gpt-4o}
  mini: {model: gpt-4o-mini}
  cheap: {model: gpt-4o, price: {input_per_mtok: 0.1, output_per_mtok: 0.2}}
humans:
  desk: {agents: 2, handling_time_s: 60, cost_per_request_usd: 2}
router:
  policy: loadbalance
  params:
    deployments:
      - east
      - west
      - azure
PARAMS
traffic: {source: t.jsonl}
"""
# line numbers in TEXT: deployments 13, its items 14-16, the first PARAMS line 17


def policy(params: str = "", deployments: tuple[str, ...] = ("east", "west", "azure")):
    text = TEXT.replace("      - east\n      - west\n      - azure\n",
                        "".join(f"      - {d}\n" for d in deployments))
    return build_policy(parse_scenario(text.replace("PARAMS", params), source="l.yaml"))


def decide_all(pol, fleet: FleetState | None = None, n: int = 20_000, seed: int = 3) -> list[str]:
    return [pol.decide(Request(id=f"r{i}", prompt="x"),
                       RouteContext(0.0, 0.0, request_key(seed, f"r{i}"), fleet)).target for i in range(n)]


def fleet(in_flight: dict | None = None, ewma: dict | None = None) -> FleetState:
    state = FleetState(["east", "west", "azure", "mini", "cheap", "desk"])
    state.in_flight.update(in_flight or {})
    state.latency_ewma.update(ewma or {})
    return state


def shares(targets: list[str]) -> dict[str, float]:
    return {t: c / len(targets) for t, c in Counter(targets).items()}


# --- simple-shuffle ---------------------------------------------------------------------------

def test_shuffle_shares_follow_weights_and_are_uniform_without():
    weighted = shares(decide_all(policy("    weights: {east: 2, west: 1}")))
    assert weighted["east"] == pytest.approx(0.5, abs=0.01)
    assert weighted["west"] == pytest.approx(0.25, abs=0.01) and weighted["azure"] == pytest.approx(0.25, abs=0.01)
    plain = shares(decide_all(policy()))
    assert all(plain[d] == pytest.approx(1 / 3, abs=0.01) for d in ("east", "west", "azure"))


def test_shuffle_is_fixed_per_request_under_the_seed():
    pol = policy()
    assert decide_all(pol, n=500) == decide_all(pol, n=500)
    assert decide_all(pol, n=500) != decide_all(pol, n=500, seed=4)
    d = pol.decide(Request(id="r", prompt="x"), RouteContext(0.0, 0.0, request_key(1, "r")))
    assert d.reason.startswith("simple-shuffle: draw ") and "share 0.33" in d.reason and 0 <= d.score < 1


# --- least-busy -------------------------------------------------------------------------------

def test_least_busy_picks_fewest_in_flight_and_says_so():
    pol = policy("    strategy: least-busy")
    got = decide_all(pol, fleet({"east": 5, "west": 2, "azure": 7}), n=200)
    assert set(got) == {"west"}
    d = pol.decide(Request(id="r", prompt="x"), RouteContext(0.0, 0.0, 1, fleet({"east": 5, "west": 2, "azure": 7})))
    assert d.reason == "least-busy: west has 2 in flight (others: east 5, azure 7)" and d.score == 2


def test_least_busy_breaks_ties_by_the_draw_not_by_order():
    got = shares(decide_all(policy("    strategy: least-busy"), fleet({"east": 3, "west": 1, "azure": 1})))
    assert set(got) == {"west", "azure"} and got["west"] == pytest.approx(0.5, abs=0.015)


# --- latency-based-routing --------------------------------------------------------------------

def test_latency_picks_lowest_moving_average():
    pol = policy("    strategy: latency-based-routing")
    state = fleet(ewma={"east": 2.0, "west": 0.5, "azure": 1.0})
    assert set(decide_all(pol, state, n=200)) == {"west"}
    d = pol.decide(Request(id="r", prompt="x"), RouteContext(0.0, 0.0, 1, state))
    assert d.reason == "latency-based-routing: west averages 0.50 s (others: east 2.00 s, azure 1.00 s)"
    assert d.score == 0.5


def test_latency_tries_unobserved_deployments_first():
    pol = policy("    strategy: latency-based-routing")
    assert set(decide_all(pol, fleet(ewma={"east": 0.1, "west": 0.2}), n=200)) == {"azure"}
    both = shares(decide_all(pol, fleet(ewma={"east": 0.1}), n=4000))
    assert set(both) == {"west", "azure"} and both["west"] == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("buffer,expect", [(0.0, {"east": 1.0}),
                                           (0.1, {"east": 0.5, "west": 0.5}),
                                           (0.6, {"east": 1 / 3, "west": 1 / 3, "azure": 1 / 3})])
def test_latency_buffer_widens_the_choice(buffer, expect):
    pol = policy(f"    strategy: latency-based-routing\n    latency_buffer: {buffer}")
    got = shares(decide_all(pol, fleet(ewma={"east": 1.0, "west": 1.05, "azure": 1.5}), n=6000))
    assert set(got) == set(expect)
    assert all(got[t] == pytest.approx(s, abs=0.025) for t, s in expect.items())


@pytest.mark.parametrize("strategy", ["least-busy", "latency-based-routing"])
def test_without_fleet_state_the_first_deployment_and_why(strategy):
    d = policy(f"    strategy: {strategy}").decide(Request(id="r", prompt="x"), RouteContext(0.0, 0.0, 1))
    assert d.target == "east" and "no live fleet state" in d.reason and d.reason.startswith(strategy)


# --- cost-based-routing -----------------------------------------------------------------------

def test_cost_picks_cheapest_by_litellm_price_or_override():
    pol = policy("    strategy: cost-based-routing", ("east", "mini"))
    got = decide_all(pol, n=200)
    assert set(got) == {"mini"}
    d = pol.decide(Request(id="r", prompt="x"), RouteContext(0.0, 0.0, 1))
    # litellm's map: gpt-4o $2.50 + $10 per million tokens, gpt-4o-mini $0.15 + $0.60
    assert d.reason == "cost-based-routing: mini costs $0.75 per million tokens in + out (others: east $12.50)"
    assert set(decide_all(policy("    strategy: cost-based-routing", ("east", "mini", "cheap")), n=200)) == {"cheap"}
    # equal prices (the usual case in one model group): spread by the draw, not all to the first
    even = shares(decide_all(policy("    strategy: cost-based-routing"), n=6000))
    assert all(even[d] == pytest.approx(1 / 3, abs=0.025) for d in ("east", "west", "azure"))


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("deployments,params,field,line,words", [
    (("east", "nope", "azure"), "", "router.params.deployments[1]", 15, "unknown deployment 'nope'"),
    (("east", "west", "desk"), "", "router.params.deployments[2]", 16, "'desk' is a human node"),
    (("east", "west", "east"), "", "router.params.deployments[2]", 16, "listed twice"),
    (("east", "west", "azure"), "    weights: {east: 1, mini: 2}", "router.params.weights.mini", 17,
     "'mini' is not one of the deployments"),
    (("east", "west", "azure"), "    strategy: least-busy\n    weights: {east: 2}", "router.params.weights", 18,
     "simple-shuffle only"),
    (("east", "west", "azure"), "    latency_buffer: 0.2", "router.params.latency_buffer", 17,
     "latency-based-routing only"),
    (("east", "west", "azure"), "    strategy: round-robin", "router.params.strategy", 17, "simple-shuffle"),
    (("east", "west", "azure"), "    weights: {east: 0}", "router.params.weights.east", 17, "greater than 0"),
])
def test_bad_params_name_the_field_and_line(deployments, params, field, line, words):
    with pytest.raises(ScenarioError) as err:
        policy(params, deployments)
    assert err.value.field == field and err.value.line == line and words in str(err.value)
    assert "l.yaml" in str(err.value)


def test_referenced_targets_are_deployments_and_weight_keys():
    refs = policy("    weights: {west: 3}").referenced_targets()
    assert refs == {("deployments", 0): "east", ("deployments", 1): "west", ("deployments", 2): "azure",
                    ("weights", "west"): "west"}


# --- end to end through the replay --------------------------------------------------------------

E2E = """
name: lb
seed: 11
concurrency: 64
fleet:
  slow: {model: gpt-4o, sim: {ttft_s: 5}}
  east: {model: gpt-4o, sim: {ttft_s: 0.3}}
  west: {model: gpt-4o, sim: {ttft_s: 0.3}}
router:
  policy: loadbalance
  params: {deployments: [slow, east, west], strategy: STRATEGY}
traffic: {source: traffic.jsonl, arrival: {process: poisson, rate_per_s: 5}}
"""


@pytest.fixture
def replayed(scenario_file, tmp_path):
    """Slow-deployment share and p95 latency of each strategy over the same 1,000 requests."""
    out = {}
    for strategy in ("simple-shuffle", "least-busy", "latency-based-routing"):
        path = scenario_file(E2E.replace("STRATEGY", strategy), n=1000, name=f"{strategy}.yaml")
        db = tmp_path / f"{strategy}.duckdb"
        rid, summary = run(path, db)
        req = table(db, "requests", rid)
        assert summary["requests"] == 1000 and req.reason.str.startswith(strategy).all()
        out[strategy] = ((req.route == "slow").mean(), summary["p95_latency_s"])
    return out


def test_latency_and_least_busy_avoid_the_slow_deployment(replayed):
    # measured (seed 11, 1,000 requests): share sent to the slow deployment 0.373 (shuffle), 0.209
    # (least-busy), 0.029 (latency); p95 latency 13.26 s, 11.90 s, 9.06 s
    shuffle, busy, latency = (replayed[s] for s in ("simple-shuffle", "least-busy", "latency-based-routing"))
    assert shuffle[0] == pytest.approx(1 / 3, abs=0.06)
    assert latency[0] < 0.08 and latency[0] < shuffle[0] / 4
    assert latency[1] < shuffle[1] - 2.5
    assert busy[0] < 0.27 and busy[0] < shuffle[0] - 0.06 and busy[1] < shuffle[1]


def test_latency_routing_avoids_a_deployment_that_fails_fast(scenario_file, tmp_path):
    # A 503 returns in milliseconds; counted at its own latency it would look like the fastest
    # deployment. The replay counts a failure as slow as the timeout, so latency routing leaves it.
    text = (E2E.replace("STRATEGY", "latency-based-routing")
            .replace("slow: {model: gpt-4o, sim: {ttft_s: 5}}",
                     "slow: {model: gpt-4o, sim: {error_rates: {server_error: 1.0}}}")
            + "retries: {max_retries: 0}\nfallbacks: {slow: [{to: east}]}\n")
    rid, _ = run(scenario_file(text, n=1000, name="failing.yaml"), tmp_path / "f.duckdb")
    att = table(tmp_path / "f.duckdb", "attempts", rid)
    assert (att.target == "slow").sum() < 20
