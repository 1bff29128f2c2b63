"""The ``workbench`` command, run as a user runs it: a real process, a real DuckDB file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest
from conftest import SCENARIOS
from helpers import wb

BASELINE, TIERED = str(SCENARIOS / "support-baseline.yaml"), str(SCENARIOS / "support-tiered.yaml")
KEYS = {"run_id", "scenario", "mode", "requests", "completed", "failed", "cost_usd", "cost_per_1k_usd",
        "quality", "p50_latency_s", "p95_latency_s", "error_rate", "fallback_rate", "retry_rate",
        "handoff_rate", "by_model"}


def test_compare_json_matches_the_database(tmp_path):
    db = tmp_path / "t.duckdb"
    res = wb("compare", BASELINE, TIERED, "--requests", "150", "--db", str(db), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    runs = json.loads(res.stdout)
    assert [r["scenario"] for r in runs] == ["support-baseline", "support-tiered"]
    assert "150/150" in res.stderr  # the progress bar went to stderr
    with duckdb.connect(str(db), read_only=True) as con:
        for r in runs:
            assert KEYS <= r.keys() and r["mode"] == "simulated" and r["requests"] == 150
            total = con.execute("SELECT sum(cost_usd) FROM requests WHERE run_id = ?", [r["run_id"]]).fetchone()[0]
            assert r["cost_usd"] == pytest.approx(total, rel=1e-12)
            assert all({"requests", "cost_usd", "errors"} <= m.keys() for m in r["by_model"].values())
        seeds = con.execute("SELECT DISTINCT seed, traffic_hash, requests_planned FROM runs").fetchall()
    assert len(seeds) == 1  # same traffic, sample and seed for both
    assert runs[1]["cost_usd"] < runs[0]["cost_usd"] / 2  # the tiered design is the cheaper one
    assert runs[0]["vs_baseline"] is None
    d = runs[1]["vs_baseline"]
    assert d["d_quality"] == pytest.approx(runs[1]["quality"] - runs[0]["quality"])
    assert d["d_quality_lo"] <= d["d_quality"] <= d["d_quality_hi"]
    assert d["d_cost_per_1k_usd"] == pytest.approx(runs[1]["cost_per_1k_usd"] - runs[0]["cost_per_1k_usd"])
    assert d["d_cost_per_1k_hi"] < 0  # cheaper, beyond noise
    assert runs[0]["strong_share"] == 1.0 and 0 < runs[1]["strong_share"] < 0.5
    # better but dearer against cheaper but worse: routing trades, so nothing says it is not needed
    assert runs[1]["quality"] < runs[0]["quality"] and all(r["no_routing_needed"] is None for r in runs)


def test_run_text_output_and_runs_listing(tmp_path):
    res = wb("run", TIERED, "--requests", "40", "--seed", "3", "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "support-tiered" in res.stdout and "cost (USD)" in res.stdout and "seed 3" in res.stdout
    assert res.stderr == ""
    assert (tmp_path / "workbench.duckdb").exists()  # the default database, in the working directory
    listing = wb("runs", "--json", cwd=tmp_path)
    assert listing.returncode == 0 and json.loads(listing.stdout)[0]["scenario"] == "support-tiered"


def test_bad_scenario_is_one_line_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(TIERED).read_text().replace("concurrency: 32", "concurency: 32"))
    db = tmp_path / "t.duckdb"
    res = wb("compare", BASELINE, str(bad), "--db", str(db), cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == ""
    line = Path(TIERED).read_text().splitlines().index("concurrency: 32") + 1
    assert res.stderr.strip() == f"error: {bad}:{line}, field 'concurency': unknown field (check the " \
                                 "spelling; see the scenario reference in README.md)"
    assert not db.exists()  # not even for the valid first scenario


def test_malformed_traffic_leaves_an_existing_database_untouched(tmp_path):
    db = tmp_path / "t.duckdb"
    assert wb("run", BASELINE, "--requests", "10", "--db", str(db), "--no-progress", cwd=tmp_path).returncode == 0
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    traffic = tmp_path / "t.jsonl"
    traffic.write_text('{"id": "a", "prompt": "hi"}\n{"id": "b", "prompt": "hi", "difficulty": 7}\n')
    res = wb("run", BASELINE, "--traffic", str(traffic), "--db", str(db), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().startswith(f"error: {traffic}:2, field 'difficulty': difficulty must be")
    assert "Traceback" not in res.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_requests_must_be_positive(tmp_path):
    res = wb("run", BASELINE, "--requests", "0", cwd=tmp_path)
    assert res.returncode == 2 and "--requests: must be a whole number of at least 1" in res.stderr
    assert not (tmp_path / "workbench.duckdb").exists()
