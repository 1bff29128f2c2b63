"""The background run: counters, run ids and the store agree; cancel stops; a failure is one message."""

from __future__ import annotations

import duckdb
import pytest
from conftest import SCENARIOS

from workbench.app.jobs import RunJob
from workbench.errors import WorkbenchError

BASELINE = SCENARIOS / "support-baseline.yaml"
TIERED = SCENARIOS / "support-tiered.yaml"


def stored(db, sql: str, *params):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_two_scenarios_in_the_background(tmp_path):
    job, db = RunJob(), tmp_path / "t.duckdb"
    seen: list[tuple] = []
    progress = job._progress
    job._progress = lambda *a: (seen.append(a), progress(*a))  # record what the page would poll
    job.start([BASELINE, TIERED], db, requests=40, seed=5)
    with pytest.raises(WorkbenchError, match="a run is already in progress"):
        job.start([BASELINE], db)
    assert job.wait(120) and job.state == "completed", job.message
    assert len(job.run_ids) == 2 and job.message == f"2 of 2 runs written to {db}"
    assert (job.count, job.index, job.scenario, job.done, job.total) == (2, 1, "support-tiered", 40, 40)
    rows = stored(db, "SELECT ru.run_id, ru.status, ru.seed, count(*), sum(r.cost_usd) FROM runs ru "
                      "JOIN requests r USING (run_id) GROUP BY ALL")
    by_id = {rid: (status, seed, n, cost) for rid, status, seed, n, cost in rows}
    assert [by_id[r][:3] for r in job.run_ids] == [("completed", 5, 40), ("completed", 5, 40)]
    assert job.spent_usd == pytest.approx(sum(by_id[r][3] for r in job.run_ids), rel=1e-9)
    # the last scenario's own cost stays beside its name; the job's total counts it once
    assert job.cost_usd == pytest.approx(by_id[job.run_ids[-1]][3], rel=1e-9) and job.scenario_done
    assert job.total_usd == job.spent_usd
    assert seen[-1][:2] == (40, 40) and seen[-1][2] == pytest.approx(by_id[job.run_ids[1]][3], rel=1e-9)


def test_cancel_keeps_what_finished(tmp_path):
    job, db = RunJob(), tmp_path / "t.duckdb"
    progress = job._progress
    job._progress = lambda *a: (progress(*a), job.cancel())  # cancel at the first progress report
    job.start([TIERED, BASELINE], db)
    assert job.wait(120) and job.state == "cancelled"
    assert "cancelled" in job.message and len(job.run_ids) == 1  # the second scenario never started
    (status, planned), = stored(db, "SELECT status, requests_planned FROM runs")
    (written,), = stored(db, "SELECT count(*) FROM requests")
    assert status == "cancelled" and planned == 370 and 0 < written < 370


def test_bad_input_fails_with_one_line_and_writes_nothing(tmp_path):
    job, db = RunJob(), tmp_path / "t.duckdb"
    job.start([BASELINE, TIERED], db, requests=1000)
    assert job.wait(60) and job.state == "failed"
    assert job.message == (f"{SCENARIOS / 'traffic' / 'support_tickets.jsonl'}: asked for 1000 requests but the "
                           "file holds 370 (sample fewer, or set traffic.replace: true)")
    assert job.run_ids == [] and not db.exists()
    with pytest.raises(WorkbenchError, match="pick at least one scenario"):
        job.start([], db)
