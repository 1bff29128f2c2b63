"""A live run killed over loopback (real SIGKILL, SIGTERM, SIGINT), then resumed: no answered request
is sent again, every request is recorded once.

The kill is exact, not a sleep race: the runner's test hook (``WORKBENCH_TEST_STOP_AFTER_FLUSHES`` /
``..._REQUESTS``, see ``workbench/faults.py``) signals the process right after its k-th flush or
its n-th finished request and prints what was written and pending at that instant. The sim-server
counts the calls it receives per prompt, so "not re-sent" is measured where the money is spent.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import httpx
import pytest
from conftest import write_traffic

from workbench.scenario import parse_scenario
from workbench.simserver import running_server

N = 120
SERVER = parse_scenario("""name: server
fleet:
  small: {model: gpt-4o-mini, sim: {error_rates: {}}}
router: {policy: static, params: {target: small}}
traffic: {source: none.jsonl}
""")
CLIENT = """name: live-kill
seed: 5
concurrency: 8
fleet:
  small: {model: openai/gpt-4o-mini, provider: live, api_base: URL, timeout_s: 20}
router: {policy: static, params: {target: small}}
traffic: {source: TRAFFIC, arrival: {process: poisson, rate_per_s: 20}}
"""
MARK = re.compile(r"workbench-test: (flushes|requests)=(\d+)(?: \(request (\S+)\))?: (\d+) requests written, "
                  r"(\d+) pending; sending (SIG\w+)")


def _workbench(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DB" and not k.startswith("WORKBENCH_TEST_")}
    return subprocess.run([str(Path(sys.executable).parent / "workbench"), *args], cwd=cwd, env={**base, **env},
                          capture_output=True, text=True, timeout=300)


def _calls(url: str) -> dict[str, int]:
    return httpx.get(url.removesuffix("/v1") + "/admin/calls", timeout=10).json()["by_prompt"]


def _recorded(db: Path) -> tuple[str, dict[str, str]]:
    """The run's status and its recorded requests (id -> prompt)."""
    with duckdb.connect(str(db), read_only=True) as con:
        status, = con.execute("SELECT status FROM runs WHERE run_id = 'k'").fetchone()
        ids = {r for (r,) in con.execute("SELECT request_id FROM requests WHERE run_id = 'k'").fetchall()}
    return status, ids


def _kill_and_resume(tmp_path: Path, hook: str, at: int, sig: str):
    """Stop a live run with ``sig`` at the hook, resume it, check the calls; return what the stop left."""
    traffic = write_traffic(tmp_path / "t.jsonl", N)
    prompts = {json.loads(ln)["id"]: json.loads(ln)["prompt"] for ln in traffic.read_text().splitlines()}
    db = tmp_path / "t.duckdb"
    with running_server(SERVER, speed=5) as url:
        path = tmp_path / "live.yaml"
        path.write_text(CLIENT.replace("URL", url).replace("TRAFFIC", str(traffic)))
        killed = _workbench("run", str(path), "--run-id", "k", "--db", str(db), "--no-progress", cwd=tmp_path,
                            **{f"WORKBENCH_TEST_STOP_AFTER_{hook.upper()}": str(at),
                               "WORKBENCH_TEST_STOP_SIGNAL": sig})
        mark = MARK.search(killed.stderr)
        assert mark and mark.group(1) == hook and int(mark.group(2)) == at and mark.group(6) == sig, killed.stderr
        status, kept = _recorded(db)
        assert 0 < len(kept) < N, killed.stderr  # the stop landed mid-run
        before = _calls(url)
        resumed = _workbench("resume", "k", "--db", str(db), "--json", "--no-progress", cwd=tmp_path)
        after = _calls(url)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{N - len(kept):,} requests were left" in resumed.stderr
    # Not one call for a request whose answer was recorded; one call for each of the others.
    sent = {rid: after.get(p, 0) - before.get(p, 0) for rid, p in prompts.items()}
    assert {rid: sent[rid] for rid in kept} == dict.fromkeys(kept, 0)
    assert {rid: n for rid, n in sent.items() if rid not in kept} == {rid: 1 for rid in prompts if rid not in kept}
    with duckdb.connect(str(db), read_only=True) as con:
        count, distinct = con.execute("SELECT count(*), count(DISTINCT request_id) FROM requests "
                                      "WHERE run_id = 'k'").fetchone()
        dup = con.execute("SELECT count(*) FROM (SELECT request_id, attempt_no FROM attempts WHERE run_id = 'k' "
                          "GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
        orphans = con.execute("SELECT count(*) FROM attempts a WHERE run_id = 'k' AND NOT EXISTS (SELECT 1 FROM "
                              "requests r WHERE r.run_id = a.run_id AND r.request_id = a.request_id)").fetchone()[0]
        final, = con.execute("SELECT status FROM runs WHERE run_id = 'k'").fetchone()
    assert count == distinct == N and dup == 0 and orphans == 0 and final == "completed"
    assert json.loads(resumed.stdout)["completed"] == N
    return killed, mark, status, kept


@pytest.mark.slow
def test_sigkill_after_a_timed_flush_keeps_exactly_what_was_flushed(tmp_path):
    killed, mark, status, kept = _kill_and_resume(tmp_path, "flushes", 1, "SIGKILL")
    assert killed.returncode == -signal.SIGKILL
    # N < the 5,000-request batch: this flush was the 2-second one; SIGKILL keeps exactly its rows
    assert status == "running" and len(kept) == int(mark.group(4)) > 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_write_what_finished_mark_the_run_and_exit_with_one_line(tmp_path, sig):
    killed, mark, status, kept = _kill_and_resume(tmp_path, "requests", 5, sig)
    assert killed.returncode == 128 + signal.Signals[sig].value
    written, pending, trigger = int(mark.group(4)), int(mark.group(5)), mark.group(3)
    # the request that triggered the signal was only in memory then: the handler wrote it
    assert pending >= 1 and trigger in kept and len(kept) >= written + pending
    lines = [ln for ln in killed.stderr.splitlines() if not ln.startswith("workbench-test:")]
    assert lines == [f"error: interrupted by {sig}: {len(kept)} of {N} requests recorded; finish it with: "
                     f"workbench resume k --db {tmp_path / 't.duckdb'}"]
    assert status == "interrupted" and killed.stdout == ""
