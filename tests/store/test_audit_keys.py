"""The audit chain against someone who rewrites the whole database: what verify can and cannot tell
without a head kept elsewhere or a key, the head printed by ``run``/``resume``, HMAC-signed chains, and
chains sealed before migration 007 (seal version 1)."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import write_traffic
from audit_scenarios import LOANS
from helpers import run, wb

from workbench.errors import InputError
from workbench.store import TraceStore
from workbench.store.audit import (ATTEMPT_FIELDS, GENESIS, KEY_ENV, REQUEST_FIELDS, audit_record, canonical, link,
                                   record_v2, run_fields, verify_run)

REBUILT = "a chain rebuilt from scratch would pass too"


@pytest.fixture(autouse=True)
def _no_audit_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def loans(tmp_path) -> Path:
    write_traffic(tmp_path / "traffic.jsonl", 200)
    (tmp_path / "loans.yaml").write_text(LOANS)
    return tmp_path / "loans.yaml"


def sql(db: Path, statement: str, params: list | None = None):
    with duckdb.connect(str(db)) as con:
        return con.execute(statement, params or []).fetchall()


def verify(db: Path, rid: str, head: str | None = None, key: bytes | None = None):
    with TraceStore(db, read_only=True) as store:
        return verify_run(store.con, rid, head=head, key=key)


def _rows(con, table: str, rid: str) -> tuple[list[str], dict[str, list[tuple]]]:
    cur = con.execute(f"SELECT * FROM {table} WHERE run_id = ?", [rid])
    cols = [d[0] for d in cur.description]
    out: dict[str, list[tuple]] = {}
    for row in cur.fetchall():
        out.setdefault(row[cols.index("request_id")], []).append(row)
    return cols, out


def rebuild(db: Path, rid: str, key: bytes | None = None, version: int = 2) -> str:
    """What a forger with write access and this source does after editing the traces: seal every row
    again, from the first. Returns the new head."""
    with duckdb.connect(str(db)) as con:
        cur = con.execute("SELECT * FROM runs WHERE run_id = ?", [rid])
        run_row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
        run = run_fields(run_row)
        run_sha = hashlib.sha256(canonical(run).encode()).hexdigest()
        req_cols, reqs = _rows(con, "requests", rid)
        att_cols, atts = _rows(con, "attempts", rid)
        prev, updates = GENESIS, []
        for pos, req_id in con.execute("SELECT pos, request_id FROM audit_trail WHERE run_id = ? ORDER BY pos",
                                       [rid]).fetchall():
            req, calls = reqs[req_id][0], atts.get(req_id, [])
            if version == 1:
                pick = lambda row, cols, names: tuple(row[cols.index(n)] for n in names)  # noqa: E731
                record = audit_record(rid, run_row["scenario_hash"], pick(req, req_cols, REQUEST_FIELDS),
                                      [pick(a, att_cols, ATTEMPT_FIELDS) for a in calls])
            else:
                record = record_v2(rid, run_sha, run if pos == 0 else None, req_cols, req, att_cols, calls)
            canon = canonical(record)
            h = link(prev, canon, key)
            updates.append((prev, h, canon, rid, pos))
            prev = h
        con.executemany("UPDATE audit_trail SET prev_hash = ?, row_hash = ?, row_json = ? WHERE run_id = ? AND pos = ?",
                        updates)
    return prev


def forge(db: Path, rid: str) -> None:
    """Approve a loan, free of charge, in the traces."""
    sql(db, "UPDATE requests SET response = 'approved', cost_usd = 0 WHERE run_id = ? AND seq = 57", [rid])


def truncate(db: Path, rid: str, keep: int) -> None:
    """Leave a run as a kill after ``keep`` sealed requests would: traces and chain end there, cancelled."""
    with duckdb.connect(str(db)) as con:
        gone = "(SELECT request_id FROM audit_trail WHERE run_id = $rid AND pos >= $keep)"
        for table in ("attempts", "requests"):
            con.execute(f"DELETE FROM {table} WHERE run_id = $rid AND request_id IN {gone}", {"rid": rid, "keep": keep})
        con.execute("DELETE FROM audit_trail WHERE run_id = $rid AND pos >= $keep", {"rid": rid, "keep": keep})
        con.execute("UPDATE runs SET status = 'cancelled' WHERE run_id = ?", [rid])


def _head_line(stderr: str, rid: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith(f"audit head {rid}: ")]
    assert len(lines) == 1, stderr
    head = lines[0].split(": ", 1)[1].split(" ", 1)[0]
    assert lines[0].endswith(f"(keep it outside this database; check it with: workbench audit verify {rid} "
                             f"--head {head})")
    return head


# --- without a key: the head kept elsewhere is what catches a rebuild -------------------------------

def test_run_and_resume_print_the_head_to_keep_and_verify_checks_it(loans, tmp_path):
    db = tmp_path / "t.duckdb"
    done = wb("run", str(loans), "--run-id", "loans", "--db", str(db), "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    head = _head_line(done.stderr, "loans")
    assert head == verify(db, "loans").head and len(head) == 64
    checked = wb("audit", "verify", "loans", "--head", head, "--db", str(db), cwd=tmp_path)
    assert checked.returncode == 0 and checked.stdout == (f"intact: 200 rows (run loans, head {head}); ending on "
                                                          "the recorded head\n"), checked.stderr

    truncate(db, "loans", 120)
    cut = wb("audit", "verify", "loans", "--head", head, "--db", str(db), cwd=tmp_path)
    assert cut.returncode == 1 and "not on the recorded head" in cut.stdout  # rows removed from the end
    resumed = wb("resume", "loans", "--db", str(db), "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    new_head = _head_line(resumed.stderr, "loans")
    assert "resumed loans: 80 requests were left" in resumed.stderr
    again = wb("audit", "verify", "loans", "--head", new_head, "--db", str(db), cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.startswith("intact: 200 rows"), again.stdout + again.stderr

    plain = loans.with_name("plain.yaml")
    plain.write_text(LOANS.replace("audit: true\n", ""))
    unaudited = wb("run", str(plain), "--db", str(db), "--no-progress", cwd=tmp_path)
    assert unaudited.returncode == 0 and "audit head" not in unaudited.stderr


def test_a_whole_chain_rebuilt_without_a_key_passes_alone_and_fails_on_the_kept_head(loans, tmp_path):
    db = tmp_path / "t.duckdb"
    rid, _ = run(loans, db)
    kept = verify(db, rid).head
    forge(db, rid)
    assert verify(db, rid).field == "request.cost_usd"  # an edit alone is found
    new_head = rebuild(db, rid)
    assert new_head != kept
    alone = verify(db, rid)
    # The honest answer: a consistent rewrite cannot be told from the original inside the database.
    assert alone.intact and alone.message().endswith(f"head {new_head}); checked against no recorded head "
                                                     f"(--head) and no key, so {REBUILT}")
    res = wb("audit", "verify", rid, "--head", kept, "--db", str(db), cwd=tmp_path)
    assert res.returncode == 1 and res.stdout == (f"broken at the chain: the chain ends on {new_head}, not on the "
                                                  f"recorded head {kept} (rows removed from the end, or the chain "
                                                  "rebuilt)\n")


# --- with a key: HMAC links ----------------------------------------------------------------------

@pytest.fixture
def signed(loans, tmp_path, monkeypatch) -> tuple[Path, str, bytes]:
    """An audited run sealed with a key from the environment (left set)."""
    key = secrets.token_hex(16)
    monkeypatch.setenv(KEY_ENV, key)
    db = tmp_path / "signed.duckdb"
    rid, _ = run(loans, db)
    return db, rid, key.encode()


def test_a_signed_chain_verifies_only_with_its_key_and_the_key_is_never_stored(signed, tmp_path, monkeypatch):
    db, rid, key = signed
    res = verify(db, rid)
    assert res.intact and res.signed and res.message().endswith("; every link signed with the key")
    assert sql(db, "SELECT audit_seal, audit_signed FROM runs WHERE run_id = ?", [rid]) == [(2, True)]
    head = sql(db, "SELECT row_hash FROM audit_trail WHERE run_id = ? ORDER BY pos DESC LIMIT 1", [rid])[0][0]
    assert head == res.head and not verify(db, rid, key=b"another key, long enough").intact
    shown = wb("audit", "show", rid, "--request", "r0004", "--db", str(db), cwd=tmp_path)
    ok = wb("audit", "verify", rid, "--head", head, "--json", "--db", str(db), cwd=tmp_path)
    assert shown.returncode == 0 and ok.returncode == 0 and json.loads(ok.stdout)["signed"] is True
    for text in (shown.stdout + shown.stderr, ok.stdout + ok.stderr):
        assert key.decode() not in text
    assert key not in db.read_bytes()  # nor in the database file

    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(InputError, match=rf"has a signed audit trail \(HMAC-SHA256\): set \${KEY_ENV}"):
        verify(db, rid)
    no_key = wb("audit", "verify", rid, "--db", str(db), cwd=tmp_path)
    assert no_key.returncode == 2 and KEY_ENV in no_key.stderr and not no_key.stdout
    wrong = verify(db, rid, key=b"another key, long enough")
    assert (wrong.intact, wrong.pos, wrong.field) == (False, 0, "row_hash") and "another key" in wrong.problem


def test_a_signed_chain_rebuilt_without_the_key_is_caught(signed, monkeypatch):
    db, rid, key = signed
    forge(db, rid)
    rebuild(db, rid)  # plain SHA-256 links: the forger has no key
    res = verify(db, rid, key=key)
    assert (res.intact, res.pos, res.field) == (False, 0, "row_hash")
    sql(db, "UPDATE runs SET audit_signed = false WHERE run_id = ?", [rid])  # and claim it was never signed
    rebuild(db, rid)
    res = verify(db, rid, key=key)
    assert (res.intact, res.field) == (False, "audit_signed")
    assert "rebuilt by someone who did not have it" in res.problem
    monkeypatch.delenv(KEY_ENV)
    assert "rebuilt from scratch would pass too" in verify(db, rid).message()  # without the key: undetectable


def test_whoever_holds_the_key_can_rebuild_a_signed_chain_so_keep_the_head_too(signed):
    db, rid, key = signed
    kept = verify(db, rid).head
    forge(db, rid)
    rebuild(db, rid, key=key)
    assert verify(db, rid).intact  # a key guards against those without it, not against its holders
    assert not verify(db, rid, head=kept).intact


def test_resuming_a_signed_run_needs_its_key(signed, tmp_path, monkeypatch):
    db, rid, key = signed
    truncate(db, rid, 120)
    monkeypatch.delenv(KEY_ENV)
    res = wb("resume", rid, "--db", str(db), "--no-progress", cwd=tmp_path)
    assert res.returncode == 2 and f"set ${KEY_ENV} to the key" in res.stderr, res.stderr
    monkeypatch.setenv(KEY_ENV, "another key, long enough")
    res = wb("resume", rid, "--db", str(db), "--no-progress", cwd=tmp_path)
    assert res.returncode == 2 and f"${KEY_ENV} is not the key its audit trail was sealed with" in res.stderr
    assert sql(db, "SELECT count(*) FROM requests WHERE run_id = ?", [rid]) == [(120,)]  # nothing written
    monkeypatch.setenv(KEY_ENV, key.decode())
    res = wb("resume", rid, "--db", str(db), "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    head = _head_line(res.stderr, rid)
    assert verify(db, rid, head=head).message() == (f"intact: 200 rows (run {rid}, head {head}); every link signed "
                                                    "with the key and ending on the recorded head")


def test_a_short_key_is_refused_before_anything_is_written(loans, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "short")
    db = tmp_path / "t.duckdb"
    res = wb("run", str(loans), "--db", str(db), "--no-progress", cwd=tmp_path)
    assert res.returncode == 2 and f"${KEY_ENV} is set but shorter than 16 bytes" in res.stderr
    assert sql(db, "SELECT count(*) FROM runs") == [(0,)]


def test_a_key_set_for_an_unsigned_chain_reports_it(loans, tmp_path):
    db = tmp_path / "t.duckdb"
    rid, _ = run(loans, db)
    res = verify(db, rid, key=b"a key, long enough......")
    assert (res.intact, res.field) == (False, "audit_signed")


# --- chains sealed before migration 007 ------------------------------------------------------------

def test_a_chain_sealed_before_migration_007_still_verifies_and_says_what_it_leaves_out(loans, tmp_path):
    db = tmp_path / "t.duckdb"
    rid, _ = run(loans, db)
    # The file as version 006 left it: no seal columns, the chain in version-1 records.
    sql(db, "ALTER TABLE runs DROP COLUMN audit_seal")
    sql(db, "ALTER TABLE runs DROP COLUMN audit_signed")
    sql(db, "DELETE FROM schema_migrations WHERE version = 7")
    rebuild(db, rid, version=1)
    shutil.copyfile(db, tmp_path / "old.duckdb")
    unmigrated = verify(tmp_path / "old.duckdb", rid)  # read-only, as version 006 left it
    assert unmigrated.intact and unmigrated.seal == 1
    TraceStore(db).close()  # opened for writing: migration 007 marks the run seal 1
    assert sql(db, "SELECT audit_seal, audit_signed FROM runs WHERE run_id = ?", [rid]) == [(1, False)]
    res = verify(db, rid)
    assert res.intact and res.seal == 1 and res.message().endswith(
        "; seal v1 (audited before migration 007): cost, tokens, latency, category, retry and fallback flags and "
        "the scenario text are not sealed")
    sql(db, "UPDATE requests SET cost_usd = 0 WHERE run_id = ?", [rid])
    assert verify(db, rid).intact  # what seal v1 never covered, it cannot catch
    sql(db, "UPDATE requests SET response = 'approved' WHERE run_id = ? AND seq = 57", [rid])
    assert verify(db, rid).field == "final.output"  # what it covered, it still does
