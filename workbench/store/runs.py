"""Managing stored runs: list them for a person to pick, label, rename (a new run id) and delete.

Why here and not in the app: a run's rows live in several tables (``runs``, ``requests``,
``attempts``, ``audit_trail``, ``sweep_trials``), and removing or renaming a run must touch all of
them in one transaction, or a crash half way leaves requests without a run. SQL stays in the store
(the app never imports duckdb).

Why an audited run is refused: its audit trail is a hash chain sealed over the run's rows (and, from
seal version 2, its run id); deleting or renaming it would destroy the evidence the audit exists to
keep. The message says so.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from workbench.errors import InputError, StoreError
from workbench.store.base import check_run_id

__all__ = ["list_runs", "runs_version", "label_run", "rename_run", "delete_run", "RUN_TABLES", "LABEL_MAX"]

#: Every table keyed by ``run_id`` (the run row itself last when deleting, first when renaming).
RUN_TABLES = ("requests", "attempts", "audit_trail", "sweep_trials")
#: Longest label accepted (a label is shown in pickers and report headings).
LABEL_MAX = 80

_LIST = """
SELECT ru.run_id, ru.scenario, coalesce({label}, '') AS label, ru.mode, ru.status, ru.seed,
       ru.started_at, ru.finished_at, ru.traffic_hash, ru.traffic_path, ru.requests_planned,
       coalesce(ru.audit, false) AS audited, coalesce(n.requests, 0) AS requests
FROM runs ru LEFT JOIN (SELECT run_id, count(*) AS requests FROM requests GROUP BY run_id) n USING (run_id)
ORDER BY ru.started_at DESC, ru.run_id
"""


def _con(con_or_store) -> duckdb.DuckDBPyConnection:
    return getattr(con_or_store, "con", con_or_store)


def _run(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[bool, str]:
    """Whether ``run_id`` is audited, and its status; StoreError if there is no such run."""
    row = con.execute("SELECT coalesce(audit, false), status FROM runs WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        raise StoreError(f"no run '{run_id}' (see `workbench runs`)")
    return bool(row[0]), str(row[1])


def list_runs(con_or_store) -> pd.DataFrame:
    """Every run, newest first, with its label ('' if none), traffic identity, request count and whether
    it is audited."""
    con = _con(con_or_store)
    has_label = con.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'runs' "
                            "AND column_name = 'label'").fetchone() or (0,)
    # a file opened read-only is not migrated: before migration 010 no run has a label
    return con.execute(_LIST.format(label="ru.label" if has_label[0] else "NULL")).df()


def runs_version(con_or_store) -> tuple:
    """A cheap fingerprint of the stored runs: it changes when a run is added, finishes, is labelled,
    renamed or deleted (by this process or another, e.g. the CLI). One aggregate over the runs table."""
    con = _con(con_or_store)
    has_label = con.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'runs' "
                            "AND column_name = 'label'").fetchone() or (0,)
    label = "ru.label" if has_label[0] else "NULL"
    row = con.execute(f"SELECT count(*), max(started_at), max(finished_at), "  # no user text in it
                      f"coalesce(sum(hash(run_id, status, {label})), 0) FROM runs ru").fetchone()
    return tuple(row) if row else ()


def label_run(con_or_store, run_id: str, label: str) -> None:
    """Give ``run_id`` the label ``label`` (one line, at most :data:`LABEL_MAX` characters; '' removes it)."""
    con = _con(con_or_store)
    _run(con, run_id)
    label = label.strip()
    if "\n" in label or "\r" in label or len(label) > LABEL_MAX:
        raise InputError(f"a label is one line of at most {LABEL_MAX} characters", field="label")
    con.execute("UPDATE runs SET label = ? WHERE run_id = ?", [label or None, run_id])


def _refuse_audited(con: duckdb.DuckDBPyConnection, run_id: str, verb: str) -> None:
    audited, _ = _run(con, run_id)
    if audited:
        raise StoreError(f"run '{run_id}' is audited: its audit trail is sealed over its rows, so it cannot be "
                         f"{verb} (the trail would no longer verify). Keep the database file as the evidence "
                         f"(`workbench audit verify {run_id}` checks it).")


def _transaction(con: duckdb.DuckDBPyConnection, statements: list[tuple[str, list]], what: str) -> None:
    try:
        con.begin()
        for sql, params in statements:
            con.execute(sql, params)
        con.commit()
    except duckdb.Error as exc:
        try:
            con.rollback()
        except duckdb.Error:  # a failed COMMIT has already ended the transaction
            pass
        raise StoreError(f"{what} failed, nothing was changed: {exc}") from None


def delete_run(con_or_store, run_id: str) -> dict[str, int]:
    """Delete ``run_id`` and every row keyed by it, in one transaction; returns rows removed per table.

    Refused (StoreError) for an audited run and for a run that is still running.
    """
    con = _con(con_or_store)
    _refuse_audited(con, run_id, "deleted")
    if _run(con, run_id)[1] == "running":
        raise StoreError(f"run '{run_id}' is still running (or was killed without a trace of it): finish it with "
                         f"`workbench resume {run_id}` or wait for it before deleting")
    counts = {t: (con.execute(f"SELECT count(*) FROM {t} WHERE run_id = ?", [run_id]).fetchone() or (0,))[0]
              for t in RUN_TABLES}
    _transaction(con, [*((f"DELETE FROM {t} WHERE run_id = ?", [run_id]) for t in RUN_TABLES),
                       ("DELETE FROM runs WHERE run_id = ?", [run_id])], f"deleting run '{run_id}'")
    return {**counts, "runs": 1}


def rename_run(con_or_store, run_id: str, new_id: str) -> None:
    """Give ``run_id`` the new id ``new_id`` in every table, in one transaction.

    Refused for an audited run, an id already taken, and an id that is not a safe file name
    (:func:`~workbench.store.base.check_run_id`: a run id becomes an export's file name).
    """
    con = _con(con_or_store)
    check_run_id(new_id)
    _refuse_audited(con, run_id, "renamed")
    if new_id == run_id:
        return
    if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [new_id]).fetchone():
        raise InputError(f"a run '{new_id}' already exists: choose another id", field="run id")
    columns = [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = 'runs' ORDER BY ordinal_position").fetchall()]
    cols = ", ".join(f'"{c}"' for c in columns)
    picked = ", ".join("?" if c == "run_id" else f'"{c}"' for c in columns)
    # the run row is the primary key: copy it under the new id, move the children, drop the old row
    _transaction(con, [(f"INSERT INTO runs ({cols}) SELECT {picked} FROM runs WHERE run_id = ?", [new_id, run_id]),
                       *((f"UPDATE {t} SET run_id = ? WHERE run_id = ?", [new_id, run_id]) for t in RUN_TABLES),
                       ("DELETE FROM runs WHERE run_id = ?", [run_id])], f"renaming run '{run_id}'")
