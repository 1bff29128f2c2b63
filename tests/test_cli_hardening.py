"""Issue 12's smaller CLI defects, run as a user runs them: real processes, real pipes, real DuckDB files.

Each test here failed on the code before the fix: a seed out of range failed after the whole replay,
any text was a run id (``../`` reached the export path), ``| head`` ended in a BrokenPipe traceback,
``models nonexistent`` printed nothing and exited 0, and ``policies`` printed reST markup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import SCENARIOS
from helpers import wb

BASELINE = str(SCENARIOS / "support-baseline.yaml")
_SCRIPT = Path(sys.executable).parent / "workbench"
WORKBENCH = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "workbench"]
ENV = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DB"}


@pytest.mark.parametrize("seed", ["9223372036854775808", "-1"])
def test_seed_out_of_range_stops_before_anything_is_written(tmp_path, seed):
    db = tmp_path / "t.duckdb"
    res = wb("run", BASELINE, "--requests", "5", "--seed", seed, "--db", str(db), "--no-progress", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == (f"error: field 'seed': must be a whole number from 0 to 9223372036854775807 "
                                  f"(2**63 - 1: runs store it as a 64-bit integer), got {seed}")
    assert not db.exists()


def test_largest_seed_runs_and_is_stored(tmp_path):
    db = tmp_path / "t.duckdb"
    res = wb("run", BASELINE, "--requests", "5", "--seed", str(2**63 - 1), "--db", str(db), "--json",
             "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT seed FROM runs").fetchall() == [(2**63 - 1,)]
    assert json.loads(res.stdout)["requests"] == 5


# --- run ids: a safe pattern wherever one enters -----------------------------------------------------

BAD_IDS = ["../escape", "a/b", ".hidden", "_under", "x" * 129, "", "run id", "caf\u00e9", "a\nb"]
NOT_ALLOWED = "is not allowed: use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"


@pytest.mark.parametrize("bad", BAD_IDS)
def test_run_id_pattern(bad):
    from workbench.errors import InputError
    from workbench.store.base import check_run_id

    with pytest.raises(InputError) as info:
        check_run_id(bad)
    assert str(info.value) == f"run id {bad!r} {NOT_ALLOWED}"
    assert check_run_id("x" * 128) == "x" * 128 and check_run_id("0.9_a-b") == "0.9_a-b"


def test_run_id_outside_the_safe_pattern_is_one_error_in_every_command(tmp_path):
    db, bad = tmp_path / "t.duckdb", "../escape"
    for args in (["run", BASELINE, "--requests", "3", "--run-id", bad], ["resume", bad], ["report", bad, "--out",
                 str(tmp_path / "r.html")], ["report", "ok", "--baseline", bad, "--out", str(tmp_path / "r.html")],
                 ["audit", "verify", bad], ["audit", "show", bad, "--request", "T0001"]):
        res = wb(*args, "--db", str(db), cwd=tmp_path)
        assert res.returncode == 2 and res.stderr == f"error: run id {bad!r} {NOT_ALLOWED}\n", (args, res.stderr)
    assert list(tmp_path.iterdir()) == []  # no database, no report, nothing outside tmp_path either


def test_safe_run_id_runs_and_long_scenario_names_still_make_valid_ids(tmp_path):
    from workbench.runner import new_run_id
    from workbench.store.base import check_run_id

    res = wb("run", BASELINE, "--requests", "3", "--run-id", "Nightly_2026.12-01", "--db", str(tmp_path / "t.duckdb"),
             "--json", "--no-progress", cwd=tmp_path)
    assert res.returncode == 0 and json.loads(res.stdout)["run_id"] == "Nightly_2026.12-01"
    assert check_run_id(new_run_id("n" * 300)).startswith("n" * 100 + "-")


def test_export_refuses_a_run_id_that_would_leave_the_folder(tmp_path):
    from workbench.errors import InputError
    from workbench.store import TraceStore
    from workbench.store.export import export_run

    with TraceStore(tmp_path / "t.duckdb") as store, pytest.raises(InputError, match="is not allowed"):
        export_run(store, "../../outside", tmp_path / "out", fmt="csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.duckdb"]


# --- pipes: `| head` ends quietly --------------------------------------------------------------------

def _into_closed_pipe(*args: str, cwd) -> subprocess.CompletedProcess:
    """Run ``workbench args`` with stdout a pipe whose reader has already gone: every write fails with
    EPIPE, as when `head` has read its lines and exited (exact, where a real `| head` is a race)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([*WORKBENCH, *args], stdout=write, stderr=subprocess.PIPE, text=True, cwd=cwd,
                              env=ENV, timeout=300)
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [["models", "gpt-4o"], ["policies"],
                                  ["run", BASELINE, "--requests", "20", "--no-progress"]],
                         ids=["models", "policies", "run"])
def test_a_reader_that_went_away_is_exit_141_without_traceback(tmp_path, args):
    res = _into_closed_pipe(*args, "--db", str(tmp_path / "t.duckdb"), cwd=tmp_path) if args[0] == "run" else \
        _into_closed_pipe(*args, cwd=tmp_path)
    assert (res.returncode, res.stderr) == (141, "")


def test_real_head_pipeline_reads_its_lines_and_nothing_breaks(tmp_path):
    writer = subprocess.Popen([*WORKBENCH, "policies"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              cwd=tmp_path, env=ENV)
    head = subprocess.run(["head", "-n", "2"], stdin=writer.stdout, capture_output=True, text=True, timeout=60)
    writer.stdout.close()
    err = writer.stderr.read().decode()
    writer.stderr.close()
    assert writer.wait(timeout=60) in (0, 141) and err == ""  # 0 when every line fit in the pipe first
    assert head.returncode == 0 and head.stdout.startswith("cascade ") and len(head.stdout.splitlines()) == 2


# --- models and policies: say what was found, in plain text --------------------------------------------

def test_models_without_a_match_says_so_and_exits_1(tmp_path):
    res = wb("models", "nonexistent", cwd=tmp_path)
    assert (res.returncode, res.stdout, res.stderr) == (1, "", "no model matches 'nonexistent'\n")


def test_policies_prints_plain_text(tmp_path):
    res = wb("policies", cwd=tmp_path)
    assert res.returncode == 0 and "`" not in res.stdout
    assert "static       Send every request to 'target'." in res.stdout.splitlines()
    listing = json.loads(wb("policies", "--json", cwd=tmp_path).stdout)
    assert not any("`" in p["description"] for p in listing)
