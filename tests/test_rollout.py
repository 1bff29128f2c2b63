"""Rollouts: the regression drill, the guardrails' false rollback rate, stickiness, the trace, bad plans.

The drill's figures (rollout-candidate-regressed.yaml's brief) are checked on its own seeded run; the
false rollback rate is measured on 100 seeds with a candidate identical to the baseline, over the drill
plan's guardrails with its stages shortened (250 requests each) so that 100 rollouts take seconds.
"""

from __future__ import annotations

import json
import math

import duckdb
import pytest
from conftest import SCENARIOS
from helpers import wb

from workbench.analysis import run_summary
from workbench.analysis.rollout import rollout_readout, stage_table, timeline_chart
from workbench.errors import InputError
from workbench.rollout import load_plan, parse_plan, prepare_rollout, run_rollout
from workbench.rollout.controller import sticky_units
from workbench.rollout.guardrails import msprt
from workbench.runner import execute, prepare
from workbench.store import TraceStore
from workbench.traffic import Request

BASE, REGRESSED = SCENARIOS / "rollout-baseline.yaml", SCENARIOS / "rollout-candidate-regressed.yaml"
PLAN, UNGUARDED = SCENARIOS / "rollout-plan.yaml", SCENARIOS / "rollout-plan-unguarded.yaml"


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    """The drill under both plans, in one trace database."""
    db = tmp_path_factory.mktemp("rollout") / "t.duckdb"
    with TraceStore(db) as store:
        guarded = run_rollout(prepare_rollout(BASE, REGRESSED, PLAN), store)
        unguarded = run_rollout(prepare_rollout(BASE, REGRESSED, UNGUARDED), store)
    return db, guarded, unguarded


def test_the_guardrails_roll_the_regressed_candidate_back_before_25_percent(drill):
    _, guarded, unguarded = drill
    assert guarded.rolled_back and not unguarded.rolled_back
    back = guarded.stages[-1]
    assert back.decision == "rollback" and back.share < 0.25
    assert all(s.share < 0.25 for s in guarded.stages)
    assert back.evidence["guardrails"]["quality"]["verdict"] == "fail"  # caught by quality alone: it is silent
    assert all(g["verdict"] != "fail" for m, g in back.evidence["guardrails"].items() if m != "quality")
    assert unguarded.stages[-1].share == 1.0 and unguarded.stages[-1].decision == "complete"
    # the candidate regresses from t=0: every request it served was exposed
    assert guarded.exposed_requests == guarded.candidate_requests == 276
    assert unguarded.exposed_requests == unguarded.candidate_requests == 13654
    assert unguarded.exposed_requests >= 10 * guarded.exposed_requests  # 49x here
    assert guarded.requests == unguarded.requests == 20000


def test_the_trace_holds_every_arm_and_every_decision(drill):
    db, guarded, unguarded = drill
    with duckdb.connect(str(db), read_only=True) as con:
        arms = dict(con.execute("SELECT arm, count(*) FROM requests WHERE run_id = ? GROUP BY arm",
                                [guarded.run_id]).fetchall())
        assert arms == {"baseline": 20000 - 276, "candidate": 276}
        late = con.execute("SELECT count(*) FROM requests WHERE run_id = ? AND arm = 'candidate' AND arrival_s > ?",
                           [guarded.run_id, guarded.rolled_back_at_s]).fetchone()[0]
        assert late == 0  # after the rollback every request went to the baseline
        out = rollout_readout(con, guarded.run_id)
        assert out["rolled_back"] and out["rolled_back_at_s"] == pytest.approx(guarded.rolled_back_at_s)
        assert (out["candidate_requests"], out["exposed_requests"], out["alerts"]) == (276, 276, [])
        assert [s["decision"] for s in out["stages"]] == [s.decision for s in guarded.stages]
        assert out["stages"][-1]["evidence"]["guardrails"]["quality"]["p_value"] <= 0.05 / 4
        table = stage_table(con, guarded.run_id)
        assert list(table.decision) == [s.decision for s in guarded.stages] and "quality" in table
        spec = timeline_chart(con, unguarded.run_id).to_dict()
        assert "(simulated)" in json.dumps(spec["vconcat"][0]["title"])
        cand = con.execute("SELECT avg(quality) FILTER (WHERE category = 'refund'), avg(quality) FILTER "
                           "(WHERE category <> 'refund') FROM requests WHERE run_id = ? AND arm = 'candidate'",
                           [unguarded.run_id]).fetchone()
        base = con.execute("SELECT avg(quality) FILTER (WHERE category = 'refund'), avg(quality) FILTER "
                           "(WHERE category <> 'refund') FROM requests WHERE run_id = ? AND arm = 'baseline'",
                           [unguarded.run_id]).fetchone()
    assert base[0] - cand[0] > 0.4 and abs(base[1] - cand[1]) < 0.02  # refund only: a silent regression


def test_the_drill_designs_briefs(tmp_path):
    with TraceStore(tmp_path / "t.duckdb") as store:
        base, cand = (run_summary(store.con, execute(prepare(p), store)[0]) for p in (BASE, REGRESSED))
    n = 20000
    assert base["requests"] == cand["requests"] == n and base["failed"] == cand["failed"] == 0
    assert base["quality"] == pytest.approx(0.712, abs=0.004) and cand["quality"] == pytest.approx(0.628, abs=0.004)
    assert cand["cost_per_1k_usd"] == pytest.approx(base["cost_per_1k_usd"]) == pytest.approx(0.138, abs=0.001)
    assert cand["p95_latency_s"] == pytest.approx(base["p95_latency_s"]) == pytest.approx(4.1, abs=0.05)


def test_the_report_shows_each_rollouts_timeline(drill):
    from workbench.analysis.report import report_html

    db, guarded, unguarded = drill
    with duckdb.connect(str(db), read_only=True) as con:
        page = report_html(con, [guarded.run_id, unguarded.run_id])
    assert "id='chart-rollout-0'" in page and "id='chart-rollout-1'" in page
    assert "Rollout: traffic per arm (simulated)" in page


def test_false_rollback_rate_on_an_identical_candidate_is_at_most_5_percent_over_100_seeds():
    plan = load_plan(PLAN)
    short = [s.model_copy(update={"min_requests": 250 if s.min_requests else None}) for s in plan.stages]
    plan = plan.model_copy(update={"stages": short})
    rollbacks, reached = 0, []
    for seed in range(100):
        r = run_rollout(prepare_rollout(BASE, BASE, plan, seed=seed, requests=3000))
        rollbacks += r.rolled_back
        reached.append(r.stages[-1].share)
    print(f"false rollbacks: {rollbacks}/100 identical-candidate rollouts; reached 50%: "
          f"{sum(s >= 0.5 for s in reached)}, 100%: {sum(s == 1.0 for s in reached)}")
    assert rollbacks <= 5
    assert sum(s >= 0.5 for s in reached) >= 90  # long enough to pass the canary stages, where looks are many


def test_msprt_statistic_and_its_bound_under_repeated_looks():
    # Lambda = sqrt(V/(V+tau^2)) exp(tau^2 d^2 / (2 V (V+tau^2))), by hand for d=0.1, V=0.001, tau=0.05
    v, t2 = 0.001, 0.0025
    assert msprt(0.1, v, 0.05) == pytest.approx(math.sqrt(v / (v + t2)) * math.exp(t2 * 0.01 / (2 * v * (v + t2))))
    assert msprt(0.0, v, 0.05) < 1.0  # no difference: evidence against "worse"


def test_assignment_is_sticky_by_user_and_grows_with_the_share():
    reqs = [Request(id=f"r{i}", prompt="x", metadata={"user": f"u{i % 50}"} if i % 2 else {}) for i in range(400)]
    units = sticky_units(reqs, ["user", "session"], seed=7)
    by_user: dict[str, set[float]] = {}
    for r, u in zip(reqs, units, strict=True):
        if "user" in r.metadata:
            by_user.setdefault(r.metadata["user"], set()).add(u)
    assert all(len(us) == 1 for us in by_user.values())  # one draw per user: one arm at any share
    anon = [u for r, u in zip(reqs, units, strict=True) if "user" not in r.metadata]
    assert len(set(anon)) == len(anon)  # no key: the request id decides
    on_5 = {i for i, u in enumerate(units) if u < 0.05}
    on_25 = {i for i, u in enumerate(units) if u < 0.25}
    assert on_5 < on_25 and 0.15 < len(on_25) / 400 < 0.35  # a user on the candidate stays as the share grows
    assert sticky_units(reqs, ["user"], seed=8) != units  # another seed, another assignment


def test_a_normal_run_has_no_arm(tmp_path):
    with TraceStore(tmp_path / "t.duckdb") as store:
        rid, _ = execute(prepare(BASE, requests=50), store)
        assert store.con.execute("SELECT count(*), count(arm) FROM requests WHERE run_id = ?", [rid]).fetchone() == (50, 0)
        assert rollout_readout(store.con, rid)["stages"] == []


def test_cli_json_has_the_rollout_keys(tmp_path):
    db = tmp_path / "t.duckdb"
    res = wb("rollout", str(BASE), str(REGRESSED), "--plan", str(PLAN), "--db", str(db), "--json", "--no-progress",
             cwd=tmp_path)
    assert res.returncode == 1, res.stderr  # 1: rolled back
    out = json.loads(res.stdout)
    assert {"stages", "rolled_back", "rolled_back_at_s", "candidate_requests", "exposed_requests", "alerts"} <= out.keys()
    assert out["rolled_back"] and out["exposed_requests"] == 276 and out["arms"] == {"baseline": 19724, "candidate": 276}
    assert out["mode"] == "simulated" and out["requests"] == 20000


@pytest.mark.parametrize("change, field, reason", [
    ("  - {share: 0.05, min_requests: 2000}", "stages[1].share", "stage shares must increase: 0.005 follows 0.01"),
    ("  - {metric: error_rate, margin: 0.01}", "guardrails[1].metric", "Input should be 'quality'"),
    ("  - {share: 0.01, min_requests: 2000}", "stages[0].min_requests", "greater than or equal to 1"),
])
def test_a_bad_plan_is_one_error_naming_file_line_and_field_and_writes_nothing(tmp_path, change, field, reason):
    text = PLAN.read_text()
    bad = {"stages[1].share": "  - {share: 0.005, min_requests: 2000}",
           "guardrails[1].metric": "  - {metric: errors, margin: 0.01}",
           "stages[0].min_requests": "  - {share: 0.01, min_requests: 0}"}[field]
    line = text.splitlines().index(change) + 1
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace(change, bad))
    with pytest.raises(InputError) as exc:
        load_plan(path)
    assert (exc.value.file, exc.value.line, exc.value.field) == (str(path), line, field)
    assert reason in exc.value.reason
    db = tmp_path / "t.duckdb"
    res = wb("rollout", str(BASE), str(REGRESSED), "--plan", str(path), "--db", str(db), cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == "" and not db.exists()
    assert res.stderr.startswith(f"error: {path}:{line}, field '{field}': ")


def test_a_plan_needs_a_minimum_before_its_last_stage():
    with pytest.raises(InputError, match="needs min_requests or min_time_s") as exc:
        parse_plan("stages:\n  - {share: 0.1}\n  - {share: 1.0}\n", "p.yaml")
    assert (exc.value.line, exc.value.field) == (2, "stages[0].min_requests")
