"""The ``alerts`` table: what the run's monitors raised, when (virtual time) and what it did.

Why a table of its own and not a request column: an alarm belongs to a stream (a target or the
design), not to one request; the report, ``workbench run --json`` and a rollout read them per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import duckdb
import pandas as pd

from workbench.errors import StoreError

__all__ = ["AlertRow", "ALERT_COLUMNS", "write_alerts", "run_alerts"]


class AlertRow(NamedTuple):
    """One row of ``alerts``: a monitor's alarm."""

    run_id: str
    at_s: float
    monitor: str
    target: str | None
    statistic: float
    threshold: float
    message: str
    action: str


#: Column names of ``alerts``, in table order.
ALERT_COLUMNS: tuple[str, ...] = AlertRow._fields


def write_alerts(con: duckdb.DuckDBPyConnection, rows: Sequence[AlertRow]) -> None:
    """Append ``rows`` to ``alerts`` in one transaction."""
    if not rows:
        return
    df = pd.DataFrame.from_records(rows, columns=ALERT_COLUMNS)  # noqa: F841 (read by DuckDB by name)
    try:
        con.execute(f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)}) SELECT * FROM df")
    except duckdb.Error as exc:
        raise StoreError(f"writing alerts failed: {exc}") from None


def run_alerts(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """The alerts of ``run_id`` in virtual-time order, as JSON-ready dicts ([] for a trace file that
    predates the table)."""
    try:
        df = con.execute(f"SELECT {', '.join(ALERT_COLUMNS[1:])} FROM alerts WHERE run_id = ? "
                         "ORDER BY at_s, monitor", [run_id]).df()
    except duckdb.CatalogException:
        return []
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in rec.items()}
            for rec in df.to_dict(orient="records")]
