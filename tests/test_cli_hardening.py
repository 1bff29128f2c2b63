"""Issue 12's smaller CLI defects, run as a user runs them: real processes, real pipes, real DuckDB files.

Each test here failed on the code before the fix: a seed out of range failed after the whole replay,
any text was a run id (``../`` reached the export path), ``| head`` ended in a BrokenPipe traceback,
``models nonexistent`` printed nothing and exited 0, and ``policies`` printed reST markup.
"""

from __future__ import annotations

import json

import duckdb
import pytest
from conftest import SCENARIOS
from helpers import wb

BASELINE = str(SCENARIOS / "support-baseline.yaml")


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
