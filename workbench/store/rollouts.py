"""A rollout's stage decisions and per-arm timeline, read and written in SQL.

Why in the store: the ``rollout_stages`` table (migration 015) and ``requests.arm`` are trace tables;
everything above (the rollout's controller, the analysis charts, the CLI's JSON) reads them through
these functions, never with its own SQL. ``alerts`` (another migration's table) is read when it
exists: a trace made before it has none.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

import duckdb
import pandas as pd

__all__ = ["write_stages", "stages", "arm_timeline", "alerts", "is_rollout"]


class _Stage(Protocol):
    stage: int
    share: float
    started_at_s: float
    ended_at_s: float
    decision: str
    evidence: dict[str, Any]


class _Store(Protocol):
    con: duckdb.DuckDBPyConnection


def write_stages(store: _Store, run_id: str, records: Sequence[_Stage]) -> None:
    """Append a rollout's stage decisions (evidence as JSON)."""
    rows = [(run_id, r.stage, r.share, r.started_at_s, r.ended_at_s, r.decision,
             json.dumps(r.evidence, separators=(",", ":"), allow_nan=False, default=_finite))
            for r in records]
    if rows:
        store.con.executemany("INSERT INTO rollout_stages VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def _finite(value: Any) -> Any:
    raise TypeError(f"not JSON: {value!r}")


def stages(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    """A run's stage decisions in order, evidence parsed ([] for a run that is not a rollout)."""
    rows = con.execute("SELECT stage, share, started_at_s, ended_at_s, decision, evidence FROM rollout_stages "
                       "WHERE run_id = ? ORDER BY ended_at_s, rowid", [run_id]).fetchall()
    return [{"stage": s, "share": sh, "started_at_s": a, "ended_at_s": b, "decision": d, "evidence": json.loads(e)}
            for s, sh, a, b, d, e in rows]


def is_rollout(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """True when the run's requests carry arms."""
    row = con.execute("SELECT count(*) FROM requests WHERE run_id = ? AND arm IS NOT NULL LIMIT 1", [run_id]).fetchone()
    return bool(row and row[0])


def arm_timeline(con: duckdb.DuckDBPyConnection, run_id: str, buckets: int = 60) -> pd.DataFrame:
    """Per time bucket and arm: requests, share of the bucket's requests, error rate, mean quality, p95
    latency and cost per 1,000 requests (by arrival time)."""
    return con.execute("""
        WITH r AS (SELECT * FROM requests WHERE run_id = ? AND arm IS NOT NULL),
        w AS (SELECT greatest(max(arrival_s), 1e-9) / ? AS width FROM r),
        b AS (SELECT floor(arrival_s / w.width) * w.width AS t_s, w.width, arm, status, quality, latency_s, cost_usd
              FROM r, w)
        SELECT t_s, any_value(width) AS width_s, arm, count(*) AS requests,
               count(*) / sum(count(*)) OVER (PARTITION BY t_s) AS share,
               avg(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS error_rate, avg(quality) AS quality,
               quantile_cont(latency_s, 0.95) AS p95_latency_s, 1000 * avg(cost_usd) AS cost_per_1k
        FROM b GROUP BY t_s, arm ORDER BY t_s, arm""", [run_id, buckets]).df()


def alerts(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    """The run's alarms from the ``alerts`` table, oldest first ([] when the table does not exist)."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'alerts'").fetchone()
    if not exists or not exists[0]:
        return []
    df = con.execute("SELECT * FROM alerts WHERE run_id = ? ORDER BY at_s", [run_id]).df()
    return [{k: v for k, v in rec.items() if k != "run_id"} for rec in df.to_dict("records")]
