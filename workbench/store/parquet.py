"""Parquet reading through DuckDB, for loaders that need rows from a Parquet file.

Why here: DuckDB reads Parquet natively (no pyarrow needed), and SQL stays inside ``workbench/store``
and ``workbench/analysis``; the traffic and dataset loaders call this instead of writing SQL.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

__all__ = ["read_parquet_rows"]


def read_parquet_rows(path: str | Path) -> tuple[list[str], list[tuple]]:
    """Column names and rows of a Parquet file; ``duckdb.Error`` if it cannot be read."""
    rel = duckdb.sql("SELECT * FROM read_parquet(?)", params=[str(path)])
    return list(rel.columns), rel.fetchall()
