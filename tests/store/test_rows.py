"""The row types are the tables' columns: named like them, in their order, so no position can drift."""

from __future__ import annotations

import duckdb
import pytest

from workbench.store import TraceStore
from workbench.store.rows import ATTEMPT_COLUMNS, REQUEST_COLUMNS, AttemptRow, RequestRow


def test_row_fields_are_the_migrated_tables_columns_in_order(db):
    with TraceStore(db) as st:  # every migration applied
        tables = {t: [r[0] for r in st.con.execute(f"DESCRIBE {t}").fetchall()] for t in ("requests", "attempts")}
    assert list(RequestRow._fields) == tables["requests"] and len(tables["requests"]) == 32  # 015: arm
    assert list(AttemptRow._fields) == tables["attempts"] and len(tables["attempts"]) == 34
    assert REQUEST_COLUMNS == RequestRow._fields and ATTEMPT_COLUMNS == AttemptRow._fields


def test_the_engine_writes_named_rows_that_read_back_by_name(scenario_file, db):
    path = scenario_file("""
        name: rows
        seed: 3
        fleet:
          m: {model: gpt-4o-mini, sim: {error_rates: {}, latency_sigma: 0, ttft_s: 0.5, tokens_per_s: 100}}
        router: {policy: static, params: {target: m}}
        graders: [{type: exact}]
        traffic: {source: traffic.jsonl, arrival: {process: poisson, rate_per_s: 2.0}}
        """, n=5)
    written: list[tuple[list, list]] = []

    class Keep(TraceStore):
        def write(self, requests, attempts):
            written.append((list(requests), list(attempts)))
            super().write(requests, attempts)

    from workbench.runner import execute, prepare

    with Keep(db) as st:
        rid, _ = execute(prepare(path), st)
    reqs = [r for batch, _ in written for r in batch]
    atts = [a for _, batch in written for a in batch]
    assert len(reqs) == len(atts) == 5
    assert all(type(r) is RequestRow for r in reqs) and all(type(a) is AttemptRow for a in atts)
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute("SELECT * FROM requests WHERE run_id = ? ORDER BY seq", [rid])
        names = [d[0] for d in cur.description]
        stored = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    for mine, back in zip(sorted(reqs, key=lambda r: r.seq), stored, strict=True):
        assert mine._asdict() == back  # every cell went to the column of its name
    r0, a0 = reqs[0], next(a for a in atts if a.request_id == reqs[0].request_id)
    assert (r0.status, r0.final_target, r0.attempts, a0.target, a0.model, a0.provider, r0.provenance) == \
        ("ok", "m", 1, "m", "gpt-4o-mini", "simulated", "simulated")
    assert r0.end_s - r0.start_s == pytest.approx(a0.end_s - a0.start_s) \
        == pytest.approx(0.5 + a0.completion_tokens / 100)
    assert r0.cost_usd == a0.cost_usd > 0 and r0.prompt_tokens == a0.prompt_tokens > 0

