"""What every log format becomes: one :class:`LogRecord` per logged call, and the readers they share.

Why one normalized record: six tools log the same facts (what was asked, which model answered, what it
said, tokens, time, cost, feedback) under different names. Each format module only maps its names onto
this record; scrubbing, token counting, pricing and writing happen once, in :mod:`.pipeline`, so two
imports of the same traffic from two tools give the same dataset.

Readers stream: a JSONL file is read line by line (its SHA-256 computed on the way), so memory does not
grow with the file. Every error names the file, the line and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.errors import InputError

__all__ = ["LogRecord", "Where", "Skip", "Item", "json_lines", "chat_messages", "content_text", "timestamp",
           "number", "as_dict", "FILE_HASHES"]


@dataclass(slots=True)
class LogRecord:
    """One logged call: the request (traffic) and the logged answer (outcome), in the workbench's names."""

    request_id: str
    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    model: str | None = None
    response: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None
    arrived_at: float | None = None
    user: str | None = None
    session: str | None = None
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    feedback: dict[str, Any] = field(default_factory=dict)
    propensity: float | None = None


@dataclass(frozen=True, slots=True)
class Where:
    """A place in an input file, for errors."""

    file: Path
    line: int

    def error(self, message: str, fld: str | None = None) -> InputError:
        """An :class:`InputError` at this place."""
        return InputError(message, file=self.file, line=self.line, field=fld)


@dataclass(frozen=True, slots=True)
class Skip:
    """A record left out, and why (counted in the import's report)."""

    reason: str


#: What a format reader yields: where, and a record or the reason it was skipped.
Item = tuple[Where, LogRecord | Skip]

#: SHA-256 of every file read, filled in by :func:`json_lines` and the table readers (provenance).
FILE_HASHES: dict[str, str] = {}


def json_lines(path: Path) -> Iterator[tuple[Where, dict[str, Any]]]:
    """The JSON objects of a JSONL file, one a line, with their place; blank lines are skipped."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            digest.update(raw)
            where = Where(path, n)
            if not raw.strip():
                continue
            try:  # decoded here, not by json.loads: it would guess the encoding of every line
                record = json.loads(raw.decode("utf-8-sig" if n == 1 else "utf-8"))
            except UnicodeDecodeError as exc:
                raise where.error(f"not UTF-8 text ({exc.reason})") from None
            except json.JSONDecodeError as exc:
                raise where.error(f"invalid JSON (a truncated line?): {exc.msg} at column {exc.colno}") from None
            except (ValueError, RecursionError) as exc:
                raise where.error(f"invalid JSON: {type(exc).__name__}") from None
            if not isinstance(record, dict):
                raise where.error("each line must be a JSON object")
            yield where, record
    FILE_HASHES[str(path)] = digest.hexdigest()


def as_dict(value: Any, where: Where, fld: str) -> dict[str, Any]:
    """``value`` as an object (a JSON string holding one is parsed); None and ``""`` give ``{}``."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise where.error("must hold a JSON object", fld) from None
    if not isinstance(value, dict):
        raise where.error(f"must be an object, got {type(value).__name__}", fld)
    return value


def content_text(content: Any) -> str | None:
    """The text of a message's content: a string, or the text parts of a list of parts joined."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                text = part.get("text", part.get("content")) if part.get("type", "text") in ("text", "input_text",
                                                                                              "output_text") else None
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts)
    if isinstance(content, dict):
        return content_text(content.get("content", content.get("text")))
    return None


def chat_messages(value: Any, where: Where, fld: str) -> list[dict[str, str]]:
    """OpenAI-style chat messages (``role`` and ``content``, a string or a list of parts) as plain chats."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise where.error("must hold a JSON list of messages", fld) from None
    if not isinstance(value, list) or not value:
        raise where.error("must be a non-empty list of {role, content} messages", fld)
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise where.error(f"message {i} has no role", fld)
        text = content_text(m.get("content"))
        out.append({"role": m["role"], "content": text or ""})
    return out


def timestamp(value: Any, where: Where, fld: str) -> float | None:
    """Seconds since the epoch from an ISO-8601 string (``Z`` or an offset; none = UTC) or a number."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:  # ISO-8601 first: what logs hold; Python 3.11 reads "Z" and fractions itself
            dt = datetime.fromisoformat(text)
        except ValueError:
            try:
                seconds = float(text)
            except ValueError:
                raise where.error("not a timestamp (ISO-8601 or seconds)", fld) from None
            if math.isfinite(seconds):
                return seconds
            raise where.error("not a timestamp (ISO-8601 or seconds)", fld) from None
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    raise where.error("not a timestamp (ISO-8601 or seconds)", fld)


def number(value: Any, where: Where, fld: str, *, integer: bool = False) -> Any:
    """A finite, non-negative number (an int when ``integer``), or None when empty."""
    if value is None or value == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise where.error("must be a number", fld) from None
    if isinstance(value, bool) or not math.isfinite(x) or x < 0:
        raise where.error("must be a finite number, not negative", fld)
    if integer:
        if x != int(x):
            raise where.error("must be a whole number", fld)
        return int(x)
    return x
