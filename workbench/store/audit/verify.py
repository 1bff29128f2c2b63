"""Verifying the chain: recompute every row from the traces, check every stored row against its hash.

Why both checks: recomputing each record from ``requests``, ``attempts`` and ``runs`` finds an edit of
the traces even when the audit table is left alone; hashing each stored ``row_json`` finds an edit of
the audit table even when the traces are left alone (``audit show`` prints that JSON, so it must never
be trusted unchecked). Either names the first broken row and the field that differs.

What no check inside one database can find: a consistent rewrite of traces and chain together. Two
things outside the database can: the head hash recorded elsewhere (``--head``), or a key the rewriter
does not hold (``$WORKBENCH_AUDIT_KEY``, HMAC links). :meth:`AuditResult.message` says which of them
the verification used, and so what an ``intact`` is worth.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TypedDict

import duckdb
import pandas as pd

from workbench.errors import InputError
from workbench.store.audit.chain import Chain, chain_of, run_row
from workbench.store.audit.record import (
    ATTEMPT_FIELDS,
    GENESIS,
    KEY_ENV,
    REQUEST_FIELDS,
    _dumps,
    audit_record,
    link,
    record_v2,
    signing_key,
)

__all__ = ["AuditResult", "verify_run", "request_trail", "trail_frame", "trail_summary"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DERIVED = frozenset({"human_override"})  # computed from other fields: named only when nothing else differs
_V1_GAPS = ("seal v1 (audited before migration 007): cost, tokens, latency, category, retry and fallback flags "
            "and the scenario text are not sealed")


@dataclass(frozen=True)
class AuditResult:
    """The outcome of :func:`verify_run`: intact, or the first broken row and what broke."""

    run_id: str
    rows: int
    intact: bool
    head: str
    pos: int | None = None
    seq: int | None = None
    request_id: str | None = None
    field: str | None = None
    problem: str | None = None
    seal: int = 2
    signed: bool = False  # every link was checked as an HMAC under the key
    head_checked: bool = False  # the chain was checked against a head recorded outside the database

    def message(self) -> str:
        """One line for a person: ``intact: N rows`` and what that rests on, or the first broken row."""
        if self.intact:
            if self.signed or self.head_checked:
                how = " and ".join(w for w, on in (("every link signed with the key", self.signed),
                                                   ("ending on the recorded head", self.head_checked)) if on)
            else:
                how = ("checked against no recorded head (--head) and no key, so a chain rebuilt from "
                       "scratch would pass too")
            gaps = f"; {_V1_GAPS}" if self.seal == 1 else ""
            return f"intact: {self.rows:,} rows (run {self.run_id}, head {self.head}); {how}{gaps}"
        where = f"row {self.pos}" if self.pos is not None else "the chain"
        if self.request_id is not None:
            where += f" (seq {self.seq}, request {self.request_id})"
        field = f", field {self.field}" if self.field else ""
        return f"broken at {where}{field}: {self.problem}"


def _audited_run(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    row = run_row(con, run_id)
    if row is None:
        raise InputError(f"no run '{run_id}' (see `workbench runs`)")
    if "audit" not in row:  # a file from before migration 005, opened read-only
        raise InputError(f"run '{run_id}' has no audit trail: the trace database predates audit trails "
                         "(open it once with this version to migrate it)")
    if not row["audit"]:
        raise InputError(f"run '{run_id}' has no audit trail: its scenario did not set `audit: true`")
    return row


class _Recompute:
    """Each request's record rebuilt from the stored traces, as the writer sealed it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str, chain: Chain):
        self.run_id, self.chain = run_id, chain
        v1 = chain.seal == 1
        cur = con.execute(f"SELECT {', '.join(REQUEST_FIELDS) if v1 else '*'} FROM requests WHERE run_id = ?",
                          [run_id])
        self.req_cols = [d[0] for d in cur.description]
        self.reqs: dict[str, list[tuple]] = {}
        i = self.req_cols.index("request_id")
        for row in cur.fetchall():
            self.reqs.setdefault(row[i], []).append(row)
        cur = con.execute(f"SELECT {', '.join(ATTEMPT_FIELDS) if v1 else '*'} FROM attempts WHERE run_id = ?",
                          [run_id])
        self.i_req = i
        self.att_cols = [d[0] for d in cur.description]
        self.atts: dict[str, list[tuple]] = {}
        i = self.att_cols.index("request_id")
        for row in cur.fetchall():
            self.atts.setdefault(row[i], []).append(row)

    def canon(self, pos: int, req: tuple) -> str:
        """The canonical JSON the writer would have sealed at ``pos`` for this request row."""
        atts = self.atts.get(req[self.i_req], ())
        if self.chain.seal == 1:
            return _dumps(audit_record(self.run_id, self.chain.scenario_hash, req, atts))
        return _dumps(record_v2(self.run_id, self.chain.run_sha, self.chain.run if pos == 0 else None,
                                self.req_cols, req, self.att_cols, atts))


def _diff(stored, fresh, path: str = "") -> str | None:
    """The dotted path of the first field where two records differ."""
    if isinstance(stored, dict) and isinstance(fresh, dict):
        for k in sorted(set(stored) | set(fresh), key=lambda k: (k in _DERIVED, k)):  # stored fields first
            d = _diff(stored.get(k), fresh.get(k), f"{path}.{k}" if path else k)
            if d:
                return d
        return None
    if isinstance(stored, list) and isinstance(fresh, list) and len(stored) == len(fresh):
        for i, (s, f) in enumerate(zip(stored, fresh, strict=True)):
            label = f"attempt_no={s['attempt_no']}" if isinstance(s, dict) and "attempt_no" in s else i
            d = _diff(s, f, f"{path}[{label}]")
            if d:
                return d
        return None
    return None if stored == fresh else (path or "row")


def _key_for(row: dict, run_id: str, key: bytes | None) -> bytes | None:
    key = signing_key() if key is None else key
    if row.get("audit_signed") and key is None:
        raise InputError(f"run '{run_id}' has a signed audit trail (HMAC-SHA256): set ${KEY_ENV} to the key it was "
                         "sealed with to verify it")
    return key


def verify_run(con: duckdb.DuckDBPyConnection, run_id: str, head: str | None = None,
               key: bytes | None = None) -> AuditResult:
    """Recompute every audit row of ``run_id`` from its stored traces and check each stored row's hash.

    InputError when the run is unknown, has no audit trail, or is signed and no key is given.
    ``head``: the chain's last hash as recorded elsewhere; a chain ending on another hash is broken
    (truncated or rebuilt). ``key``: the HMAC key (default ``$WORKBENCH_AUDIT_KEY``); given for a chain
    that is not signed, the chain is reported broken, since a rebuild without the key looks just so.
    """
    if head is not None and not _HEX64.fullmatch(head):
        raise InputError(f"--head {head!r}: not a chain head (64 hex digits, as printed by run, resume and verify)")
    row = _audited_run(con, run_id)
    key = _key_for(row, run_id, key)
    chain = chain_of(row, key)
    trail = con.execute("SELECT pos, seq, request_id, prev_hash, row_hash, row_json FROM audit_trail "
                        "WHERE run_id = ? ORDER BY pos", [run_id]).fetchall()
    res = _Facts(run_id=run_id, rows=len(trail), seal=chain.seal, signed=chain.key is not None)
    if key is not None and chain.key is None:
        return AuditResult(**res, intact=False, head=trail[-1][4] if trail else GENESIS, field="audit_signed",
                           problem=f"${KEY_ENV} is set but this chain is not signed: it was sealed without the "
                           "key, or rebuilt by someone who did not have it")
    fresh = _Recompute(con, run_id, chain)
    prev, seen = GENESIS, set[str]()
    for i, (pos, seq, request_id, prev_hash, row_hash, row_json) in enumerate(trail):
        broken = _check_row(fresh, seen, i, pos, prev, prev_hash, request_id, row_hash, row_json)
        if broken:
            return AuditResult(**res, intact=False, head=prev, pos=pos, seq=seq, request_id=request_id,
                               field=broken[0], problem=broken[1])
        seen.add(request_id)
        prev = row_hash
    return _after_chain(fresh, row, seen, prev, head, res)


class _Facts(TypedDict):
    """The fields of an :class:`AuditResult` known before any row is checked."""

    run_id: str
    rows: int
    seal: int
    signed: bool


def _after_chain(fresh: _Recompute, row: dict, seen: set, prev: str, head: str | None, res: _Facts) -> AuditResult:
    i_seq = fresh.req_cols.index("seq")
    missing = sorted((rows[0][i_seq], rid) for rid, rows in fresh.reqs.items() if rid not in seen)
    if missing:
        seq, rid = missing[0]
        return AuditResult(**res, intact=False, head=prev, seq=seq, request_id=rid,
                           problem=f"request not in the audit trail ({len(missing)} such): added after sealing, "
                           "or its audit row was deleted")
    if row["status"] == "completed" and res["rows"] != row["requests_planned"]:
        return AuditResult(**res, intact=False, head=prev, problem=f"the run completed "
                           f"{row['requests_planned']:,} requests but the chain has {res['rows']:,} rows")
    if head is not None and head != prev:
        return AuditResult(**res, intact=False, head=prev, problem=f"the chain ends on {prev}, not on the "
                           f"recorded head {head} (rows removed from the end, or the chain rebuilt)")
    return AuditResult(**res, intact=True, head=prev, head_checked=head is not None)


def _check_row(fresh: _Recompute, seen, i, pos, prev, prev_hash, request_id, row_hash,
               row_json) -> tuple[str, str] | None:
    if pos != i or prev_hash != prev:
        return ("prev_hash", "does not link to the row before: a row was deleted, inserted or moved "
                "before this one")
    if request_id in seen:
        return ("request_id", "this request is sealed twice")
    rows = fresh.reqs.get(request_id, [])
    if len(rows) != 1:
        return ("request", "the request row is missing from the requests table" if not rows else
                f"the request appears {len(rows)} times in the requests table")
    canon = fresh.canon(pos, rows[0])
    key = fresh.chain.key
    if link(prev, row_json, key) != row_hash:  # the stored row does not match its own hash
        if link(prev, canon, key) == row_hash:
            return (f"row_json.{_field(row_json, canon)}", "the stored audit row was edited after sealing "
                    "(its JSON no longer matches its hash; the traces still do)")
        return ("row_hash", "the row's HMAC does not match its content: the row was altered, or the chain was "
                "signed with another key" if key else "the audit row itself was altered (its hash does not "
                "match its content)")
    if canon != row_json:
        sealed_as = _sealed_version(row_json)
        if sealed_as != fresh.chain.seal:
            return ("seal", f"the row was sealed as version {sealed_as} but the run says version {fresh.chain.seal}")
        return (_field(row_json, canon), "the stored traces differ from what was sealed")
    return None


def _sealed_version(row_json: str):
    try:
        record = json.loads(row_json)
    except ValueError:
        return None
    return record.get("seal", 1) if isinstance(record, dict) else None


def _field(row_json: str, canon: str) -> str:
    try:
        stored = json.loads(row_json)
    except ValueError:
        return "row"
    return (_diff(stored, json.loads(canon)) if isinstance(stored, dict) else None) or "row"


# --- reading a trail -----------------------------------------------------------------------------

def request_trail(con: duckdb.DuckDBPyConnection, run_id: str, request_id: str, head: str | None = None,
                  key: bytes | None = None) -> dict:
    """One request's audit row as stored, with its position, hashes and the run's verification
    (``verified`` false: the row may be a forgery); InputError if absent."""
    _audited_run(con, run_id)
    row = con.execute("SELECT pos, prev_hash, row_hash, row_json FROM audit_trail WHERE run_id = ? AND "
                      "request_id = ? ORDER BY pos LIMIT 1", [run_id, request_id]).fetchone()
    if row is None:
        raise InputError(f"run '{run_id}' has no audit row for request '{request_id}'")
    result = verify_run(con, run_id, head=head, key=key)
    return {"verified": result.intact, "verification": result.message(), "pos": row[0], "prev_hash": row[1],
            "row_hash": row[2], "record": json.loads(row[3])}


def _path(v1: str, v2: str) -> str:
    return f"coalesce(row_json->>'$.{v2}', row_json->>'$.{v1}')"


def trail_frame(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """A run's audit rows as stored (see :func:`verify_run` for whether they are intact), one per request
    in chain order: route, who answered, override."""
    _audited_run(con, run_id)
    return con.execute(f"""
        SELECT pos, seq, request_id, {_path('decision.route', 'request.route')} AS route,
               {_path('decision.reason', 'request.reason')} AS reason,
               {_path('final.target', 'request.final_target')} AS final_target,
               coalesce({_path('final.by_human', 'request.handoff')}::BOOLEAN, false) AS by_human,
               (row_json->>'$.human_override')::BOOLEAN AS human_override,
               {_path('final.output', 'request.response')} AS output, row_hash
        FROM audit_trail WHERE run_id = ? ORDER BY pos""", [run_id]).df()


def trail_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    """Counts of a run's stored decisions: rows, decided without a person, by a person, overridden."""
    _audited_run(con, run_id)
    counts = con.execute(f"""
        SELECT count(*), count(*) FILTER (coalesce({_path('final.by_human', 'request.handoff')}::BOOLEAN, false)),
               count(*) FILTER ((row_json->>'$.human_override')::BOOLEAN)
        FROM audit_trail WHERE run_id = ?""", [run_id]).fetchone()
    assert counts is not None  # an aggregate without GROUP BY returns one row
    rows, human, overrides = counts
    return {"rows": rows, "without_human": rows - human, "by_human": human, "human_overrides": overrides}
