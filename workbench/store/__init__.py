"""The trace store: one DuckDB file holding every run, request and provider attempt.

Why DuckDB: traces are append-only columns that are aggregated far more often than read row by row;
DuckDB stores them compactly in one file, aggregates a million attempts in well under a second, and
exports Parquet without extra dependencies. Why numbered migrations: trace files outlive versions of
the workbench, so the schema only moves forward, one numbered SQL file at a time, recorded in
``schema_migrations``.

Rows arrive in batches (a request row with all its attempts in the same transaction), so a run that
dies part way keeps every request it had flushed, each complete. SQL lives here and in
``workbench/analysis`` only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
import pandas as pd

from workbench.errors import StoreError, StoreLockedError
from workbench.store import audit as _audit
from workbench.store.base import Connected
from workbench.store.rows import ATTEMPT_COLUMNS, REQUEST_COLUMNS, AttemptRow, RequestRow

__all__ = ["TraceStore", "RunInfo", "answers", "RequestRow", "AttemptRow", "REQUEST_COLUMNS", "ATTEMPT_COLUMNS",
           "DEFAULT_DB"]

DEFAULT_DB = "workbench.duckdb"

@dataclass(frozen=True, slots=True)
class RunInfo:
    """Everything needed to repeat a run: scenario, traffic, sample, seed, mode, version."""

    run_id: str
    scenario: str
    scenario_yaml: str
    scenario_hash: str
    scenario_path: str | None
    traffic_path: str
    traffic_hash: str
    requests_planned: int
    seed: int
    mode: str
    model_modes: dict[str, str]
    workbench_version: str
    traffic_spec: str = ""  # JSON of the TrafficSpec, for resume
    notes: tuple[str, ...] = ()  # method notes the report shows (e.g. out-of-sample scoring)
    audit: bool = False  # seal every request into the audit trail (workbench/store/audit.py)


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("workbench.store").joinpath("migrations")
    out = []
    for f in folder.iterdir():
        if f.name.endswith(".sql"):
            out.append((int(f.name.split("_", 1)[0]), f.name, f.read_text(encoding="utf-8")))
    return sorted(out)


class TraceStore(Connected):
    """An open trace database. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | Path = DEFAULT_DB, *, read_only: bool = False):
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise StoreError(f"{self.path}: no such trace database (run a scenario first)")
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                holder = re.search(r"held in (.+?) \(PID (\d+)\)", str(exc))
                raise StoreLockedError(f"{self.path}: the database is in use by another process; wait for it "
                                       f"to finish or use another --db ({exc})", path=self.path,
                                       holder=f"PID {holder[2]}, {Path(holder[1]).name}" if holder else "") from None
            raise StoreError(f"{self.path}: cannot open the trace database: {exc}") from None
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open the trace database: {exc}") from None
        self._chains: dict = {}  # run_id -> how its audit trail is sealed (None: not audited)
        if not read_only:
            self._migrate()

    # --- schema ------------------------------------------------------------------------------
    def _migrate(self) -> None:
        con = self.con
        con.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
        done = {v for (v,) in con.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, sql in _migrations():
            if version in done:
                continue
            try:
                con.begin()
                con.execute(sql)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, _now()])
                con.commit()
            except duckdb.Error as exc:
                con.rollback()
                raise StoreError(f"{self.path}: migration {name} failed: {exc}") from None

    def schema_version(self) -> int:
        """The highest migration applied to this file."""
        row = self.con.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return (row[0] if row is not None else None) or 0

    # --- writing ----------------------------------------------------------------------------
    def begin_run(self, run: RunInfo) -> None:
        """Record a run as started."""
        exists = self.con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run.run_id]).fetchone()
        if exists:
            raise StoreError(f"{self.path}: run '{run.run_id}' already exists (to finish it: "
                             f"workbench resume {run.run_id})")
        signed = run.audit and _audit.signing_key() is not None  # the key itself is never stored
        self._exec("INSERT INTO runs (run_id, scenario, scenario_yaml, scenario_hash, scenario_path, "
                   "traffic_path, traffic_hash, requests_planned, seed, mode, model_modes, workbench_version, "
                   "status, started_at, traffic_spec, notes, audit, audit_seal, audit_signed) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                   [run.run_id, run.scenario, run.scenario_yaml, run.scenario_hash, run.scenario_path,
                    run.traffic_path, run.traffic_hash, run.requests_planned, run.seed, run.mode,
                    json.dumps(run.model_modes, sort_keys=True), run.workbench_version, _now(),
                    run.traffic_spec, json.dumps(list(run.notes)), run.audit,
                    _audit.SEAL_VERSION if run.audit else None, signed])

    def reopen_run(self, run_id: str) -> None:
        """Mark a run as running again (resume); StoreError if its audit trail is signed and
        ``$WORKBENCH_AUDIT_KEY`` does not hold the key it was sealed with."""
        _audit.check_resumable(self.con, run_id)
        self._exec("UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ?", [run_id])

    def recorded_request_ids(self, run_id: str) -> set[str]:
        """Ids of the requests of ``run_id`` already written (each with all its attempts)."""
        return {r for (r,) in self.con.execute("SELECT request_id FROM requests WHERE run_id = ?",
                                                [run_id]).fetchall()}

    def write(self, requests: Sequence[RequestRow], attempts: Sequence[AttemptRow]) -> None:
        """Append request rows and their attempt rows in one transaction (columns by the row types' fields)."""
        if not requests and not attempts:
            return
        con = self.con
        # which runs are audited, and how: read before the transaction (a signed run without its key stops here)
        chains = _audit.chains(con, {r.run_id for r in requests}, self._chains) if requests else {}
        try:
            con.begin()
            if requests:
                req_df = pd.DataFrame.from_records(requests, columns=REQUEST_COLUMNS)  # noqa: F841
                con.execute(f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) SELECT * FROM req_df")
            if attempts:
                att_df = pd.DataFrame.from_records(attempts, columns=ATTEMPT_COLUMNS)  # noqa: F841
                con.execute(f"INSERT INTO attempts ({', '.join(ATTEMPT_COLUMNS)}) SELECT * FROM att_df")
            if requests:  # an audited run's chain grows in the same transaction as the rows it covers
                _audit.seal(con, requests, attempts, chains)
            con.commit()
        except duckdb.Error as exc:
            try:
                con.rollback()
            except duckdb.Error:  # a failed COMMIT (e.g. a full disk) has already ended the transaction
                pass
            raise StoreError(f"{self.path}: writing traces failed (rows written before are kept): {exc}") from None

    def finish_run(self, run_id: str, status: str, note: str | None = None) -> None:
        """Mark a run completed, failed or cancelled."""
        self._exec("UPDATE runs SET status = ?, finished_at = ?, note = ? WHERE run_id = ?",
                   [status, _now(), note, run_id])

    def _exec(self, sql: str, params: list) -> None:
        try:
            self.con.execute(sql, params)
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    # --- reading ----------------------------------------------------------------------------
    def runs(self) -> pd.DataFrame:
        """All runs, newest first (without the scenario YAML)."""
        return self.con.execute(
            "SELECT run_id, scenario, mode, seed, requests_planned, status, started_at, finished_at, "
            "scenario_hash, traffic_hash FROM runs ORDER BY started_at DESC, run_id").df()

    def run_info(self, run_id: str) -> dict:
        """One run's row as a dict; StoreError naming the run if there is none."""
        cur = self.con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        row = cur.fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no run '{run_id}' (see `workbench runs`)")
        return dict(zip([d[0] for d in cur.description], row, strict=True))


def answers(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """Every successful answer of ``run_id`` (answers and escalations; not router or judge calls), with
    its prompt hash, model, provider, text, tokens, latency, cost and score: what ``workbench record``
    stores in the outcome matrix."""
    return con.execute(
        "SELECT r.prompt_hash, a.request_id, a.model, a.provider, a.response, a.prompt_tokens, "
        "a.completion_tokens, a.end_s - a.start_s AS latency_s, a.cost_usd, a.score "
        "FROM attempts a JOIN requests r USING (run_id, request_id) "
        "WHERE a.run_id = ? AND a.ok AND coalesce(a.purpose, 'answer') IN ('answer', 'escalation') "
        "AND a.provider <> 'human' ORDER BY r.seq, a.attempt_no", [run_id]).df()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
