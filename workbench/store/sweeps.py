"""Sweeps in the trace store, and moving a finished run from a worker's store into the main one.

Why runs travel as Parquet: DuckDB lets one process write a database file, so the trials of a sweep
run in workers that each replay into a private in-memory store (the very code path of a serial run,
audit sealing included) and hand back their run's rows as Parquet bytes, one blob per table; the
parent, the only writer of the trace file, inserts them by column name in one transaction. Parquet
keeps every type and NULL exactly (so a trial's rows are identical whichever process computed them),
DuckDB reads and writes it natively (no pyarrow), and bytes cross a process pool or a Ray cluster
alike, with no shared disk.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from workbench.errors import StoreError

__all__ = ["RUN_TABLES", "export_run_tables", "import_run_tables", "begin_sweep", "add_trial", "finish_sweep",
           "sweep_info", "sweep_trials", "list_sweeps"]

#: The tables holding one run's rows, in the order they are inserted.
RUN_TABLES = ("runs", "requests", "attempts", "audit_trail")


def _con(con_or_store) -> duckdb.DuckDBPyConnection:
    return getattr(con_or_store, "con", con_or_store)


def export_run_tables(store, run_id: str) -> dict[str, bytes]:
    """One run's rows of each :data:`RUN_TABLES` table as Parquet bytes."""
    con = _con(store)
    out = {}
    with tempfile.TemporaryDirectory(prefix="wb-run-") as tmp:
        for table in RUN_TABLES:
            path = Path(tmp) / f"{table}.parquet"
            con.execute(f"CREATE OR REPLACE TEMP TABLE _export AS SELECT * FROM {table} WHERE run_id = ?", [run_id])
            con.execute(f"COPY _export TO '{_quoted(path)}' (FORMAT parquet)")
            out[table] = path.read_bytes()
        con.execute("DROP TABLE IF EXISTS _export")
    return out


def import_run_tables(store, tables: dict[str, bytes]) -> None:
    """Insert a run exported by :func:`export_run_tables` (one transaction; StoreError if it fails)."""
    con = _con(store)
    with tempfile.TemporaryDirectory(prefix="wb-run-") as tmp:
        paths = {}
        for table in RUN_TABLES:
            paths[table] = Path(tmp) / f"{table}.parquet"
            paths[table].write_bytes(tables[table])
        try:
            con.begin()
            for table in RUN_TABLES:
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet('{_quoted(paths[table])}')")
            con.commit()
        except duckdb.Error as exc:
            con.rollback()
            raise StoreError(f"{getattr(store, 'path', 'store')}: importing a trial's run failed: {exc}") from None


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def begin_sweep(store, *, sweep_id: str, scenario: str, scenario_path: str | None, space_yaml: str,
                space_path: str | None, sampler: str, executor: str, seed: int, objectives: list[dict],
                constraints: list[dict]) -> None:
    """Record a sweep as started."""
    con = _con(store)
    if con.execute("SELECT 1 FROM sweeps WHERE sweep_id = ?", [sweep_id]).fetchone():
        raise StoreError(f"sweep '{sweep_id}' already exists")
    con.execute("INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, NULL, NULL)",
                [sweep_id, scenario, scenario_path, space_yaml, space_path, sampler, executor, seed,
                 json.dumps(objectives), json.dumps(constraints), _now()])


def add_trial(store, sweep_id: str, trial: int, run_id: str, params: dict) -> None:
    """Record that ``trial`` of the sweep is ``run_id`` with these parameter values."""
    _con(store).execute("INSERT INTO sweep_trials VALUES (?, ?, ?, ?)",
                        [sweep_id, trial, run_id, json.dumps(params, sort_keys=True)])


def finish_sweep(store, sweep_id: str, status: str, note: str | None = None) -> None:
    """Mark a sweep completed, failed or cancelled."""
    _con(store).execute("UPDATE sweeps SET status = ?, finished_at = ?, note = ? WHERE sweep_id = ?",
                        [status, _now(), note, sweep_id])


def sweep_info(con_or_store, sweep_id: str) -> dict:
    """One sweep's row (objectives and constraints decoded); KeyError if there is none."""
    cur = _con(con_or_store).execute("SELECT * FROM sweeps WHERE sweep_id = ?", [sweep_id])
    row = cur.fetchone()
    if row is None:
        raise KeyError(sweep_id)
    out = dict(zip([d[0] for d in cur.description], row, strict=True))
    out["objectives"], out["constraints"] = json.loads(out["objectives"]), json.loads(out["constraints"])
    return out


def sweep_trials(con_or_store, sweep_id: str) -> pd.DataFrame:
    """The sweep's trials in order: ``trial``, ``run_id``, ``params`` (decoded)."""
    df = _con(con_or_store).execute("SELECT trial, run_id, params FROM sweep_trials WHERE sweep_id = ? "
                                    "ORDER BY trial", [sweep_id]).df()
    df["params"] = [json.loads(p) for p in df["params"]]
    return df


def list_sweeps(con_or_store) -> pd.DataFrame:
    """Every sweep, newest first, with its number of trials."""
    return _con(con_or_store).execute(
        "SELECT s.sweep_id, s.scenario, s.sampler, s.executor, s.status, s.started_at, "
        "(SELECT count(*) FROM sweep_trials t WHERE t.sweep_id = s.sweep_id) AS trials "
        "FROM sweeps s ORDER BY s.started_at DESC, s.sweep_id").df()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
