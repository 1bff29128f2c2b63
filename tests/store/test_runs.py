"""Run management: label, rename (a new id in every run-keyed table) and delete (every row, one
transaction); audited and running runs are refused with a message that says why."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from conftest import SCENARIOS
from helpers import run, tiered_scenario

from workbench.errors import InputError, StoreError
from workbench.store import TraceStore
from workbench.store.runs import RUN_TABLES, delete_run, label_run, list_runs, rename_run


@pytest.fixture(scope="module")
def _stored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    db = folder / "t.duckdb"
    base, _ = run(SCENARIOS / "support-baseline.yaml", db, requests=40)
    tiered, _ = run(SCENARIOS / "support-tiered.yaml", db, requests=40)
    audited_yaml = tiered_scenario(folder / "audited.yaml", 30, SCENARIOS / "traffic" / "support_tickets.jsonl",
                                   extra="audit: true\n")
    audited, _ = run(audited_yaml, db)
    return db, base, tiered, audited


@pytest.fixture
def stored(_stored, tmp_path):
    """A copy of the module's database per test (tests delete and rename)."""
    db, *ids = _stored
    copy = tmp_path / "t.duckdb"
    shutil.copyfile(db, copy)
    return copy, *ids


def counts(db, run_id: str) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t} WHERE run_id = ?", [run_id]).fetchone()[0]
                for t in ("runs", *RUN_TABLES)}


def test_list_is_newest_first_with_labels_and_sizes(stored):
    db, base, tiered, audited = stored
    with TraceStore(db) as st:
        label_run(st, tiered, "  before the price change ")
        runs = list_runs(st)
    assert list(runs.run_id) == [audited, tiered, base]
    row = runs.set_index("run_id")
    assert row.loc[tiered, "label"] == "before the price change" and row.loc[base, "label"] == ""
    assert row.loc[base, "requests"] == 40 and bool(row.loc[audited, "audited"]) and not row.loc[base, "audited"]


def test_label_is_one_short_line(stored):
    db, base, *_ = stored
    with TraceStore(db) as st:
        with pytest.raises(InputError, match="one line of at most 80"):
            label_run(st, base, "a\nb")
        with pytest.raises(StoreError, match="no run 'nope'"):
            label_run(st, "nope", "x")
        label_run(st, base, "x")
        label_run(st, base, "")
        assert list_runs(st).set_index("run_id").loc[base, "label"] == ""


def test_delete_removes_every_row_of_the_run_only(stored):
    db, base, tiered, _ = stored
    before_tiered = counts(db, tiered)
    assert counts(db, base)["attempts"] > 40
    with TraceStore(db) as st:
        removed = delete_run(st, base)
    assert removed["requests"] == 40 and removed["runs"] == 1
    assert counts(db, base) == dict.fromkeys(("runs", *RUN_TABLES), 0)
    assert counts(db, tiered) == before_tiered


def test_delete_and_rename_refuse_an_audited_run(stored):
    db, _, _, audited = stored
    before = counts(db, audited)
    assert before["audit_trail"] == 30
    with TraceStore(db) as st:
        with pytest.raises(StoreError, match="is audited: its audit trail is sealed"):
            delete_run(st, audited)
        with pytest.raises(StoreError, match="cannot be renamed"):
            rename_run(st, audited, "other")
    assert counts(db, audited) == before


def test_delete_refuses_a_running_run(stored):
    db, base, *_ = stored
    with TraceStore(db) as st:
        st.con.execute("UPDATE runs SET status = 'running' WHERE run_id = ?", [base])
        with pytest.raises(StoreError, match="still running"):
            delete_run(st, base)
    assert counts(db, base)["requests"] == 40


def test_rename_moves_every_row_to_the_new_id(stored):
    db, base, tiered, _ = stored
    before = counts(db, tiered)
    with TraceStore(db) as st:
        label_run(st, tiered, "tiered v1")
        rename_run(st, tiered, "tiered-v1")
        with pytest.raises(InputError, match="already exists"):
            rename_run(st, base, "tiered-v1")
        with pytest.raises(InputError, match="is not allowed"):
            rename_run(st, base, "../x")
        runs = list_runs(st).set_index("run_id")
    assert counts(db, "tiered-v1") == before and counts(db, tiered)["runs"] == 0
    assert runs.loc["tiered-v1", "label"] == "tiered v1" and runs.loc["tiered-v1", "scenario"] == "support-tiered"


def test_cli_labels_renames_and_deletes(stored, tmp_path):
    from helpers import wb

    db, base, tiered, audited = stored
    res = wb("runs", "label", tiered, "candidate A", "--db", str(db), cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == f"{tiered}: labelled 'candidate A'", res.stderr
    assert wb("runs", "rename", tiered, "cand-a", "--db", str(db), cwd=tmp_path).returncode == 0
    attempts = counts(db, base)["attempts"]
    res = wb("runs", "delete", base, "--db", str(db), cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == f"{base}: deleted (40 requests, {attempts:,} attempts)"
    res = wb("runs", "delete", audited, "--db", str(db), cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.startswith(f"error: run '{audited}' is audited") and res.stdout == ""
    res = wb("runs", "label", base, "--db", str(db), cwd=tmp_path)
    assert res.returncode == 2 and "usage: workbench runs label RUN_ID TEXT" in res.stderr
    listing = wb("runs", "--db", str(db), cwd=tmp_path).stdout
    assert "cand-a" in listing and "candidate A" in listing and base not in listing
