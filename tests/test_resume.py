"""A run killed with SIGKILL part way, then resumed: every request recorded exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from conftest import SCENARIOS
from helpers import run, wb

from workbench.errors import InputError
from workbench.runner import resume
from workbench.store import TraceStore

N = 200_000
TRAFFIC = SCENARIOS / "traffic" / "support_tickets.jsonl"


def scenario(tmp_path: Path, n: int = N, source: Path = TRAFFIC) -> Path:
    text = (SCENARIOS / "support-tiered.yaml").read_text().replace(
        "  source: traffic/support_tickets.jsonl\n  arrival: {process: recorded, field: arrived_at}",
        f"  source: {source}\n  sample: {n}\n  replace: true\n  arrival: {{process: poisson, rate_per_s: 8}}")
    path = tmp_path / "big.yaml"
    path.write_text(text)
    return path


def test_sigkill_then_resume(tmp_path):
    db = tmp_path / "t.duckdb"
    script = Path(sys.executable).parent / "workbench"
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DB"}
    proc = subprocess.Popen([str(script), "run", str(scenario(tmp_path)), "--run-id", "killed", "--db", str(db)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    seen: list[int] = []

    def watch() -> None:  # tqdm's progress on stderr: "... 41234/200000 ..."
        buf = b""
        while chunk := os.read(proc.stderr.fileno(), 4096):
            buf = (buf + chunk)[-4096:]
            seen.extend(int(m) for m in re.findall(rb"(\d+)/200000", buf))

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    deadline = time.monotonic() + 240
    while not any(20_000 < s < N for s in seen):
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline, "no progress seen"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    reader.join(timeout=10)
    proc.stderr.close()

    with duckdb.connect(str(db), read_only=True) as con:
        status, = con.execute("SELECT status FROM runs WHERE run_id = 'killed'").fetchone()
        kept = con.execute("SELECT count(*) FROM requests WHERE run_id = 'killed'").fetchone()[0]
    assert status == "running" and 0 < kept < N  # the kill landed mid-run; flushed batches survived

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
