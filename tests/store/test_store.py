"""The trace store: migrations, atomic batches, locking, and untouched files on bad input."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import duckdb
import pytest
from conftest import ROOT

from workbench.errors import StoreError
from workbench.store import ATTEMPT_COLUMNS, REQUEST_COLUMNS, AttemptRow, RequestRow, RunInfo, TraceStore

INFO = RunInfo("r1", "s", "name: s\n", "h", None, "t.jsonl", "th", 2, 1, "simulated", {"m": "simulated"}, "0")


def request_row(rid: str, seq: int) -> RequestRow:
    return RequestRow("r1", seq, rid, "billing", 0.5, 0.0, 0.0, 1.0, 1.0, "static", "m", "static route", None, "m", "ok",
            None, 1, 0, 0, False, 10, 20, 0.001, 1.0, "answer", 0, 0, '{"exact":1.0}', "ab" * 32)


def attempt_row(rid: str) -> AttemptRow:
    return AttemptRow("r1", rid, 1, "m", "gpt-4o", "simulated", False, False, 0.0, 1.0, 0.0, True, None, None, 10, 20,
            0.001, 1.0, "answer", "answer", '{"exact":1.0}', None)


MIGRATIONS = sorted((ROOT / "workbench" / "store" / "migrations").glob("*.sql"))


def test_migrations_apply_once(db):
    numbers = [int(p.name.split("_")[0]) for p in MIGRATIONS]
    newest = numbers[-1]
    assert numbers == list(range(1, len(MIGRATIONS) + 1)) and newest >= 10  # 001, 002, ...: no gap, none twice
    with TraceStore(db) as st:
        assert st.schema_version() == newest
    with TraceStore(db) as st:
        assert st.con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(MIGRATIONS),)
        cols = [r[0] for r in st.con.execute("DESCRIBE requests").fetchall()]
        assert tuple(cols) == REQUEST_COLUMNS
        assert tuple(r[0] for r in st.con.execute("DESCRIBE attempts").fetchall()) == ATTEMPT_COLUMNS


def test_batches_are_atomic_and_earlier_batches_survive(db):
    with TraceStore(db) as st:
        st.begin_run(INFO)
        st.write([request_row("a", 0)], [attempt_row("a")])
        broken = request_row("c", 2)._replace(seq="not a number")
        with pytest.raises(StoreError):  # a bad row: the whole second batch is rolled back
            st.write([request_row("b", 1), broken], [attempt_row("b")])
        st.finish_run("r1", "completed")
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT request_id FROM requests").fetchall() == [("a",)]
        assert con.execute("SELECT count(*) FROM attempts").fetchone() == (1,)
        assert con.execute("SELECT status FROM runs").fetchone() == ("completed",)


def test_run_info_and_runs(db):
    with TraceStore(db) as st:
        st.begin_run(INFO)
        assert st.run_info("r1")["model_modes"] == '{"m": "simulated"}'
        assert list(st.runs().run_id) == ["r1"]
        with pytest.raises(StoreError, match="no run 'nope'"):
            st.run_info("nope")


def test_read_only_on_missing_file_is_a_clear_error(db):
    with pytest.raises(StoreError, match="no such trace database"):
        TraceStore(db, read_only=True)
    assert not db.exists()


def test_close_is_idempotent_and_a_closed_store_says_so(db):
    st = TraceStore(db)
    st.close()
    st.close()  # a second close (an outer `with` around a closed store) does not raise
    with pytest.raises(duckdb.ConnectionException, match="already closed"):
        st.con.execute("SELECT 1")
    with TraceStore(db, read_only=True) as again:  # the file was released
        assert again.con.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_database_held_by_another_process(db):
    TraceStore(db).close()
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,sys; c=duckdb.connect({str(db)!r}); "
                               "print('ready', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        before = hashlib.sha256(db.read_bytes()).hexdigest()
        with pytest.raises(StoreError, match="in use by another process"):
            TraceStore(db)
        assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    finally:
        holder.stdin.close()
        code = holder.wait(timeout=30)
        holder.stdout.close()
    assert code == 0


def test_a_version_1_file_is_upgraded_and_keeps_its_rows(db):
    from workbench.store import _migrations

    first = next(sql for version, _, sql in _migrations() if version == 1)
    with duckdb.connect(str(db)) as con:  # a trace file written by workbench 0.1 (migration 001 only)
        con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, "
                    "applied_at TIMESTAMP)")
        con.execute(first)
        con.execute("INSERT INTO schema_migrations VALUES (1, '001_initial.sql', now())")
        con.execute("INSERT INTO attempts VALUES ('r0', 'a', 1, 'm', 'gpt-4o', 'simulated', false, false, "
                    "0, 1, 0, true, NULL, NULL, 1, 2, 0.5, 1.0)")
    with TraceStore(db) as st:
        assert st.schema_version() == int(MIGRATIONS[-1].name.split("_")[0])
        assert st.con.execute("SELECT purpose, cost_usd, response FROM attempts").fetchall() == [("answer", 0.5, None)]


def test_full_disk_is_one_clear_error_and_earlier_runs_survive(tmp_path):
    from conftest import SCENARIOS
    from helpers import wb

    fs = tmp_path / "small-disk"
    fs.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(fs)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        big = tmp_path / "big.yaml"
        big.write_text((SCENARIOS / "support-tiered.yaml").read_text().replace(
            "  source: traffic/support_tickets.jsonl",
            f"  source: {SCENARIOS / 'traffic' / 'support_tickets.jsonl'}\n  replace: true"))
        db = fs / "t.duckdb"
        assert wb("run", str(big), "--db", str(db), "--no-progress", "--run-id", "small", cwd=tmp_path).returncode == 0
        res = wb("run", str(big), "--requests", "60000", "--db", str(db), "--no-progress", cwd=tmp_path)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert res.stderr.startswith("error: ") and "No space left on device" in res.stderr
        assert "rows written before are kept" in res.stderr
        with duckdb.connect(str(db), read_only=True) as con:
            assert con.execute("SELECT status, (SELECT count(*) FROM requests WHERE run_id = 'small') "
                               "FROM runs WHERE run_id = 'small'").fetchone() == ("completed", 370)
    finally:
        assert subprocess.run(["umount", str(fs)]).returncode == 0
