"""The audit trail: an intact chain verifies; any edit of the traces or the chain names its row; a
SIGKILLed audited run, resumed, still verifies; canonical JSON survives DuckDB and pandas."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from audit_scenarios import LOANS
from conftest import SCENARIOS, write_traffic
from helpers import run, sigkill_mid_run, tiered_scenario, wb

from workbench.errors import InputError, StoreError
from workbench.store import ATTEMPT_COLUMNS, REQUEST_COLUMNS, AttemptRow, RequestRow, RunInfo, TraceStore
from workbench.store.audit import (GENESIS, KEY_ENV, RUN_UNSEALED, canonical, chain_hash, record_v2, request_trail,
                                   run_fields, verify_run)


@pytest.fixture(scope="module", autouse=True)
def _no_audit_key():
    """These tests seal without a key whatever the environment holds (tests/store/test_audit_keys.py signs)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(KEY_ENV, raising=False)
        yield


@pytest.fixture(scope="module")
def _audited_file(tmp_path_factory, _no_audit_key) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("audited")
    write_traffic(folder / "traffic.jsonl", 200)
    (folder / "s.yaml").write_text(LOANS)
    rid, summary = run(folder / "s.yaml", folder / "t.duckdb")
    assert summary["requests"] == 200
    return folder / "t.duckdb", rid


@pytest.fixture
def audited(_audited_file, db) -> str:
    """A 200-request audited run (a copy per test): wrong model answers escalate to a loan officer (an
    override), failed calls fall back to the officer (no model answer to override)."""
    shutil.copyfile(_audited_file[0], db)
    return _audited_file[1]


def verify(db: Path, rid: str, head: str | None = None):
    with TraceStore(db, read_only=True) as store:
        return verify_run(store.con, rid, head=head)


def sql(db: Path, statement: str, params: list | None = None):
    with duckdb.connect(str(db)) as con:
        return con.execute(statement, params or []).fetchall()


def test_an_intact_chain_verifies_and_records_overrides(audited, db):
    res = verify(db, audited)
    assert (res.intact, res.rows) == (True, 200)
    rows = sql(db, "SELECT a.pos, a.prev_hash, a.row_hash, a.row_json, r.end_s FROM audit_trail a JOIN requests r "
                   "USING (run_id, request_id) WHERE run_id = ? ORDER BY a.pos", [audited])
    assert [r[0] for r in rows] == list(range(200)) and rows[0][1] == GENESIS
    assert all(b[1] == a[2] for a, b in zip(rows, rows[1:]))  # each row links to the one before
    assert res.head == rows[-1][2]
    ends = [r[4] for r in rows]
    assert ends == sorted(ends)  # chained in the order written: requests finish in virtual-time order
    records = [json.loads(r[3]) for r in rows]
    assert all(chain_hash(r[1], r[3]) == r[2] for r in rows)
    overrides = sum(r["human_override"] for r in records)
    escalated, fell_back = sql(db, "SELECT count(*) FILTER (escalations > 0), count(*) FILTER (handoff AND "
                                   "escalations = 0) FROM requests WHERE run_id = ?", [audited])[0]
    assert overrides == escalated == 75  # every escalated wrong answer was replaced by the officer's
    assert fell_back == 27 and not any(r["human_override"] for r in records if r["request"]["handoff"]
                                       and not any(a["purpose"] == "escalation" for a in r["attempts"]))
    first_override = next(r for r in records if r["human_override"])
    model, human = first_override["attempts"]
    assert (model["provider"], model["verdicts"], human["provider"], human["response"]) == \
        ("simulated", {"exact": 0}, "human", "explain_charge")
    assert verify(db, audited, head=res.head).intact
    assert not verify(db, audited, head="f" * 64).intact
    with pytest.raises(InputError, match="--head 'f00': not a chain head"):
        verify(db, audited, head="f00")


def _target(db: Path, rid: str, pos: int) -> tuple[str, int]:
    return sql(db, "SELECT request_id, seq FROM audit_trail WHERE run_id = ? AND pos = ?", [rid, pos])[0]


TAMPER = {
    # name: (SQL with {rid} and {req}, the broken row's pos (None: past the chain), field or None)
    "final answer": ("UPDATE requests SET response = 'approved' WHERE run_id = '{rid}' AND request_id = '{req}'",
                     57, "request.response"),
    "attempt answer": ("UPDATE attempts SET response = 'approved' WHERE run_id = '{rid}' AND request_id = '{req}' "
                       "AND attempt_no = 1", 57, "attempts[attempt_no=1].response"),
    "attempt verdict": ("UPDATE attempts SET verdicts = '{{\"exact\":0.5}}' WHERE run_id = '{rid}' AND "
                        "request_id = '{req}' AND attempt_no = 1", 57, "attempts[attempt_no=1].verdicts.exact"),
    "request verdict, same value as 1.0": ("UPDATE requests SET verdicts = replace(verdicts, ':1}}', ':1.0}}'), "
                                           "quality = quality + 1e-12 WHERE run_id = '{rid}' AND "
                                           "request_id = '{req}'", 57, "request.quality"),
    "deleted audit row": ("DELETE FROM audit_trail WHERE run_id = '{rid}' AND request_id = '{req}'", 58,
                          "prev_hash"),
    "deleted request row": ("DELETE FROM requests WHERE run_id = '{rid}' AND request_id = '{req}'", 57, "request"),
    "reordered chain": ("UPDATE audit_trail SET pos = CASE pos WHEN 57 THEN 58 ELSE 57 END WHERE run_id = '{rid}' "
                        "AND pos IN (57, 58)", 57, "prev_hash"),
    "swapped seqs": ("UPDATE requests SET seq = CASE WHEN request_id = '{req}' THEN (SELECT seq FROM audit_trail "
                     "WHERE run_id = '{rid}' AND pos = 150) ELSE (SELECT seq FROM audit_trail WHERE run_id = '{rid}' "
                     "AND pos = 57) END WHERE run_id = '{rid}' AND request_id IN ('{req}', (SELECT request_id FROM "
                     "audit_trail WHERE run_id = '{rid}' AND pos = 150))", 57, "request.seq"),
    "rewritten hash": ("UPDATE audit_trail SET row_hash = repeat('a', 64) WHERE run_id = '{rid}' AND pos = 57",
                       57, "row_hash"),
    "scenario hash": ("UPDATE runs SET scenario_hash = 'x' WHERE run_id = '{rid}'", 0, "run.scenario_hash"),
    "last row removed": ("DELETE FROM audit_trail WHERE run_id = '{rid}' AND pos = 199", None, None),
}


@pytest.mark.parametrize("case", list(TAMPER))
def test_tampering_names_the_first_broken_row(audited, db, case):
    statement, pos, field = TAMPER[case]
    req, seq = _target(db, audited, 57 if pos is not None else 199)
    sql(db, statement.format(rid=audited, req=req))
    if case.startswith("request verdict"):  # 1 -> 1.0 is no change; 1e-12 on the quality is one
        assert sql(db, "SELECT verdicts FROM requests WHERE request_id = ?", [req]) == [('{"exact":1.0}',)]
    res = verify(db, audited)
    assert not res.intact and res.field == field
    if pos is None:  # the chain itself is whole: the request it no longer covers is named
        assert (res.pos, res.request_id, res.seq) == (None, req, seq) and "not in the audit trail" in res.problem
        return
    if case == "deleted audit row":  # the row after the gap breaks
        req, seq = _target(db, audited, 58)
    if case == "reordered chain":  # the row now at 57 is the one that was at 58
        req, seq = _target(db, audited, 57)
    if case == "scenario hash":
        req, seq = _target(db, audited, 0)
    assert (res.pos, res.request_id, res.seq) == (pos, req, seq)
    assert res.message().startswith(f"broken at row {pos} (seq {seq}, request {req}), field {field}: ")


# --- every stored field is sealed -------------------------------------------------------------------

def _table_columns(table: str) -> list[tuple[str, str]]:
    """(name, type) of every column of ``table`` in a freshly migrated trace database."""
    with TraceStore(":memory:") as store:
        return store.con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                                 "ORDER BY ordinal_position", [table]).fetchall()


TABLE_COLUMNS = {t: _table_columns(t) for t in ("requests", "attempts", "runs")}


def _changed(column: str, kind: str) -> str:
    """SQL for a different value of a column of this type (NULL becomes a value)."""
    if kind == "VARCHAR":
        return f"coalesce({column}, '') || 'x'"
    if kind == "BOOLEAN":
        return f"NOT coalesce({column}, false)"
    assert kind in ("INTEGER", "BIGINT", "DOUBLE"), f"{column}: no edit written for type {kind}"
    return f"coalesce({column}, 0) + 1"


def test_the_writer_writes_every_column_of_requests_and_attempts():
    # the seal is built from what the writer inserts: a column it does not write would not be sealed
    assert [c for c, _ in TABLE_COLUMNS["requests"]] == list(REQUEST_COLUMNS)
    assert [c for c, _ in TABLE_COLUMNS["attempts"]] == list(ATTEMPT_COLUMNS)


def _expected_field(table: str, column: str) -> str:
    if table == "requests":
        return "request" if column in ("run_id", "request_id") else f"request.{column}"  # the row left the request
    if column in ("run_id", "request_id"):
        return "attempts"  # the attempt left the request
    return f"attempts[attempt_no=1].{column}"


@pytest.mark.parametrize("table,column,kind", [(t, c, k) for t in ("requests", "attempts")
                                               for c, k in TABLE_COLUMNS[t]], ids=lambda v: str(v))
def test_editing_any_column_of_requests_or_attempts_breaks_its_row(audited, db, table, column, kind):
    req, seq = _target(db, audited, 57)
    where = f"run_id = '{audited}' AND request_id = '{req}'" + (" AND attempt_no = 1" if table == "attempts" else "")
    assert sql(db, f"SELECT count(*) FROM {table} WHERE {where}") == [(1,)]
    sql(db, f"UPDATE {table} SET {column} = {_changed(column, kind)} WHERE {where}")
    res = verify(db, audited)
    assert (res.intact, res.pos, res.request_id, res.field) == (False, 57, req, _expected_field(table, column))


RUN_SPECIAL = {"run_id": None, "audit": "has no audit trail", "audit_signed": KEY_ENV}  # not a broken row: an error


@pytest.mark.parametrize("column,kind", [(c, k) for c, k in TABLE_COLUMNS["runs"] if c not in RUN_UNSEALED
                                         and c != "run_id"], ids=lambda v: str(v))
def test_editing_any_defining_field_of_the_run_breaks_the_first_row(audited, db, column, kind):
    edit = "1" if column == "audit_seal" else _changed(column, kind)  # seal 2 -> 1: a downgrade
    sql(db, f"UPDATE runs SET {column} = {edit} WHERE run_id = ?", [audited])
    if column in RUN_SPECIAL:
        with pytest.raises(InputError, match=RUN_SPECIAL[column]):
            verify(db, audited)
        return
    res = verify(db, audited)
    assert (res.intact, res.pos) == (False, 0)
    if column == "audit_seal":  # a run claiming seal 1 would be checked against version-1 records
        assert (res.field, res.problem) == ("seal", "the row was sealed as version 2 but the run says version 1")
        return
    assert (res.field, res.problem) == (f"run.{column}", "the stored traces differ from what was sealed")


def test_the_scenario_text_is_sealed_but_the_runs_status_and_times_are_not(audited, db):
    sql(db, "UPDATE runs SET scenario_yaml = replace(scenario_yaml, 'min_score: 1.0', 'min_score: 0.0') "
            "WHERE run_id = ?", [audited])
    res = verify(db, audited)
    assert (res.intact, res.pos, res.field) == (False, 0, "run.scenario_yaml")
    sql(db, "UPDATE runs SET scenario_yaml = replace(scenario_yaml, 'min_score: 0.0', 'min_score: 1.0'), "
            "note = 'edited', started_at = started_at - INTERVAL 1 DAY WHERE run_id = ?", [audited])
    assert verify(db, audited).intact  # what changes as a run goes (status, times, note) is not sealed


def test_a_forged_row_json_is_caught_and_show_says_so(audited, db, tmp_path):
    req, seq = _target(db, audited, 57)
    record = json.loads(sql(db, "SELECT row_json FROM audit_trail WHERE run_id = ? AND pos = 57", [audited])[0][0])
    assert record["request"]["response"] != "approved"
    record["request"]["response"] = "approved"
    sql(db, "UPDATE audit_trail SET row_json = ? WHERE run_id = ? AND pos = 57", [canonical(record), audited])
    res = verify(db, audited)
    assert (res.intact, res.pos, res.request_id, res.field) == (False, 57, req, "row_json.request.response")
    assert "edited after sealing" in res.problem
    shown = wb("audit", "show", audited, "--request", req, "--db", str(db), cwd=tmp_path)
    assert shown.returncode == 1 and shown.stderr.startswith("warning: NOT VERIFIED, this row may be forged: "
                                                             f"broken at row 57 (seq {seq}, request {req})")
    trail = json.loads(shown.stdout)
    assert (trail["verified"], trail["record"]["request"]["response"]) == (False, "approved")
    assert trail["verification"].startswith("broken at row 57")


def test_cli_verify_show_and_runs_without_a_trail(audited, db, scenario_file, tmp_path):
    ok = wb("audit", "verify", audited, "--db", str(db), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert re.fullmatch(rf"intact: 200 rows \(run {audited}, head [0-9a-f]{{64}}\); checked against no recorded "
                        r"head \(--head\) and no key, so a chain rebuilt from scratch would pass too\n", ok.stdout)
    shown = wb("audit", "show", audited, "--request", "r0004", "--db", str(db), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    trail = json.loads(shown.stdout)
    assert trail["record"]["request"]["request_id"] == "r0004" and len(trail["row_hash"]) == 64
    assert trail["verified"] is True and trail["verification"] == ok.stdout.rstrip("\n")
    with TraceStore(db, read_only=True) as store:
        assert request_trail(store.con, audited, "r0004") == trail
        with pytest.raises(InputError, match="no audit row for request 'nope'"):
            request_trail(store.con, audited, "nope")

    sql(db, "UPDATE attempts SET response = 'declined' WHERE run_id = ? AND request_id = 'r0004'", [audited])
    broken = wb("audit", "verify", audited, "--db", str(db), "--json", cwd=tmp_path)
    assert broken.returncode == 1, broken.stderr
    out = json.loads(broken.stdout)
    assert (out["intact"], out["request_id"], out["field"]) == (False, "r0004", "attempts[attempt_no=1].response")

    plain = scenario_file(LOANS.replace("audit: true\n", ""), name="plain.yaml")
    rid, _ = run(plain, db)
    with TraceStore(db, read_only=True) as store:
        assert store.con.execute("SELECT count(*) FROM audit_trail WHERE run_id = ?", [rid]).fetchone() == (0,)
    none = wb("audit", "verify", rid, "--db", str(db), cwd=tmp_path)
    assert none.returncode == 2 and f"run '{rid}' has no audit trail" in none.stderr and not none.stdout
    unknown = wb("audit", "verify", "nope", "--db", str(db), cwd=tmp_path)
    assert unknown.returncode == 2 and "no run 'nope'" in unknown.stderr


# --- canonical JSON -------------------------------------------------------------------------------

FLOATS = [0.1 + 0.2, 1 / 3, 2e-300, 5e-324, 1e22, 123456789.12345679, -0.0, 1.0, 0.8261954745668293, None]


def test_canonical_json_survives_duckdb_and_pandas_round_trips():
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (i INTEGER, x DOUBLE, b BOOLEAN, s VARCHAR)")
        rows = [(k if k % 3 else None, x, k % 2 == 0, None if k == 4 else f"s{k}") for k, x in enumerate(FLOATS)]
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
        fetched = con.execute("SELECT * FROM t ORDER BY rowid").fetchall()
        frame = con.execute("SELECT * FROM t ORDER BY rowid").df()
    assert frame["i"].dtype != object  # pandas holds the INTEGER column with NULLs as floats or Int32
    for orig, back, (_, rec) in zip(rows, fetched, frame.iterrows()):
        texts = {canonical(dict(zip("ixbs", r))) for r in (orig, back, tuple(rec))}
        assert len(texts) == 1, texts
    assert canonical({"a": 1, "b": [1.0, -0.0, np.float64(2.5), np.int64(3), np.bool_(True), pd.NA]}) == \
        '{"a":1,"b":[1,0,2.5,3,true,null]}'
    assert canonical({"x": float("nan"), "y": math.inf}) == '{"x":null,"y":"Infinity"}'
    assert canonical({"x": 0.1 + 0.2}) == '{"x":0.30000000000000004}'  # exact: no rounding hides an edit


def test_a_run_read_back_through_pandas_hashes_the_same(audited, db):
    with duckdb.connect(str(db), read_only=True) as con:
        reqs = con.execute("SELECT * FROM requests WHERE run_id = ?", [audited]).df()
        atts = con.execute("SELECT * FROM attempts WHERE run_id = ?", [audited]).df()
        trail = con.execute("SELECT pos, request_id, prev_hash, row_hash FROM audit_trail WHERE run_id = ? "
                            "ORDER BY pos", [audited]).fetchall()
        cur = con.execute("SELECT * FROM runs WHERE run_id = ?", [audited])
        run = run_fields(dict(zip([d[0] for d in cur.description], cur.fetchone())))
    assert reqs["quality"].isna().sum() == 0 and reqs["decision_score"].isna().all()  # NULLs became NaN
    assert "decision_score" not in json.loads(sql(db, "SELECT row_json FROM audit_trail LIMIT 1")[0][0])["request"]
    run_sha = hashlib.sha256(canonical(run).encode()).hexdigest()
    by_req = {rid: list(g.itertuples(index=False)) for rid, g in atts.groupby("request_id")}
    rows = {r.request_id: tuple(r) for r in reqs.itertuples(index=False)}
    matches = sum(chain_hash(prev, canonical(record_v2(audited, run_sha, run if pos == 0 else None, list(reqs.columns),
                                                       rows[rid], list(atts.columns), by_req[rid]))) == h
                  for pos, rid, prev, h in trail)
    assert matches == 200


# --- transactions, kill and resume ------------------------------------------------------------------

def _row(kind: type[RequestRow] | type[AttemptRow], **values) -> RequestRow | AttemptRow:
    return kind(*(values.get(c) for c in kind._fields))


def test_a_failed_batch_leaves_no_audit_row_and_the_chain_continues(db):
    info = RunInfo("r1", "s", "name: s\n", "h", None, "t.jsonl", "th", 3, 1, "simulated", {"m": "simulated"}, "0",
                   audit=True)
    base = dict(run_id="r1", category="billing", difficulty=0.5, arrival_s=0.0, start_s=0.0, end_s=1.0,
                latency_s=1.0, policy="static", route="m", reason="static", final_target="m", status="ok",
                attempts=1, retries=0, fallbacks=0, handoff=False, prompt_tokens=1, completion_tokens=1,
                cost_usd=0.001, quality=1.0, response="yes", escalations=0, skips=0, verdicts='{"exact":1}',
                prompt_hash="p")
    att = dict(run_id="r1", attempt_no=1, target="m", model="gpt-4o", provider="simulated", is_retry=False,
               is_fallback=False, start_s=0.0, end_s=1.0, wait_s=0.0, ok=True, prompt_tokens=1, completion_tokens=1,
               cost_usd=0.001, score=1.0, purpose="answer", response="yes", verdicts='{"exact":1}')
    with TraceStore(db) as st:
        st.begin_run(info)
        st.write([_row(RequestRow, **base, seq=0, request_id="a")],
                 [_row(AttemptRow, **att, request_id="a")])
        bad = _row(RequestRow, **{**base, "attempts": "many"}, seq=2, request_id="c")
        with pytest.raises(StoreError):
            st.write([_row(RequestRow, **base, seq=1, request_id="b"), bad],
                     [_row(AttemptRow, **att, request_id="b")])
        assert st.con.execute("SELECT request_id FROM audit_trail").fetchall() == [("a",)]
        st.write([_row(RequestRow, **base, seq=1, request_id="b")], [_row(AttemptRow, **att, request_id="b")])
        st.finish_run("r1", "cancelled")
        assert [r[:2] for r in st.con.execute("SELECT pos, request_id FROM audit_trail ORDER BY pos").fetchall()] == \
            [(0, "a"), (1, "b")]
        res = verify_run(st.con, "r1")
    assert (res.intact, res.rows) == (True, 2)


# Killed by the engine's exact fault hook right after the 2nd committed batch of 200 requests.
N = 600


def test_a_killed_audited_run_resumed_still_verifies(tmp_path):
    path = tiered_scenario(tmp_path / "audited.yaml", N, SCENARIOS / "traffic" / "support_tickets.jsonl",
                           extra="audit: true\n")
    db = tmp_path / "t.duckdb"
    sigkill_mid_run(path, db, tmp_path, flushes=2, batch=200)

    kept, sealed = sql(db, "SELECT (SELECT count(*) FROM requests WHERE run_id = 'killed'), "
                           "(SELECT count(*) FROM audit_trail WHERE run_id = 'killed')")[0]
    assert kept == 400 and sealed == kept  # the chain ends exactly where the traces end
    partial = wb("audit", "verify", "killed", "--db", str(db), cwd=tmp_path)
    assert partial.returncode == 0 and partial.stdout.startswith(f"intact: {kept:,} rows"), partial.stderr

    res = wb("resume", "killed", "--db", str(db), "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    head = partial.stdout.split("head ")[1].split(")")[0]
    linked = sql(db, "SELECT prev_hash FROM audit_trail WHERE run_id = 'killed' AND pos = ?", [kept])[0][0]
    assert linked == head  # the resumed part continues the chain from the last stored hash
    done = wb("audit", "verify", "killed", "--db", str(db), cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith(f"intact: {N:,} rows"), done.stdout + done.stderr


def test_a_seal_version_from_a_newer_workbench_is_refused_not_read_as_ours(audited, db):
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE runs SET audit_seal = 3 WHERE run_id = ?", [audited])
    with pytest.raises(StoreError, match=r"sealed with audit seal version 3; this workbench knows versions 1 to 2"):
        verify(db, audited)
    out = wb("audit", "verify", audited, "--db", str(db), cwd=db.parent)
    assert out.returncode != 0 and "audit seal version 3" in out.stderr and "Traceback" not in out.stderr
