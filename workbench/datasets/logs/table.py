"""Any CSV, Parquet or JSONL log, with the column for each field named on the command line (``--map``).

Why a mapping and not a guess: a home-grown log names its columns as it likes; ``--map col=field`` says
which column holds which field, and a column named exactly like a field needs no mapping. A mapping to a
column the file does not have is an error naming the file, its header line and the column.

Fields: ``id``, ``prompt`` or ``messages`` (JSON list of ``{role, content}``), ``model``, ``response``,
``prompt_tokens``, ``completion_tokens``, ``cost_usd``, ``latency_s``, ``arrived_at`` (ISO-8601 or
seconds), ``user``, ``session``, ``category``, ``tags`` (comma-separated or a JSON list), ``score`` (in
[0, 1]), ``propensity``; other columns go to the request's metadata. No ``id`` column: the row number is
the id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.datasets.logs.common import Item, LogRecord, Where, chat_messages, number, timestamp
from workbench.datasets.logs.tables import header_of, table_rows
from workbench.errors import InputError

__all__ = ["read_table", "TABLE_FIELDS"]

TABLE_FIELDS = ("id", "prompt", "messages", "model", "response", "prompt_tokens", "completion_tokens", "cost_usd",
                "latency_s", "arrived_at", "user", "session", "category", "tags", "score", "propensity")


def read_table(files: list[Path], options: dict[str, Any]) -> Iterator[Item]:
    """One record per row, its fields found through the mapping."""
    mapping: dict[str, str] = options.get("mapping") or {}  # column -> field
    bad = [f for f in mapping.values() if f not in TABLE_FIELDS]
    if bad:
        raise InputError(f"unknown field {bad[0]!r} in --map; fields: {', '.join(TABLE_FIELDS)}", field="--map")
    for path in files:
        header = header_of(path)
        if header is not None:
            for column in mapping:
                if column not in header:
                    raise InputError(f"--map names column {column!r} (for field {mapping[column]!r}), which the "
                                     f"header does not have (columns: {', '.join(header)})", file=path, line=1,
                                     field=column)
        for n, (where, row) in enumerate(table_rows(path), start=1):
            yield where, _row(row, mapping, where, n)


def _row(row: dict[str, Any], mapping: dict[str, str], where: Where, n: int) -> LogRecord:
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    by_field = {f: c for c, f in mapping.items()}
    for column, value in row.items():
        fld = mapping.get(column, column if column in TABLE_FIELDS and column not in by_field else None)
        if fld is None:
            if value is not None:
                extra[column] = value
        else:
            fields[fld] = value
    col = {f: by_field.get(f, f) for f in TABLE_FIELDS}  # the column to name in errors
    rec = LogRecord(request_id=str(fields.get("id") or n), metadata=extra)
    if fields.get("messages") is not None:
        rec.messages = chat_messages(fields["messages"], where, col["messages"])
    elif isinstance(fields.get("prompt"), str) and fields["prompt"].strip():
        rec.prompt = fields["prompt"]
    else:
        raise where.error("no prompt: map a column to prompt or messages", col["prompt"])
    rec.model = None if fields.get("model") in (None, "") else str(fields["model"])
    rec.response = None if fields.get("response") is None else str(fields["response"])
    rec.prompt_tokens = number(fields.get("prompt_tokens"), where, col["prompt_tokens"], integer=True)
    rec.completion_tokens = number(fields.get("completion_tokens"), where, col["completion_tokens"], integer=True)
    rec.cost_usd = number(fields.get("cost_usd"), where, col["cost_usd"])
    rec.latency_s = number(fields.get("latency_s"), where, col["latency_s"])
    rec.arrived_at = timestamp(fields.get("arrived_at"), where, col["arrived_at"])
    rec.user = None if fields.get("user") is None else str(fields["user"])
    rec.session = None if fields.get("session") is None else str(fields["session"])
    rec.category = None if fields.get("category") is None else str(fields["category"])
    rec.tags = _tags(fields.get("tags"))
    score = number(fields.get("score"), where, col["score"])
    if score is not None:
        if score > 1:
            raise where.error("a score is in [0, 1]", col["score"])
        rec.feedback = {"score": score}
    rec.propensity = number(fields.get("propensity"), where, col["propensity"])
    return rec


def _tags(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value)
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except ValueError:
            pass
    return [t.strip() for t in text.split(",") if t.strip()]
