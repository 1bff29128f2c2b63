"""A dataset's logged outcomes (a production log) and answers added to it one at a time.

Why beside :mod:`workbench.store.outcomes` rather than in it: a log's outcomes carry columns a recorded
matrix does not (``propensity``, the old router's probability of choosing the logged model, written by
the log importers), and a spend-capped re-ask adds answers one by one as they arrive. Both read and
write by column name, so they work on a dataset with or without the log's extra columns.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd

from workbench.errors import StoreError
from workbench.store.outcomes import OUTCOME_COLUMNS, OutcomeStore

__all__ = ["logged_outcomes", "add_answer"]

_LOGGED_SQL = """
SELECT o.prompt_key, p.prompt_id, coalesce(p.category, '') AS category, o.model, o.score, o.cost_usd,
       {propensity} AS propensity
FROM outcomes o JOIN prompts p USING (prompt_key)
WHERE o.source = 'logged' ORDER BY p.seq, o.model
"""


def _con(ds: OutcomeStore) -> duckdb.DuckDBPyConnection:
    con = ds.con
    if con is None:
        raise StoreError(f"{ds.path}: dataset '{ds.name}' is closed")
    return con


def logged_outcomes(ds: OutcomeStore) -> tuple[bool, pd.DataFrame]:
    """Whether the outcomes have a ``propensity`` column, and the logged rows (``source`` ``logged``):
    prompt key and id, category ('' when none), model, score, cost, propensity (NULL without the column)."""
    con = _con(ds)
    cols = {c for (c, *_) in con.execute("DESCRIBE outcomes").fetchall()}
    has = "propensity" in cols
    return has, con.execute(_LOGGED_SQL.format(propensity="o.propensity" if has else "NULL::DOUBLE")).df()


def add_answer(ds: OutcomeStore, row: dict[str, Any] | None, meta: dict[str, Any] | None = None) -> None:
    """Upsert one answer (a dict of outcome columns) and/or meta entries, in one transaction; by column
    name, so columns of the dataset this row does not name (a log's ``propensity``) stay NULL."""
    con = _con(ds)
    o = pd.DataFrame([row] if row else [], columns=list(OUTCOME_COLUMNS))  # noqa: F841  (read by DuckDB)
    try:
        con.begin()
        if row:
            con.execute("INSERT OR REPLACE INTO outcomes BY NAME SELECT * FROM o")
        for k, v in (meta or {}).items():
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [k, json.dumps(v)])
        con.commit()
    except duckdb.Error as exc:
        try:
            con.rollback()
        except duckdb.Error:  # no transaction left to roll back
            pass
        raise StoreError(f"{ds.path}: writing dataset '{ds.name}' failed (nothing written): {exc}") from None
