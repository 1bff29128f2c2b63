"""A run killed with SIGKILL part way, then resumed: every request recorded exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import SCENARIOS
from helpers import run, sigkill_mid_run, tiered_scenario, wb

from workbench.errors import InputError
from workbench.runner import resume
from workbench.store import TraceStore

# The kill lands through the engine's exact fault hook right after the 2nd batch of FLUSH requests is
# committed (batches made small by WORKBENCH_TEST_FLUSH_EVERY), so the run need not be large.
N = 600
FLUSH = 200
TRAFFIC = SCENARIOS / "traffic" / "support_tickets.jsonl"


def scenario(tmp_path: Path, n: int = N, source: Path = TRAFFIC) -> Path:
    return tiered_scenario(tmp_path / "big.yaml", n, source)


def test_sigkill_then_resume(tmp_path):
    db = tmp_path / "t.duckdb"
    line = sigkill_mid_run(scenario(tmp_path), db, tmp_path, flushes=2, batch=FLUSH)
    assert f"{2 * FLUSH} requests written" in line

    with duckdb.connect(str(db), read_only=True) as con:
        status, = con.execute("SELECT status FROM runs WHERE run_id = 'killed'").fetchone()
        kept = con.execute("SELECT count(*) FROM requests WHERE run_id = 'killed'").fetchone()[0]
    assert status == "running" and kept == 2 * FLUSH  # exactly the two committed batches survived

    res = wb("resume", "killed", "--db", str(db), "--json", "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"{N - kept:,} requests were left" in res.stderr
    summary = json.loads(res.stdout)
    with duckdb.connect(str(db), read_only=True) as con:
        count, distinct, seqs = con.execute("SELECT count(*), count(DISTINCT request_id), count(DISTINCT seq) "
                                            "FROM requests WHERE run_id = 'killed'").fetchone()
        dup_attempts = con.execute("SELECT count(*) FROM (SELECT request_id, attempt_no FROM attempts "
                                   "WHERE run_id = 'killed' GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
        orphans = con.execute("SELECT count(*) FROM attempts a WHERE run_id = 'killed' AND NOT EXISTS "
                              "(SELECT 1 FROM requests r WHERE r.run_id = a.run_id AND "
                              "r.request_id = a.request_id)").fetchone()[0]
        status, = con.execute("SELECT status FROM runs WHERE run_id = 'killed'").fetchone()
    assert count == distinct == seqs == N and dup_attempts == 0 and orphans == 0
    assert status == "completed" and summary["requests"] == N


def test_resume_of_a_complete_run_and_of_changed_traffic(tmp_path):
    traffic = tmp_path / "t.jsonl"
    traffic.write_bytes(TRAFFIC.read_bytes())
    rid, s = run(scenario(tmp_path, n=50, source=traffic), tmp_path / "t.duckdb")
    with TraceStore(tmp_path / "t.duckdb") as store:
        assert resume(store, rid) == (0, None)
        traffic.write_bytes(TRAFFIC.read_bytes() + b"\n")
        with pytest.raises(InputError, match="changed since run"):
            resume(store, rid)


def test_a_run_id_is_used_once(tmp_path):
    path = scenario(tmp_path, n=20)
    first = wb("run", str(path), "--run-id", "mine", "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = wb("run", str(path), "--run-id", "mine", "--no-progress", cwd=tmp_path)
    assert again.returncode == 2 and "already exists (to finish it: workbench resume mine)" in again.stderr
