"""Writing the chain: sealing each batch of an audited run inside the writer's transaction.

Why the chain's settings are read before the transaction: whether a run is audited, with which seal
version, and whether its links are signed are fixed when the run starts (``runs.audit_seal``,
``runs.audit_signed``). A signed run cannot go on without its key, and that must stop the writer
before it opens a transaction, not leave one half done. The head (last position and hash) is read
inside the transaction, so a batch that rolls back leaves the next one linking to the last stored row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter

import duckdb
import pandas as pd

from workbench.errors import StoreError
from workbench.store.audit.record import (
    ATTEMPT_FIELDS,
    GENESIS,
    KEY_ENV,
    REQUEST_FIELDS,
    SEAL_VERSION,
    _dumps,
    audit_record,
    canonical,
    link,
    record_v2,
    run_fields,
    sha256_hex,
    signing_key,
)
from workbench.store.rows import ATTEMPT_COLUMNS, REQUEST_COLUMNS, AttemptRow, RequestRow

__all__ = ["AUDIT_COLUMNS", "Chain", "chains", "seal", "is_audited", "chain_head", "check_resumable"]

AUDIT_COLUMNS = ("run_id", "pos", "seq", "request_id", "prev_hash", "row_hash", "row_json")


@dataclass(frozen=True)
class Chain:
    """How one audited run is sealed: seal version, key (None: plain SHA-256), its sealed run fields."""

    seal: int
    key: bytes | None
    run: dict
    run_sha: str
    scenario_hash: str


def run_row(con: duckdb.DuckDBPyConnection, run_id: str) -> dict | None:
    """A ``runs`` row as ``{column: value}``, or None."""
    cur = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
    row = cur.fetchone()
    return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))


def chain_of(row: dict, key: bytes | None) -> Chain:
    """The sealing settings of an audited run's ``runs`` row, with the key to use (if it is signed)."""
    run = run_fields(row)
    version = int(row.get("audit_seal") or 1)
    if not 1 <= version <= SEAL_VERSION:  # a newer workbench's seal: reading it as ours would mis-verify
        raise StoreError(f"run '{row['run_id']}' is sealed with audit seal version {version}; this workbench "
                         f"knows versions 1 to {SEAL_VERSION}: verify or resume it with a newer version")
    return Chain(version, key if row.get("audit_signed") else None, run,
                 sha256_hex(canonical(run)), row["scenario_hash"])


def _signed_key(run_id: str) -> bytes:
    key = signing_key()
    if key is None:
        raise StoreError(f"run '{run_id}' seals its audit trail with a key (HMAC): set ${KEY_ENV} to the key "
                         "it was started with to write to it")
    return key


def chains(con: duckdb.DuckDBPyConnection, run_ids: Iterable[str], cache: dict) -> dict[str, Chain | None]:
    """The :class:`Chain` of each run (None: not audited), cached in ``cache`` across batches. Call before
    the write's transaction: StoreError when a signed run's key is not in the environment."""
    for rid in set(run_ids) - cache.keys():
        row = run_row(con, rid)
        if not (row and row.get("audit")):
            cache[rid] = None
            continue
        cache[rid] = chain_of(row, _signed_key(rid) if row.get("audit_signed") else None)
    return cache


def seal(con: duckdb.DuckDBPyConnection, requests: Sequence[RequestRow], attempts: Sequence[AttemptRow],
         runs: dict[str, Chain | None]) -> int:
    """Append the audit rows of a batch of requests of audited runs, chained in the order given.

    Call inside the transaction that inserts the rows; ``runs`` comes from :func:`chains`. Returns how
    many audit rows were written.
    """
    if not any(runs.get(r.run_id) for r in requests):
        return 0
    request_columns, attempt_columns = list(REQUEST_COLUMNS), list(ATTEMPT_COLUMNS)
    by_request: dict[tuple, list[AttemptRow]] = {}
    for a in attempts:
        by_request.setdefault((a.run_id, a.request_id), []).append(a)
    v1 = _V1(request_columns, attempt_columns)
    out: list[tuple] = []
    heads: dict[str, tuple[int, str]] = {}
    for r in requests:
        rid = r.run_id
        chain = runs.get(rid)
        if chain is None:
            continue
        pos, prev = heads[rid] if rid in heads else _head(con, rid)
        atts = by_request.get((rid, r.request_id), ())
        if chain.seal == 1:
            record = v1.record(rid, chain.scenario_hash, r, atts)
        else:
            record = record_v2(rid, chain.run_sha, chain.run if pos == 0 else None, request_columns, r,
                               attempt_columns, atts)
        canon = _dumps(record)
        h = link(prev, canon, chain.key)
        out.append((rid, pos, r.seq, r.request_id, prev, h, canon))
        heads[rid] = (pos + 1, h)
    frame = pd.DataFrame.from_records(out, columns=AUDIT_COLUMNS)  # noqa: F841  (read by DuckDB)
    con.execute(f"INSERT INTO audit_trail ({', '.join(AUDIT_COLUMNS)}) SELECT * FROM frame")
    return len(out)


class _V1:
    """Seal version 1's record from the writer's rows (a run audited before migration 007, resumed)."""

    def __init__(self, request_columns: list[str], attempt_columns: list[str]):
        self.req = itemgetter(*(request_columns.index(f) for f in REQUEST_FIELDS))
        self.att = itemgetter(*(attempt_columns.index(f) for f in ATTEMPT_FIELDS))

    def record(self, run_id: str, scenario_hash: str, req: tuple, attempts: Iterable[tuple]) -> dict:
        """The version-1 record of one request."""
        return audit_record(run_id, scenario_hash, self.req(req), [self.att(a) for a in attempts])


def _head(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, str]:
    """(next position, last row_hash) of a run's chain, as stored."""
    last = con.execute("SELECT pos, row_hash FROM audit_trail WHERE run_id = ? ORDER BY pos DESC LIMIT 1",
                       [run_id]).fetchone()
    return (0, GENESIS) if last is None else (last[0] + 1, last[1])


def is_audited(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """True when ``run_id`` was started with ``audit: true``."""
    row = con.execute("SELECT audit FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return bool(row and row[0])


def chain_head(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The last row_hash of an audited run's chain as stored (GENESIS if empty); None if not audited."""
    if not is_audited(con, run_id):
        return None
    return _head(con, run_id)[1]


def check_resumable(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Before an audited, signed run is resumed: StoreError unless ``$WORKBENCH_AUDIT_KEY`` holds the key
    its chain was sealed with (checked on its last row), so one chain never mixes two keys."""
    row = run_row(con, run_id)
    if not (row and row.get("audit") and row.get("audit_signed")):
        return
    key = _signed_key(run_id)
    last = con.execute("SELECT prev_hash, row_hash, row_json FROM audit_trail WHERE run_id = ? "
                       "ORDER BY pos DESC LIMIT 1", [run_id]).fetchone()
    if last is not None and link(last[0], last[2], key) != last[1]:
        raise StoreError(f"run '{run_id}': ${KEY_ENV} is not the key its audit trail was sealed with (its last "
                         "row does not verify with it); resume with the original key")
