"""Reading one run's rows out of the store: export files (CSV, Parquet) and the app's audit view.

Why DuckDB ``COPY`` and not pandas: a run can hold millions of attempts; ``COPY`` streams them
straight from the table to the file without materialising a DataFrame, and needs no pyarrow.
Why the audit queries live here too: SQL stays inside ``workbench/store`` and ``workbench/analysis``
(the app never imports duckdb), and the audit table and the export show the same rows.

Why text cells of a CSV export may start with ``'``: a spreadsheet runs a cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return as a formula, and prompts, answers and categories come
from users and models. Such a cell gets a leading single quote (OWASP's advice against CSV injection),
which spreadsheets show as text; Parquet, which no spreadsheet evaluates, keeps every value as stored.

Each exported request carries its prompt text (read back from the run's traffic and checked against
the stored prompt hash by :mod:`workbench.analysis.prompts`) and its answer (``response``).

Every exported or audited row carries the run's ``mode`` (simulated, recorded, live, mixed) as its
first column: a file that leaves the workbench must still say where its figures came from. Nothing
else of the run row is exported (the scenario YAML stays in the store), so no configuration, masked
or not, travels with an export.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from workbench.errors import InputError, StoreError
from workbench.store.base import check_run_id

__all__ = ["export_run", "EXPORT_FORMATS", "request_rows", "attempt_rows", "audit_facets", "run_size", "FLAGS"]

#: Export format -> file extension.
EXPORT_FORMATS = {"csv": "csv", "parquet": "parquet"}

_REQUESTS = """SELECT ru.mode, r.*, {prompt} AS prompt FROM requests r JOIN runs ru USING (run_id) {join}
WHERE r.run_id = ? ORDER BY r.seq"""
_PROMPTS = "wb_export_prompts"  # the prompts frame, registered on the connection for one export
_ATTEMPTS = """SELECT ru.mode, a.* FROM attempts a JOIN runs ru USING (run_id)
WHERE a.run_id = ? ORDER BY a.request_id, a.attempt_no"""
#: Named request conditions a figure implies (Compare's error rate -> "failed"): the SQL and what it means.
FLAGS = {"failed": ("r.status <> 'ok'", "got no answer"), "fallback": ("r.fallbacks > 0", "used a fallback"),
         "retried": ("r.retries > 0", "needed a retry"), "handoff": ("r.handoff", "were handed to a human")}
_TARGETED = ("EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = r.run_id AND a.request_id = r.request_id "
             "AND a.target = ?)")


def _con(con_or_store) -> duckdb.DuckDBPyConnection:
    return getattr(con_or_store, "con", con_or_store)


def _check_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    if not con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall():  # fetched to the end
        raise StoreError(f"no run '{run_id}' (see `workbench runs`)")


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_run(con_or_store, run_id: str, path: str | Path, fmt: str = "parquet",
               prompts: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``run_id``'s requests and attempts into directory ``path`` as CSV or Parquet.

    Each request row ends with its ``prompt`` text, from ``prompts`` (``request_id``, ``prompt``:
    :func:`workbench.analysis.prompts.run_prompts` reads them back from the run's traffic), NULL when
    not given; its answer is ``response``, and every attempt's answer is in the attempts file.

    Files are ``<run_id>.requests.<ext>`` and ``<run_id>.attempts.<ext>`` (overwritten if present);
    returns ``{"requests": path, "attempts": path}``. Unknown run: StoreError; unknown format:
    InputError (nothing is written in either case).
    """
    fmt = fmt.lower()
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format '{fmt}' (use {' or '.join(EXPORT_FORMATS)})")
    check_run_id(run_id)  # it becomes a file name: no '/', no '..'
    con = _con(con_or_store)
    _check_run(con, run_id)
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{folder}: cannot create the export folder: {exc}") from None
    options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT parquet"
    if prompts is not None:
        con.register(_PROMPTS, prompts[["request_id", "prompt"]].astype({"prompt": object}))
        requests_sql = _REQUESTS.format(prompt="p.prompt::VARCHAR", join=f"LEFT JOIN {_PROMPTS} p USING (request_id)")
    else:
        requests_sql = _REQUESTS.format(prompt="NULL::VARCHAR", join="")
    out = {}
    try:
        for table, sql, order in (("requests", requests_sql, "seq"), ("attempts", _ATTEMPTS, "request_id, attempt_no")):
            target = folder / f"{run_id}.{table}.{EXPORT_FORMATS[fmt]}"
            try:
                if fmt == "csv":
                    sql = _neutralised(con, sql, run_id, order)
                con.execute(f"COPY ({sql}) TO {_literal(target)} ({options})", [run_id])
            except duckdb.Error as exc:
                raise StoreError(f"{target}: export failed: {exc}") from None
            out[table] = target
    finally:
        if prompts is not None:
            con.unregister(_PROMPTS)
    return out


#: A text cell a spreadsheet would run as a formula (OWASP, CSV injection): = + - @ tab CR first.
_FORMULA = r"^[=+\-@\t\r]"


def _neutralised(con: duckdb.DuckDBPyConnection, sql: str, run_id: str, order: str) -> str:
    """``sql`` with every text column's formula-like cells prefixed by a single quote."""
    columns = con.execute(f"SELECT * FROM ({sql}) LIMIT 0", [run_id]).description
    exprs = []
    for name, kind, *_ in columns:
        col = '"' + name.replace('"', '""') + '"'
        quoted = f"CASE WHEN regexp_matches({col}, '{_FORMULA}') THEN chr(39) || {col} ELSE {col} END AS {col}"
        exprs.append(quoted if str(kind) == "VARCHAR" else col)
    return f"SELECT {', '.join(exprs)} FROM ({sql}) ORDER BY {order}"


def request_rows(con_or_store, run_id: str, *, status: str | None = None, target: str | None = None,
                 category: str | None = None, flag: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """A run's requests in arrival order, optionally only those with ``status``, ``category``, an
    attempt on ``target``, or a :data:`FLAGS` condition; ``limit`` keeps the first rows (the audit page
    shows a window)."""
    con = _con(con_or_store)
    _check_run(con, run_id)
    where, params = ["r.run_id = ?"], [run_id]
    if flag:
        if flag not in FLAGS:
            raise InputError(f"unknown request filter '{flag}' (use one of {', '.join(FLAGS)})")
        where.append(FLAGS[flag][0])
    if status:
        where.append("r.status = ?")
        params.append(status)
    if category:
        where.append("coalesce(r.category, '(none)') = ?")
        params.append(category)
    if target:
        where.append(_TARGETED)
        params.append(target)
    sql = (f"SELECT ru.mode, r.* FROM requests r JOIN runs ru USING (run_id) WHERE {' AND '.join(where)} "
           "ORDER BY r.seq")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return con.execute(sql, params).df()


def attempt_rows(con_or_store, run_id: str, request_id: str | None = None) -> pd.DataFrame:
    """A run's attempts (one request's when ``request_id`` is given), failed ones and fallbacks too."""
    con = _con(con_or_store)
    _check_run(con, run_id)
    if request_id is None:
        return con.execute(_ATTEMPTS, [run_id]).df()
    return con.execute("SELECT ru.mode, a.* FROM attempts a JOIN runs ru USING (run_id) "
                       "WHERE a.run_id = ? AND a.request_id = ? ORDER BY a.attempt_no", [run_id, request_id]).df()


def audit_facets(con_or_store, run_id: str) -> dict[str, list[str]]:
    """The values a run's audit can be filtered by: statuses, targets (any attempt), categories."""
    con = _con(con_or_store)
    _check_run(con, run_id)

    def distinct(sql: str) -> list[str]:
        return [v for (v,) in con.execute(sql, [run_id]).fetchall()]

    return {
        "status": distinct("SELECT DISTINCT status FROM requests WHERE run_id = ? ORDER BY 1"),
        "target": distinct("SELECT DISTINCT target FROM attempts WHERE run_id = ? ORDER BY 1"),
        "category": distinct("SELECT DISTINCT coalesce(category, '(none)') FROM requests WHERE run_id = ? ORDER BY 1"),
    }


def run_size(con_or_store, run_id: str) -> dict[str, int]:
    """How many requests and attempts a run has recorded."""
    con = _con(con_or_store)
    _check_run(con, run_id)
    sql = "SELECT (SELECT count(*) FROM requests WHERE run_id = ?), (SELECT count(*) FROM attempts WHERE run_id = ?)"
    n_req, n_att = con.execute(sql, [run_id, run_id]).fetchone() or (0, 0)
    return {"requests": n_req, "attempts": n_att}
