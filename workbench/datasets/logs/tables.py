"""Rows of a CSV, Parquet, JSON or JSONL export, streamed, each with its place for errors.

Why its own module: LiteLLM's spend logs and any table (``--map``) arrive in any of these, and each must be
read without holding the file: CSV with the standard library's reader (exact line numbers, a value may span
lines), Parquet in batches through DuckDB (:func:`workbench.store.logged.iter_parquet`), JSONL line by line.
A ``.json`` file holding one array is the exception: it is parsed whole (export JSONL for large logs).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.datasets.logs.common import FILE_HASHES, Where, json_lines

__all__ = ["table_rows", "header_of"]

csv.field_size_limit(1 << 30)  # a logged chat may be long; the default (128 KiB) would refuse it


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def header_of(path: Path) -> list[str] | None:
    """The column names of a CSV or Parquet file (None for JSON, whose keys vary by record)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            try:
                return next(csv.reader(f), [])
            except (csv.Error, UnicodeDecodeError) as exc:
                raise Where(path, 1).error(f"malformed CSV header: {exc}") from None
    if suffix in (".parquet", ".pq"):
        from workbench.store.logged import iter_parquet

        return iter_parquet(path)[0]
    return None


def table_rows(path: Path) -> Iterator[tuple[Where, dict[str, Any]]]:
    """Every row (record) of ``path`` as a dict, by the file's extension."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        yield from json_lines(path)
    elif suffix == ".json":
        yield from _json_array(path)
    elif suffix == ".csv":
        FILE_HASHES[str(path)] = _sha256(path)
        yield from _csv_rows(path)
    elif suffix in (".parquet", ".pq"):
        from workbench.store.logged import iter_parquet

        FILE_HASHES[str(path)] = _sha256(path)
        columns, rows = iter_parquet(path)
        for n, row in enumerate(rows, start=1):
            yield Where(path, n), dict(zip(columns, row, strict=True))
    else:
        raise Where(path, 0).error("unknown file type: use .jsonl, .json, .csv or .parquet")


def _json_array(path: Path) -> Iterator[tuple[Where, dict[str, Any]]]:
    data = path.read_bytes()
    FILE_HASHES[str(path)] = hashlib.sha256(data).hexdigest()
    try:
        records = json.loads(data)
    except UnicodeDecodeError as exc:
        raise Where(path, 1).error(f"not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise Where(path, exc.lineno).error(f"invalid JSON (a truncated file?): {exc.msg}") from None
    if isinstance(records, dict) and isinstance(records.get("data"), list):
        records = records["data"]  # an API page: {"data": [...], "meta": ...}
    if not isinstance(records, list):
        raise Where(path, 1).error("a .json log holds one array of records (or use JSONL)")
    for n, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            raise Where(path, 1).error(f"record {n} is not an object")
        yield Where(path, n), rec  # "line" is the record's position in the array


def _csv_rows(path: Path) -> Iterator[tuple[Where, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, strict=True)
        start = 1
        try:
            header = next(reader, None)
            if not header:
                raise Where(path, 1).error("empty file: a header line is needed")
            start = reader.line_num + 1
            for values in reader:
                if values:
                    if len(values) != len(header):
                        raise Where(path, start).error(f"{len(values)} values for {len(header)} header columns")
                    yield Where(path, start), {k: (v if v != "" else None) for k, v in zip(header, values, strict=True)}
                start = reader.line_num + 1
        except csv.Error as exc:
            raise Where(path, start).error(f"malformed CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise Where(path, start).error(f"not UTF-8 text ({exc.reason})") from None
