"""Sweeps end to end: every trial a stored run under the sweep id, a process pool row for row equal to
serial, Optuna repeatable with its seed, the front and the cheapest design meeting the constraints,
and the shipped support space through the ``workbench sweep`` command."""

from __future__ import annotations

import json
import textwrap

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import SCENARIOS
from helpers import run, wb

from workbench.errors import InputError
from workbench.analysis.sweep import pareto_mask, sweep_result, sweep_table
from workbench.scenario import load_scenario
from workbench.store import TraceStore
from workbench.sweep import parse_space, plan_sweep, run_sweep

SCENARIO = """\
name: sw
seed: 7
fleet:
  small: {model: gpt-4o-mini}
  large: {model: gpt-4o}
router: {policy: weighted, params: {weights: {small: 0.75, large: 0.25}}}
fallbacks:
  small: [{to: large}]
graders: [{type: exact}]
traffic: {source: traffic.jsonl, arrival: {process: poisson, rate_per_s: 5}}
"""
SPACE = """\
sampler: random
trials: 5
seed: 1
constraints: ["quality >= 0.5"]
params:
  router.params.weights.large: {float: [0.1, 3.0], log: true}
  retries.max_retries: {int: [0, 3]}
  fleet.small.model: {choices: [gpt-4o-mini, gpt-4.1-mini]}
"""


def sweep(scenario_path, db, space_text=SPACE, executor="serial", sweep_id="sw-1", **kw) -> str:
    scn = load_scenario(scenario_path)
    plan = plan_sweep(scn, parse_space(space_text, scn), space_text=space_text, **kw)
    with TraceStore(db) as store:
        return run_sweep(plan, store, executor=executor, workers=2, sweep_id=sweep_id)


def dump(db) -> dict[str, pd.DataFrame]:
    """Every row a sweep wrote, in a stable order (the run rows without their wall-clock times)."""
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            "runs": con.execute("SELECT * EXCLUDE (started_at, finished_at) FROM runs ORDER BY run_id").df(),
            "requests": con.execute("SELECT * FROM requests ORDER BY run_id, seq").df(),
            "attempts": con.execute("SELECT * FROM attempts ORDER BY run_id, request_id, attempt_no").df(),
            "trials": con.execute("SELECT * FROM sweep_trials ORDER BY trial").df(),
        }


def test_a_process_pool_writes_the_same_rows_as_serial(scenario_file, tmp_path):
    path = scenario_file(SCENARIO, n=60, difficulty=0.6)
    sweep(path, tmp_path / "serial.duckdb")
    sweep(path, tmp_path / "pool.duckdb", executor="process")
    serial, pool = dump(tmp_path / "serial.duckdb"), dump(tmp_path / "pool.duckdb")
    assert len(serial["trials"]) == 6 and len(serial["runs"]) == 6 and len(serial["requests"]) == 6 * 60
    for name in serial:
        pd.testing.assert_frame_equal(serial[name], pool[name])
    # the baseline trial is the scenario as written: the same rows as `workbench run` over it
    rid, summary = run(path, tmp_path / "plain.duckdb")
    with TraceStore(tmp_path / "serial.duckdb", read_only=True) as store:
        base = sweep_result(store.con, "sw-1")["baseline"]
        info = store.run_info(base["run_id"])
    assert (base["cost_usd"], base["quality"], base["p95_latency_s"]) == \
        (summary["cost_usd"], summary["quality"], summary["p95_latency_s"])
    assert info["scenario"] == "sw" and info["status"] == "completed"


@pytest.mark.parametrize("algorithm", ["tpe", "nsga2"])
def test_optuna_repeats_with_its_seed_and_learns_in_batches(scenario_file, tmp_path, algorithm):
    path = scenario_file(SCENARIO, n=40, difficulty=0.6)
    space = SPACE.replace("sampler: random", f"sampler: optuna\nbatch: 3\nalgorithm: {algorithm}").replace(
        "trials: 5", "trials: 6")
    a = sweep(path, tmp_path / "a.duckdb", space, objectives=["cost", "quality"])
    b = sweep(path, tmp_path / "b.duckdb", space, objectives=["cost", "quality"], sweep_id="sw-2")
    with TraceStore(tmp_path / "a.duckdb", read_only=True) as sa, TraceStore(tmp_path / "b.duckdb", read_only=True) as sb:
        ta, tb = sweep_table(sa.con, a), sweep_table(sb.con, b)
    assert len(ta) == 7 and ta["params"].tolist() == tb["params"].tolist()
    assert ta["cost_usd"].tolist() == tb["cost_usd"].tolist()
    assert len({json.dumps(p, sort_keys=True) for p in ta["params"][1:]}) > 1


def test_the_front_and_the_cheapest_feasible_design(scenario_file, tmp_path):
    path = scenario_file(SCENARIO, n=80, difficulty=0.6)
    space = """\
sampler: grid
objectives: [cost, quality]
constraints: ["quality >= 0.75"]
params:
  router.params.weights.large: {choices: [0.25, 1.0, 3.0, 100.0]}
"""
    sid = sweep(path, tmp_path / "g.duckdb", space)
    with TraceStore(tmp_path / "g.duckdb", read_only=True) as store:
        df = sweep_table(store.con, sid)
        result = sweep_result(store.con, sid)
    # weight 0.25 is the baseline's design: the trial shares its run
    assert df.loc[1, "run_id"] == df.loc[0, "run_id"] and df["run_id"].nunique() == 4
    assert df["cost_per_1k_usd"].is_monotonic_increasing  # more to gpt-4o costs more...
    feasible = df[df["quality"] >= 0.75]
    best = result["best"]
    assert best["trial"] == int(feasible.sort_values("cost_per_1k_usd")["trial"].iloc[0]) == 3
    assert best["vs_baseline"]["cost_per_1k_delta"] == pytest.approx(
        best["cost_per_1k_usd"] - result["baseline"]["cost_per_1k_usd"])
    assert best["vs_baseline"]["cost_per_1k_lo"] > 0  # it costs more than the baseline, surely
    assert df["feasible"].tolist() == [False, False, False, True, True]
    assert df["on_front"].all()  # each step buys quality with cost: no design dominates another


def test_pareto_mask_by_direction():
    df = pd.DataFrame({"cost_per_1k_usd": [1.0, 2.0, 2.0, 3.0, 1.0, np.nan],
                       "quality": [0.5, 0.7, 0.6, 0.7, 0.5, 0.9]})
    objectives = [{"metric": "cost_per_1k_usd", "direction": "minimize"},
                  {"metric": "quality", "direction": "maximize"}]
    # row 1 beats row 2 (as cheap, better) and row 3 (cheaper, as good); rows 0 and 4 tie, so neither
    # dominates the other; a row missing a figure is on no front
    assert pareto_mask(df, objectives).tolist() == [True, True, False, False, True, False]


@pytest.mark.slow
def test_the_shipped_support_space_names_its_cheapest_design(tmp_path):
    """The README's command (about 30 s: 29 replays of a day of tickets)."""
    out = tmp_path / "best.yaml"
    proc = wb("sweep", str(SCENARIOS / "support-tiered.yaml"), "--space", str(SCENARIOS / "sweeps" / "support-space.yaml"),
              "--json", "--out", str(out), "--db", str(tmp_path / "t.duckdb"), "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    best = result["best"]
    assert len(result["trials"]) == 29 and result["modes"] == ["simulated"]
    assert best["params"] == {"fleet.small.model": "gpt-4o-mini", "router.params.scorer": {"type": "length"},
                              "router.params.strong_share": 0.4}
    assert best["quality"] >= 0.85 and best["error_rate"] <= 0.01
    cheaper = [t for t in result["trials"] if t["cost_per_1k_usd"] < best["cost_per_1k_usd"]]
    assert cheaper and all(t["quality"] < 0.85 for t in cheaper)
    vs = best["vs_baseline"]
    assert vs["quality_lo"] < vs["quality_delta"] < vs["quality_hi"] and vs["n"] == 370
    # the written design replays to the trial's own figures
    _, summary = run(out, tmp_path / "again.duckdb")
    assert (summary["cost_usd"], summary["quality"]) == (best["cost_usd"], best["quality"])
    assert textwrap.dedent(out.read_text()).startswith("# Cheapest design meeting quality>=0.85, error_rate<=0.01")


def test_a_sweep_id_that_is_no_valid_run_id_is_refused_before_anything_is_written(scenario_file, tmp_path):
    """Trial run ids are '<sweep id>-tNNN', so a sweep id obeys the run-id pattern (no '../', no markup)."""
    path = scenario_file(SCENARIO, n=20, difficulty=0.6)
    db = tmp_path / "t.duckdb"
    for bad in ("sw-<b>", "../x", "-x"):
        with pytest.raises(InputError, match="is not allowed"):
            sweep(path, db, sweep_id=bad)
    with TraceStore(db, read_only=True) as st:
        assert st.con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        assert st.con.execute("SELECT count(*) FROM sweeps").fetchone()[0] == 0
