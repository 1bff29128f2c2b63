"""Export of one run's requests and attempts (CSV, Parquet), and the audit queries over the same rows."""

from __future__ import annotations

import csv

import duckdb
import pytest
from conftest import SCENARIOS
from helpers import run, table

from workbench.analysis.prompts import export_with_prompts, run_prompts
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
    assert list(rows[0]) == ["mode", *REQUEST_COLUMNS, "prompt"] and {r["mode"] for r in rows} == {"simulated"}
    assert {r["prompt"] for r in rows} == {""}  # no prompts given: export_with_prompts reads them back
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
        # the named conditions a Compare figure implies (error rate -> failed, ...)
        assert len(request_rows(store, rid, flag="failed")) == (reqs.status != "ok").sum()
        assert len(request_rows(store, rid, flag="fallback")) == (reqs.fallbacks > 0).sum() > 0
        assert len(request_rows(store, rid, flag="retried")) == (reqs.retries > 0).sum()
        assert len(request_rows(store, rid, flag="handoff", target="large")) == len(
            set(reqs[reqs.handoff].request_id) & set(atts[atts.target == "large"].request_id))
        with pytest.raises(InputError, match="unknown request filter 'x'"):
            request_rows(store, rid, flag="x")
        fell_back = reqs[reqs.fallbacks > 0].request_id.iloc[0]
        mine = attempt_rows(store, rid, fell_back)
        assert list(mine.attempt_no) == list(range(1, len(mine) + 1)) and mine.is_fallback.any()
        assert len(attempt_rows(store, rid)) == summary["attempts"]


FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"]


def test_csv_export_neutralises_formula_cells_and_parquet_keeps_them(tmp_path):
    """Cells a spreadsheet would run as formulas (=, +, -, @, tab, CR first) come back from the CSV with
    a leading single quote (OWASP); numbers stay numbers; the Parquet export keeps the values as stored."""
    import json

    tickets = (SCENARIOS / "traffic" / "support_tickets.jsonl").read_text().splitlines()[:6]
    records = [{**json.loads(t), "id": f, "category": f, "prompt": f + " " + json.loads(t)["prompt"]}
               for t, f in zip(tickets, FORMULAS, strict=True)]
    traffic = tmp_path / "formulas.jsonl"
    traffic.write_text("".join(json.dumps(r) + "\n" for r in records))
    db = tmp_path / "t.duckdb"
    rid, summary = run(SCENARIOS / "support-baseline.yaml", db, traffic=traffic)
    with TraceStore(db) as store:
        files = export_with_prompts(store, rid, tmp_path / "csv", "csv")
        pq = export_with_prompts(store, rid, tmp_path / "pq", "parquet")
    with files["requests"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["request_id"] for r in rows) == sorted("'" + v for v in FORMULAS)
    assert all(r["category"] == r["request_id"] for r in rows)
    assert all(r["prompt"].startswith(r["request_id"] + " ") for r in rows)  # the prompt, neutralised too
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for r in rows for cell in r.values())
    assert sum(float(r["cost_usd"]) for r in rows) == pytest.approx(summary["cost_usd"], rel=1e-9)
    assert [int(r["seq"]) for r in rows] == list(range(6))  # still in arrival order
    with files["attempts"].open(newline="") as f:
        attempts = list(csv.DictReader(f))
    assert {a["request_id"] for a in attempts} == {"'" + v for v in FORMULAS}
    with duckdb.connect() as con:
        raw = con.execute("SELECT request_id, prompt FROM read_parquet(?)", [str(pq["requests"])]).fetchall()
    assert sorted(v for (v, _) in raw) == sorted(FORMULAS)
    by_id = {f: f + " " + json.loads(t)["prompt"] for t, f in zip(tickets, FORMULAS, strict=True)}
    assert {v: p for v, p in raw} == by_id  # the exact prompt text, from the traffic


def test_prompts_are_read_back_from_the_traffic_and_checked(tmp_path):
    """Each request's prompt is its traffic line's text; a traffic file changed after the run shows no
    prompt for the changed lines (their hash differs), and says so, rather than another text."""
    import json

    lines = (SCENARIOS / "traffic" / "support_tickets.jsonl").read_text().splitlines()[:8]
    traffic = tmp_path / "eight.jsonl"
    traffic.write_text("\n".join(lines) + "\n")
    db = tmp_path / "t.duckdb"
    rid, _ = run(SCENARIOS / "support-baseline.yaml", db, traffic=traffic)
    want = {json.loads(t)["id"]: json.loads(t)["prompt"] for t in lines}
    with TraceStore(db) as store:
        got = run_prompts(store, rid)
        assert dict(zip(got.request_id, got.prompt, strict=True)) == want and got.attrs["note"] == ""
        changed = [json.dumps({**json.loads(t), "prompt": "edited"}) if i < 3 else t for i, t in enumerate(lines)]
        traffic.write_text("\n".join(changed) + "\n")
        got = run_prompts(store, rid)
        assert got.prompt.isna().sum() == 3
        assert "3 prompts not shown: eight.jsonl changed since the run" in got.attrs["note"]
        traffic.unlink()
        assert run_prompts(store, rid).prompt.isna().all()
        assert "the run's traffic cannot be read now" in run_prompts(store, rid).attrs["note"]
