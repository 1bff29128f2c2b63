"""Sample traffic: loading requests (JSONL, CSV, Parquet), sampling them, and timing their arrival.

Why its own module: traffic is the one input every scenario of a comparison shares. Loading,
sampling and arrival times depend only on the traffic file, the sample size and the seed, never on the
scenario's fleet or policy, so two scenarios given the same traffic and seed see exactly the same
requests at exactly the same virtual times. That is what makes a side-by-side comparison fair.

A malformed record stops loading with one :class:`TrafficError` naming the file, the line (or row)
and the field, before anything runs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.errors import TrafficError
from workbench.scenario import BurstArrival, PoissonArrival, RecordedArrival
from workbench.seeds import stream_seed
from workbench.traffic_checks import bad_quote, reject_surrogates

__all__ = ["Request", "Traffic", "prompt_key", "load_traffic", "load_dataset_traffic", "sample_requests",
           "arrival_times", "DIFFICULTY_LABELS"]

#: Words accepted for ``difficulty`` besides a number in [0, 1].
DIFFICULTY_LABELS = {"easy": 0.2, "simple": 0.2, "medium": 0.5, "hard": 0.8, "complex": 0.8}
_KNOWN = {"id", "prompt", "messages", "category", "difficulty", "expected", "metadata", "arrived_at"}


@dataclass(slots=True)
class Request:
    """One request to replay. ``prompt`` is the text routed on (the last user message for chats)."""

    id: str
    prompt: str
    messages: list[dict[str, Any]] | None = None
    category: str | None = None
    difficulty: float | None = None
    expected: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    arrived_at: float | None = None

    def chat(self) -> list[dict[str, Any]]:
        """The request as chat messages (a bare prompt becomes one user message)."""
        return self.messages if self.messages else [{"role": "user", "content": self.prompt}]


def prompt_key(req: Request) -> str:
    """SHA-256 (hex) of what a model is asked: the chat messages when given, else the prompt.

    The key of the outcome matrix (record once, re-route many times) and of the audit trail: two
    requests that ask the same thing share it, whatever their ids.
    """
    if req.messages:
        text = json.dumps(req.messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    else:
        text = req.prompt
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class Traffic:
    """Requests loaded from one file, with the file's SHA-256 for provenance."""

    path: Path
    requests: list[Request]
    sha256: str


def load_traffic(path: str | Path) -> Traffic:
    """Load a traffic file by extension (.jsonl, .csv, .parquet); raise one error naming the line."""
    p = Path(path)
    if not p.exists():
        raise TrafficError("no such traffic file", file=p)
    suffix = p.suffix.lower()
    readers = {".jsonl": _read_jsonl, ".ndjson": _read_jsonl, ".csv": _read_csv, ".parquet": _read_parquet}
    if suffix not in readers:
        raise TrafficError(f"unknown traffic format '{suffix}' (use .jsonl, .csv or .parquet)", file=p)
    data = p.read_bytes()
    requests: list[Request] = []
    seen: dict[str, int] = {}
    for line, record in readers[suffix](p, data):
        req = _to_request(record, p, line)
        if req.id in seen:
            raise TrafficError(f"duplicate id '{req.id}' (first on line {seen[req.id]})", file=p,
                               line=line, field="id")
        seen[req.id] = line
        requests.append(req)
    if not requests:
        raise TrafficError("the traffic file holds no requests", file=p)
    return Traffic(path=p, requests=requests, sha256=hashlib.sha256(data).hexdigest())


def load_dataset_traffic(name: str) -> Traffic:
    """The prompts of an imported or recorded dataset as traffic (``traffic: {dataset: NAME}``).

    The traffic's identity (``sha256``) is the dataset's fingerprint over its prompt keys and ids, so
    a run over a dataset that changed since cannot be resumed as if it had not.
    """
    from workbench.store.outcomes import OutcomeStore

    with OutcomeStore(name) as ds:
        df = ds.prompts()
        fingerprint = ds.fingerprint()
        path = ds.path
    if df.empty:
        raise TrafficError(f"dataset '{name}' holds no prompts", file=path)
    requests = []
    row: Any  # a row of the dataset's prompts table (DuckDB VARCHAR and DOUBLE columns: cells untyped)
    for row in df.itertuples(index=False):
        diff = row.difficulty
        requests.append(Request(
            id=row.prompt_id, prompt=row.prompt,
            messages=json.loads(row.messages) if isinstance(row.messages, str) else None,
            category=row.category if isinstance(row.category, str) else None,
            difficulty=None if diff is None or diff != diff else float(diff),
            expected=row.expected if isinstance(row.expected, str) else None,
            metadata=json.loads(row.metadata) if isinstance(row.metadata, str) else {},
            arrived_at=_stored_time(getattr(row, "arrived_at", None))))  # datasets before log imports lack it
    return Traffic(path=path, requests=requests, sha256=fingerprint)


def _stored_time(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def _read_jsonl(p: Path, data: bytes) -> Iterable[tuple[int, dict]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TrafficError(f"not UTF-8 text ({exc.reason})", file=p) from None
    # Lines end at "\n" only: str.splitlines() would also split inside a JSON string holding a raw
    # U+2028, U+2029 or U+0085, which json.dumps(ensure_ascii=False) writes as they are.
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TrafficError(f"invalid JSON: {exc.msg} (column {exc.colno})", file=p, line=n) from None
        except (ValueError, RecursionError) as exc:  # a number of over 4,300 digits; nesting too deep
            raise TrafficError(f"invalid JSON: {type(exc).__name__}: {str(exc)[:120]}", file=p, line=n) from None
        if not isinstance(record, dict):
            raise TrafficError("each line must be a JSON object", file=p, line=n)
        if "\\u" in raw:  # only a \u escape can put a lone surrogate into the decoded text
            reject_surrogates(record, p, n)
        yield n, record


def _read_csv(p: Path, data: bytes) -> Iterable[tuple[int, dict]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TrafficError(f"not UTF-8 text ({exc.reason})", file=p) from None
    # strict: a quote that never closes is an error, not the rest of the file read as one value
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            if None in row:
                raise TrafficError("more values than header columns", file=p, line=reader.line_num)
            record: dict[str, Any] = {k: v for k, v in row.items() if v not in ("", None)}
            for key in ("messages", "metadata"):
                if key in record:
                    try:
                        record[key] = json.loads(record[key])
                    except (ValueError, RecursionError):
                        raise TrafficError(f"'{key}' must hold JSON", file=p, line=reader.line_num,
                                           field=key) from None
            yield reader.line_num, record
    except csv.Error as exc:
        found = bad_quote(text, start)
        if found is not None:
            raise TrafficError(found[1], file=p, line=found[0]) from None
        raise TrafficError(f"malformed CSV: {exc}", file=p, line=start) from None


def _read_parquet(p: Path, data: bytes) -> Iterable[tuple[int, dict]]:
    from workbench.store.parquet import read_parquet_rows

    cols, rows = read_parquet_rows(p)  # a TrafficError naming the file if unreadable
    for n, row in enumerate(rows, start=1):
        record = {k: v for k, v in zip(cols, row, strict=True) if v is not None}
        for key in ("messages", "metadata"):
            if isinstance(record.get(key), str):
                try:
                    record[key] = json.loads(record[key])
                except (ValueError, RecursionError):
                    raise TrafficError(f"'{key}' must hold JSON", file=p, line=n, field=key) from None
        yield n, record


def _to_request(rec: dict, p: Path, line: int) -> Request:
    def bad(msg: str, fld: str) -> TrafficError:
        return TrafficError(msg, file=p, line=line, field=fld)

    rid = rec.get("id")
    if rid is None or str(rid).strip() == "":
        raise bad("every request needs an id", "id")
    messages = rec.get("messages")
    prompt = rec.get("prompt")
    if messages is not None:
        if not (isinstance(messages, list) and messages and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages)):
            raise bad("messages must be a non-empty list of {role, content} objects", "messages")
        if prompt is None:
            users = [m["content"] for m in messages if m["role"] == "user"]
            prompt = users[-1] if users else messages[-1]["content"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad("every request needs a prompt (text) or messages", "prompt")
    metadata = rec.get("metadata", {})
    if not isinstance(metadata, dict):
        raise bad("metadata must be an object", "metadata")
    extra = {k: v for k, v in rec.items() if k not in _KNOWN}
    deadline = extra.get("deadline_s")  # a batch lane's deadline (workbench/replay/batching.py)
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float))
                                 or not 0 < deadline < math.inf):
        raise bad(f"deadline_s must be a positive number of seconds after arrival, got {deadline!r}", "deadline_s")
    category = rec.get("category")
    expected = rec.get("expected")
    return Request(
        id=str(rid), prompt=prompt, messages=messages,
        category=None if category is None else str(category),
        difficulty=_difficulty(rec.get("difficulty"), bad),
        expected=None if expected is None else str(expected),
        metadata={**extra, **metadata},
        arrived_at=_timestamp(rec.get("arrived_at"), bad),
    )


def _difficulty(value: Any, bad) -> float | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() in DIFFICULTY_LABELS:
        return DIFFICULTY_LABELS[value.strip().lower()]
    try:
        d = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        d = math.nan
    if not 0.0 <= d <= 1.0:
        raise bad(f"difficulty must be a number in [0, 1] or one of {', '.join(DIFFICULTY_LABELS)}; "
                  f"got {value!r}", "difficulty")
    return d


def _timestamp(value: Any, bad, fld: str = "arrived_at") -> float | None:
    """Seconds since the epoch of an ISO-8601 string, a datetime or a number; None when ``value`` is."""
    return None if value is None else _seconds(value, bad, fld)


def _seconds(value: Any, bad, fld: str) -> float:
    number: float | None
    if isinstance(value, datetime):
        return _utc(value).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    if isinstance(value, str):
        parsed: float | None
        try:
            parsed = float(value)
        except ValueError:
            parsed = None
        if parsed is not None and math.isfinite(parsed):
            return parsed
        if parsed is None:
            try:
                return _utc(datetime.fromisoformat(value.replace("Z", "+00:00"))).timestamp()
            except ValueError:
                pass
    raise bad(f"not a timestamp (ISO-8601 or seconds): {value!r}", fld)


def _utc(dt: datetime) -> datetime:
    # A timestamp without a zone is read as UTC, never as this machine's local time: the same file
    # must replay the same way everywhere.
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def sample_requests(requests: Sequence[Request], n: int | None, seed: int, *, replace: bool = False,
                    source: str | Path | None = None) -> list[Request]:
    """Pick ``n`` requests with ``seed`` (all of them, in file order, when ``n`` is None).

    Without ``replace`` asking for more than the file holds is an error; with it, repeats get ids
    ``<id>#<k>`` so every replayed request stays unique.
    """
    if n is None:
        return list(requests)
    rng = random.Random(stream_seed(seed, "traffic.sample"))
    if not replace:
        if n > len(requests):
            raise TrafficError(f"asked for {n} requests but the file holds {len(requests)} "
                               "(sample fewer, or set traffic.replace: true)", file=source)
        picked = sorted(rng.sample(range(len(requests)), n))
        return [requests[i] for i in picked]
    out = []
    for k in range(n):
        r = requests[rng.randrange(len(requests))]
        out.append(Request(id=f"{r.id}#{k}", prompt=r.prompt, messages=r.messages, category=r.category,
                           difficulty=r.difficulty, expected=r.expected, metadata=r.metadata,
                           arrived_at=r.arrived_at))
    return out


def arrival_times(requests: Sequence[Request], arrival, seed: int,
                  source: str | Path | None = None) -> tuple[list[Request], list[float]]:
    """Order requests by arrival and give each its arrival time in seconds from the run's start."""
    rng = random.Random(stream_seed(seed, "traffic.arrival"))
    if isinstance(arrival, RecordedArrival):
        stamped: list[tuple[float, Request]] = []
        for r in requests:
            ts = r.arrived_at if arrival.field == "arrived_at" else r.metadata.get(arrival.field)
            if ts is None:
                raise TrafficError(f"arrival 'recorded' needs '{arrival.field}' on every request; "
                                   f"request '{r.id}' has none", file=source, field=arrival.field)
            if not isinstance(ts, float):
                ts = _seconds(ts, lambda m, f: TrafficError(m, file=source, field=f), arrival.field)
            stamped.append((ts, r))
        if not stamped:
            return [], []
        stamped.sort(key=lambda x: x[0])
        t0 = stamped[0][0]
        return [r for _, r in stamped], [(ts - t0) / arrival.speedup for ts, _ in stamped]
    if isinstance(arrival, PoissonArrival):
        t = 0.0
        times: list[float] = []
        for _ in requests:
            t += rng.expovariate(arrival.rate_per_s)
            times.append(t)
        return list(requests), times
    if isinstance(arrival, BurstArrival):
        return list(requests), _burst_times(len(requests), arrival, rng)
    raise TypeError(f"unknown arrival process {arrival!r}")


def _burst_times(n: int, arrival: BurstArrival, rng: random.Random) -> list[float]:
    # Thinning (Lewis & Shedler): candidates at the peak rate, kept with probability rate(t) / peak.
    peak = max([arrival.rate_per_s, *(b.rate_per_s for b in arrival.bursts)])

    def rate(t: float) -> float:
        for b in arrival.bursts:
            if b.at_s <= t < b.at_s + b.duration_s:
                return b.rate_per_s
        return arrival.rate_per_s

    t = 0.0
    times: list[float] = []
    while len(times) < n:
        t += rng.expovariate(peak)
        if rng.random() * peak < rate(t):
            times.append(t)
    return times
