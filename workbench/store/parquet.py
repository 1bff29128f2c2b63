"""Parquet reading through DuckDB, for loaders that need rows from a Parquet file.

Why here: DuckDB reads Parquet natively (no pyarrow needed), and SQL stays inside ``workbench/store``
and ``workbench/analysis``; the traffic and dataset loaders call this instead of writing SQL.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from workbench.errors import TrafficError

__all__ = ["read_parquet_rows"]


def read_parquet_rows(path: str | Path) -> tuple[list[str], list[tuple]]:
    """Column names and rows of a Parquet file; one :class:`TrafficError` naming it if it cannot be read."""
    try:
        rel = duckdb.sql("SELECT * FROM read_parquet(?)", params=[str(path)])
        assert rel is not None  # a SELECT always gives a relation (None is for statements without rows)
        return list(rel.columns), rel.fetchall()
    except (duckdb.Error, RuntimeError, UnicodeError) as exc:  # RuntimeError: a column name not UTF-8
        raise TrafficError(f"unreadable Parquet: {exc}", file=path) from None
