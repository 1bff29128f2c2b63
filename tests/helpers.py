"""Run a scenario into a DuckDB file and read its tables back (used by several test modules)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from workbench.analysis import run_summary
from workbench.runner import execute, prepare
from workbench.store import TraceStore


def run(path: Path, db: Path, **kw) -> tuple[str, dict]:
    """Prepare and execute one scenario; return its run id and summary."""
    prep = prepare(path, **kw)
    with TraceStore(db) as store:
        rid, _ = execute(prep, store)
        return rid, run_summary(store.con, rid)


def table(db: Path, name: str, run_id: str) -> pd.DataFrame:
    """One run's rows of ``requests`` or ``attempts``, in a stable order."""
    order = "seq" if name == "requests" else "request_id, attempt_no"
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT * FROM {name} WHERE run_id = ? ORDER BY {order}", [run_id]).df()
