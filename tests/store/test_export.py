"""Export of one run's requests and attempts (CSV, Parquet), and the audit queries over the same rows."""

from __future__ import annotations

import csv

import duckdb
import pytest
from conftest import SCENARIOS
from helpers import run, table

from workbench.errors import InputError, StoreError
from workbench.store import ATTEMPT_COLUMNS, REQUEST_COLUMNS, TraceStore
from workbench.store.export import attempt_rows, audit_facets, export_run, request_rows


@pytest.fixture(scope="module")
def tiered(tmp_path_factory):
    """support-tiered over 120 tickets: fallbacks, retries and a human node give varied rows."""
    db = tmp_path_factory.mktemp("export") / "t.duckdb"
    rid, summary = run(SCENARIOS / "support-tiered.yaml", db, requests=120)
    return db, rid, summary


def test_csv_and_parquet_hold_every_row_with_the_mode(tiered, tmp_path):
    db, rid, summary = tiered
    reqs, atts = table(db, "requests", rid), table(db, "attempts", rid)
    with TraceStore(db) as store:
        csv_files = export_run(store, rid, tmp_path / "csv", "csv")
        pq_files = export_run(store.con, rid, tmp_path / "pq", "PARQUET")
    assert csv_files["requests"].name == f"{rid}.requests.csv"
    with csv_files["requests"].open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(reqs) == 120
    assert list(rows[0]) == ["mode", *REQUEST_COLUMNS] and {r["mode"] for r in rows} == {"simulated"}
    assert [r["request_id"] for r in rows] == list(reqs.request_id)  # arrival order
    assert sum(float(r["cost_usd"]) for r in rows) == pytest.approx(summary["cost_usd"], rel=1e-9)
    with duckdb.connect() as con:
        att = con.execute("SELECT * FROM read_parquet(?)", [str(pq_files["attempts"])]).df()
        req = con.execute("SELECT * FROM read_parquet(?)", [str(pq_files["requests"])]).df()
    assert list(att.columns) == ["mode", *ATTEMPT_COLUMNS] and len(att) == len(atts) == summary["attempts"]
    assert att.cost_usd.sum() == pytest.approx(summary["cost_usd"], rel=1e-9)
    assert (~att.ok).sum() == (~atts.ok).sum() > 0  # failed attempts are exported too
    assert len(req) == 120 and req.fallbacks.sum() == reqs.fallbacks.sum()


def test_unknown_run_or_format_writes_nothing(tiered, tmp_path):
    db, rid, _ = tiered
    with TraceStore(db) as store:
        with pytest.raises(StoreError, match="no run 'nope'"):
            export_run(store, "nope", tmp_path / "a", "csv")
        with pytest.raises(InputError, match="unknown export format 'xlsx'"):
            export_run(store, rid, tmp_path / "b", "xlsx")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_audit_rows_and_filters(tiered):
    db, rid, summary = tiered
    reqs, atts = table(db, "requests", rid), table(db, "attempts", rid)
    with TraceStore(db) as store:
        facets = audit_facets(store, rid)
        assert facets["target"] == sorted(set(atts.target)) and "small" in facets["target"]
        assert facets["status"] == sorted(set(reqs.status))
        everything = request_rows(store, rid)
        assert len(everything) == 120 and (everything["mode"] == "simulated").all()
        on_large = request_rows(store, rid, target="large")
        assert len(on_large) == atts[atts.target == "large"].request_id.nunique()
        cat = facets["category"][0]
        assert len(request_rows(store, rid, category=cat)) == (reqs.category == cat).sum()
        assert len(request_rows(store, rid, status="ok", limit=7)) == 7
        fell_back = reqs[reqs.fallbacks > 0].request_id.iloc[0]
        mine = attempt_rows(store, rid, fell_back)
        assert list(mine.attempt_no) == list(range(1, len(mine) + 1)) and mine.is_fallback.any()
        assert len(attempt_rows(store, rid)) == summary["attempts"]
