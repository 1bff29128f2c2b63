"""The scenario library: every scenario loads, every offline one runs, and every figure a brief states holds.

Why tolerances and not exact figures: a brief's numbers come from one seeded run and repeat exactly,
but they are meant to survive a recalibration of the simulated fleet that changes the draws without
changing the story. Each figure is therefore checked within about one standard error of itself on
the brief's own sample (a share p of n requests: sqrt(p(1-p)/n); quality 0.86 on 370 tickets:
0.018), which a recalibration of that size would not exceed while any change in a design's behaviour
would. Invariants of a design (no decline without a person, no failed ticket behind a human safety
net) are checked exactly.
"""

from __future__ import annotations

import math

import duckdb
import pytest
from conftest import SCENARIOS

from workbench.analysis import run_summary
from workbench.analysis.compare import compare_runs
from workbench.graders import build_graders
from workbench.policies import build_policy
from workbench.rollout import load_plan
from workbench.rollout.plan import is_plan_file
from workbench.runner import execute, prepare, prepare_many
from workbench.scenario import load_scenario
from workbench.store import TraceStore

LIBRARY = [p for p in sorted(SCENARIOS.glob("*.yaml")) if not is_plan_file(p)]  # rollout plans are not designs
PLANS = [p for p in sorted(SCENARIOS.rglob("*.yaml")) if is_plan_file(p)]
EXERCISE_DESIGNS = sorted((SCENARIOS / "exercises").glob("*/*.yaml"))
EXERCISE_DESIGNS = [p for p in EXERCISE_DESIGNS if p.name != "rubric.yaml" and not is_plan_file(p)]
DRILLS = ["no-fallback", "fallback-chain", "circuit-breaker", "human-safety-net"]


def se(p: float, n: int) -> float:
    """One standard error of a share ``p`` measured on ``n`` requests."""
    return math.sqrt(p * (1 - p) / n)


def offline(path) -> bool:
    """Runnable here: a simulated fleet over a traffic file (recorded datasets and live servers are not)."""
    scn = load_scenario(path)
    return scn.mode == "simulated" and scn.traffic.dataset is None


@pytest.mark.parametrize("path", LIBRARY + EXERCISE_DESIGNS, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_every_scenario_loads_with_a_brief_and_offline_ones_run(path, tmp_path):
    head = path.read_text().split("\nname:")[0]
    assert head.startswith("#") and ("Brief:" in head or "exercise" in head), "a brief in comments at the top"
    scn = load_scenario(path)
    build_policy(scn)
    build_graders(scn)
    if not offline(path):
        return  # recorded datasets need `workbench datasets import`; live ones a server (their own tests)
    # a drift drill's timeline changes at 60 s: 30 requests end before it (an error: the change never happens)
    n = 300 if any(m.timeline for m in scn.fleet.values()) else 30
    prep = prepare(scn, requests=n)
    with TraceStore(tmp_path / "t.duckdb") as store:
        rid, stats = execute(prep, store)
        s = run_summary(store.con, rid)
    assert s["requests"] == stats.requests == n and s["cost_usd"] > 0 and s["quality"] is not None


def test_the_library_rollout_plans_load_as_plans():
    assert {p.name for p in PLANS} >= {"rollout-plan.yaml", "rollout-plan-unguarded.yaml"}
    assert {p.name for p in LIBRARY} >= {"rollout-baseline.yaml", "rollout-candidate-regressed.yaml"}
    for path in PLANS:
        head = path.read_text().split("\nname:")[0]
        assert head.startswith("#") and ("Brief:" in head or "exercise" in head), path
        assert load_plan(path).stages[-1].share == 1.0


def _compare(paths, db):
    """Replay ``paths`` over the first one's traffic and seed, as `workbench compare` does."""
    with TraceStore(db) as store:
        ids = [execute(p, store)[0] for p in prepare_many(paths)]
        out = [run_summary(store.con, rid) for rid in ids]
        table = compare_runs(store.con, ids).set_index("scenario")
    return out, table


@pytest.fixture(scope="module")
def dbdir(tmp_path_factory):
    return tmp_path_factory.mktemp("library")


def test_customer_service_brief(dbdir):
    (base, cs), _ = _compare([SCENARIOS / "support-baseline.yaml", SCENARIOS / "customer-service.yaml"],
                             dbdir / "cs.duckdb")
    n = cs["requests"]
    assert n == 370 and cs["failed"] == 0 and base["error_rate"] == pytest.approx(0.019, abs=se(0.019, n))
    assert cs["handoff_rate"] == pytest.approx(0.054, abs=se(0.054, n))  # "20 tickets (5.4%)"
    agents = cs["by_model"]["agents"]["cost_usd"]
    assert agents / cs["cost_usd"] > 0.98  # "$70 of the $70.53 bill"
    assert agents == 3.50 * cs["by_model"]["agents"]["answered"]  # hence $35 per 1k per point of hand-off
    assert cs["cost_per_1k_usd"] == pytest.approx(190.6, rel=0.25)  # rel: the hand-off count's own SE
    assert cs["quality"] == pytest.approx(0.857, abs=se(0.857, n))
    assert base["quality"] == pytest.approx(0.897, abs=se(0.897, n))
    assert cs["routing_cost_usd"] == pytest.approx(0.05, abs=0.01)
    assert cs["p95_latency_s"] > 1.5 * base["p95_latency_s"]  # "24 s against 9 s": the agents' queue


def test_cost_overrun_brief(dbdir):
    (prod, fixed), table = _compare([SCENARIOS / "cost-overrun.yaml", SCENARIOS / "cost-overrun-fixed.yaml"],
                                    dbdir / "co.duckdb")
    n = prod["requests"]
    o1 = prod["by_model"]["premium"]
    assert o1["answered"] == 164 and n == 370  # rules, not draws: "44% of tickets (164 of 370)"
    assert o1["cost_usd"] / prod["cost_usd"] == pytest.approx(0.84, abs=0.03)  # "84% of the bill"
    ratio = prod["cost_per_1k_usd"] / fixed["cost_per_1k_usd"]
    assert ratio == pytest.approx(3.1, abs=0.3)  # "3.1x": about 3x
    assert fixed["cost_per_1k_usd"] == pytest.approx(2.70, rel=0.05)  # "back on the plan"
    assert prod["quality"] == pytest.approx(0.903, abs=se(0.903, n))
    assert fixed["quality"] == pytest.approx(0.914, abs=se(0.914, n))
    row = table.loc["cost-overrun-fixed"]
    assert row.d_quality_lo < 0 < row.d_quality_hi  # "the quality difference is noise"
    assert row.d_cost_per_1k_hi < 0
    assert set(fixed["by_model"]) == {"large"} and fixed["cost_usd"] < 1.20  # the budget guard never fires
    assert fixed["fallback_rate"] == 0.0


def test_loan_approval_brief(dbdir):
    from workbench.store.audit import verify_run

    db = dbdir / "loan.duckdb"
    with TraceStore(db) as store:
        rid, _ = execute(prepare(SCENARIOS / "loan-approval.yaml"), store)
        s = run_summary(store.con, rid)
        assert verify_run(store.con, rid).intact  # "every decision is sealed into a hash chain"
    with duckdb.connect(str(db), read_only=True) as con:
        machine_declines, overrides, wrong_approvals = con.execute("""
            SELECT count(*) FILTER (WHERE NOT r.handoff AND r.response = 'decline'),
                   count(*) FILTER (WHERE r.handoff AND r.response = 'approve' AND EXISTS (
                       SELECT 1 FROM attempts a WHERE a.run_id = r.run_id AND a.request_id = r.request_id
                       AND a.target = 'recommender' AND a.response = 'decline')),
                   count(*) FILTER (WHERE NOT r.handoff AND r.quality = 0)
            FROM requests r WHERE r.run_id = ?""", [rid]).fetchone()
    n = s["requests"]
    assert n == 400 and s["failed"] == 0
    assert machine_declines == 0  # "no decline left without a person": exactly
    assert s["handoff_rate"] == pytest.approx(0.358, abs=se(0.358, n))  # "143 (35.8%)"
    assert s["handoff_rate"] == s["escalation_rate"]  # each hand-off is the cascade's checkpoint
    assert overrides == pytest.approx(31, abs=se(31 / 143, 143) * 143)  # "overrode 31 of them"
    assert s["quality"] == pytest.approx(0.960, abs=se(0.96, n))
    assert wrong_approvals == pytest.approx(16, abs=se(16 / n, n) * n)  # the errors a checkpoint cannot see
    assert s["cost_per_1k_usd"] == pytest.approx(12_000 * s["handoff_rate"], rel=0.001)  # people's cost
    assert s["cost_per_1k_usd"] == pytest.approx(4290, abs=12_000 * se(0.358, n))
    assert s["p50_latency_s"] < 5 and s["p95_latency_s"] > 20 * 60  # "p95 39 min (the review queue)"


@pytest.fixture(scope="module")
def drills(dbdir):
    paths = [SCENARIOS / f"failure-drill-{d}.yaml" for d in DRILLS]
    summaries, _ = _compare(paths, dbdir / "drill.duckdb")
    with duckdb.connect(str(dbdir / "drill.duckdb"), read_only=True) as con:
        window = dict(con.execute("""
            SELECT ru.scenario, avg(CASE WHEN r.status <> 'ok' THEN 1.0 ELSE 0.0 END)
            FROM requests r JOIN runs ru USING (run_id)
            WHERE r.arrival_s >= 300 AND r.arrival_s < 540 GROUP BY ALL""").fetchall())
    return {d: s for d, s in zip(DRILLS, summaries)}, {d: window[f"failure-drill-{d}"] for d in DRILLS}


def test_failure_drill_briefs(drills):
    s, outage = drills
    n = s["no-fallback"]["requests"]
    assert n == 3200
    assert s["no-fallback"]["error_rate"] == pytest.approx(0.656, abs=se(0.656, n))
    assert outage["no-fallback"] > 0.98  # "99.6%" in the outage
    assert s["fallback-chain"]["failed"] == 0 and outage["fallback-chain"] == 0
    assert 0 < s["circuit-breaker"]["error_rate"] <= 0.005  # "0.28%": tickets sent sooner into 429s
    assert s["human-safety-net"]["failed"] == 0 and outage["human-safety-net"] == 0
    # the safety net catches exactly what the circuit-breaker design lost, at $3.50 each
    assert s["human-safety-net"]["by_model"]["oncall"]["answered"] == s["circuit-breaker"]["failed"]
    chain, breaker = s["fallback-chain"], s["circuit-breaker"]
    assert breaker["attempts"] < 0.7 * chain["attempts"]  # "attempts drop by a third"
    assert breaker["p50_latency_s"] < 0.6 * chain["p50_latency_s"]  # "the p50 latency halves"
    assert breaker["p95_latency_s"] < chain["p95_latency_s"]
    assert breaker["circuit_skips"] == pytest.approx(1748, rel=0.1)
    assert chain["cost_per_1k_usd"] == pytest.approx(2.68, rel=0.05)
    assert s["no-fallback"]["cost_per_1k_usd"] < chain["cost_per_1k_usd"] / 2  # failed calls cost nothing
    net = s["human-safety-net"]["cost_per_1k_usd"] / breaker["cost_per_1k_usd"]
    assert net == pytest.approx(4.9, rel=0.3)  # "4.9x": 9 hand-offs, whose own SE (3) moves it by 27%


def test_the_loan_applications_are_what_their_generator_writes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_loans", SCENARIOS / "traffic" / "make_loan_applications.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for name, (seed, n, prefix) in gen.FILES.items():
        counts = gen.write(tmp_path / name, seed, n, prefix)
        assert (tmp_path / name).read_bytes() == (SCENARIOS / "traffic" / name).read_bytes()
        assert sum(counts.values()) == n and 0.25 < counts["decline"] / n < 0.4
    # the policy in the generator's docstring, applied to one application at each edge
    base = {"credit_score": 700, "dti_pct": 30.0, "delinquencies_24m": 0, "employment_years": 5.0,
            "amount_usd": 20_000}
    assert gen.recommend(base) == ("approve", 0.05)
    assert gen.recommend({**base, "credit_score": 619})[0] == "decline"
    assert gen.recommend({**base, "dti_pct": 43.1})[0] == "decline"
    assert gen.recommend({**base, "delinquencies_24m": 2})[0] == "decline"
    assert gen.recommend({**base, "employment_years": 0.5})[0] == "decline"
    assert gen.recommend({**base, "employment_years": 0.5, "amount_usd": 15_000})[0] == "approve"
    assert gen.recommend({**base, "credit_score": 622})[1] > 0.9  # two points from the cut-off: hard
