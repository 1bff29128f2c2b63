"""The audit trail: a tamper-evident hash chain over every decision of an audited run.

Why a hash chain, sealed in the writer's transaction: a regulator asks "what was decided for this
applicant, by which model, on what input, and has anyone changed it since?". Each request of a run
whose scenario sets ``audit: true`` gets one audit row holding its decision (policy, route, reason),
every call (model, provider, answer, grader verdicts), the final output and whether a human overrode
the model; ``row_hash = sha256(prev_hash + canonical JSON of the row)`` links it to the row before.
The rows are written by :meth:`workbench.store.TraceStore.write` in the same transaction as the
request and attempt rows they cover, so a run killed part way keeps a chain that ends exactly where
its traces end, and a resumed run continues the chain from the last stored hash.

Why verification recomputes from ``requests`` and ``attempts`` rather than trusting the audit table:
editing an answer or a verdict in the traces must break the chain even if the audit table is left
alone. The stored row JSON only serves to name the field that changed.

What a chain cannot show on its own: someone able to rewrite the whole database can rebuild a
consistent chain. ``verify`` therefore prints the chain's head hash; recording it elsewhere (a
ticket, a signed log) turns a rewrite into a detectable one (``--head``).

Canonical JSON: keys sorted, no spaces, numbers written one way whatever their type (an integral
value as an integer, others as the shortest repr of the float64, NaN as null), so that a value read
back through DuckDB or pandas (``1`` vs ``1.0``, ``numpy.float64``, a NULL as NaN) hashes the same.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Iterable, Mapping, Sequence

import duckdb
import pandas as pd

from workbench.errors import InputError

__all__ = ["GENESIS", "AUDIT_COLUMNS", "REQUEST_FIELDS", "ATTEMPT_FIELDS", "AuditResult", "canonical", "audit_record",
           "chain_hash", "seal", "is_audited", "verify_run", "request_trail", "trail_frame", "trail_summary"]

GENESIS = "0" * 64  # prev_hash of a chain's first row
AUDIT_COLUMNS = ("run_id", "pos", "seq", "request_id", "prev_hash", "row_hash", "row_json")
#: The columns of ``requests`` and ``attempts`` an audit row is built from, in this order.
REQUEST_FIELDS = ("seq", "request_id", "prompt_hash", "policy", "route", "reason", "decision_score", "status",
               "error_kind", "final_target", "handoff", "response", "quality", "verdicts")
ATTEMPT_FIELDS = ("request_id", "attempt_no", "target", "model", "provider", "purpose", "ok", "error_kind",
               "response", "score", "verdicts")
_MODEL_ANSWER = frozenset({"answer", "escalation"})  # purposes whose text is the request's answer


# --- canonical form ----------------------------------------------------------------------------------

def _norm(value):
    """One representation per value: numbers by value, not by type; NaN and NA as None."""
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is float:
        if value != value:  # NaN
            return None
        if value.is_integer() and abs(value) < 2 ** 53:
            return int(value)  # 1.0 and 1 hash alike; -0.0 becomes 0
        return value if abs(value) != math.inf else ("Infinity" if value > 0 else "-Infinity")
    if t is int:
        return value
    if t is dict:
        return {str(k): _norm(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_norm(v) for v in value]
    return _norm_other(value)


def _norm_other(value):
    # The slow path: numpy scalars, pandas' missing values, subclasses, other mappings.
    if isinstance(value, Mapping):
        return {str(k): _norm(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, (int, float)):  # numpy scalars (np.bool_ too)
        return _norm(value.item())
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _norm(float(value))
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_dumps = _ENCODER.encode  # for records already normalised; one encoder, not one per call


def canonical(record: Mapping) -> str:
    """The canonical JSON text of an audit record (what is hashed)."""
    return _dumps(_norm(record))


def chain_hash(prev_hash: str, canon: str) -> str:
    """``sha256(prev_hash + canonical JSON)`` as hex."""
    return hashlib.sha256((prev_hash + canon).encode("utf-8")).hexdigest()


def _verdicts(text):
    if type(text) is not str:
        return None if text is None or text != text else _norm(text)  # NULL, or NaN via pandas
    return _parsed(text)


@lru_cache(maxsize=4096)
def _parsed(text: str):
    # Verdict objects repeat a lot ({"exact":1}): parse each text once. The result is only serialised.
    try:
        return _norm(json.loads(text))
    except ValueError:
        return text  # not JSON (altered by hand): hashed as the text it is, so the change shows


def audit_record(run_id: str, scenario_hash: str, req: Sequence, attempts: Iterable[Sequence]) -> dict:
    """The audit row of one request, with every value in canonical form, from its request row and
    attempt rows as sequences of the :data:`REQUEST_FIELDS` and :data:`ATTEMPT_FIELDS` values."""
    n = _norm
    (seq, request_id, prompt_hash, policy, route, reason, score, status, error_kind, final_target, handoff,
     response, quality, verdicts) = req
    calls = [{"attempt_no": n(a[1]), "target": a[2], "model": a[3], "provider": a[4], "purpose": a[5],
              "ok": n(a[6]), "error_kind": n(a[7]), "response": n(a[8]), "score": n(a[9]),
              "verdicts": _verdicts(a[10])} for a in attempts]
    calls.sort(key=lambda c: c["attempt_no"])
    answers = [c for c in calls if c["provider"] != "human" and c["purpose"] in _MODEL_ANSWER and c["ok"]]
    by_human = bool(n(handoff))
    output = n(response)
    return {
        "run_id": run_id, "seq": n(seq), "request_id": request_id, "scenario_hash": scenario_hash,
        "prompt_hash": n(prompt_hash),
        "decision": {"policy": policy, "route": n(route), "reason": n(reason), "score": n(score)},
        "attempts": calls,
        "final": {"status": status, "error_kind": n(error_kind), "target": n(final_target), "by_human": by_human,
                  "output": output, "quality": n(quality), "verdicts": _verdicts(verdicts)},
        # A person's answer that differs from the model's last answer (none if no model answered).
        "human_override": bool(by_human and answers and answers[-1]["response"] != output),
    }


# --- writing (inside TraceStore.write's transaction) -------------------------------------------------

def is_audited(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """True when ``run_id`` was started with ``audit: true``."""
    row = con.execute("SELECT audit FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return bool(row and row[0])


def seal(con: duckdb.DuckDBPyConnection, requests: Sequence[tuple], attempts: Sequence[tuple],
         request_columns: Sequence[str], attempt_columns: Sequence[str], flags: dict[str, bool]) -> int:
    """Append the audit rows of a batch of requests of audited runs, chained in the order given.

    Call inside the transaction that inserts the rows; ``flags`` caches :func:`is_audited` per run.
    Returns how many audit rows were written.
    """
    runs = {r[0] for r in requests}
    for rid in runs - flags.keys():
        flags[rid] = is_audited(con, rid)
    if not any(flags[r] for r in runs):
        return 0
    pick_req = itemgetter(*(list(request_columns).index(f) for f in REQUEST_FIELDS))
    pick_att = itemgetter(*(list(attempt_columns).index(f) for f in ATTEMPT_FIELDS))
    by_request: dict[tuple, list[tuple]] = {}
    for a in attempts:
        row = pick_att(a)
        by_request.setdefault((a[0], row[0]), []).append(row)
    out: list[tuple] = []
    heads: dict[str, tuple[int, str, str]] = {}
    for r in requests:
        rid = r[0]
        if not flags[rid]:
            continue
        if rid not in heads:
            heads[rid] = _head(con, rid)
        pos, prev, scenario_hash = heads[rid]
        req = pick_req(r)
        canon = _dumps(audit_record(rid, scenario_hash, req, by_request.get((rid, req[1]), ())))
        h = chain_hash(prev, canon)
        out.append((rid, pos, req[0], req[1], prev, h, canon))
        heads[rid] = (pos + 1, h, scenario_hash)
    frame = pd.DataFrame.from_records(out, columns=AUDIT_COLUMNS)  # noqa: F841  (read by DuckDB)
    con.execute(f"INSERT INTO audit_trail ({', '.join(AUDIT_COLUMNS)}) SELECT * FROM frame")
    return len(out)


def _head(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, str, str]:
    """(next position, last row_hash, scenario hash) of a run's chain, as stored."""
    scenario_hash = con.execute("SELECT scenario_hash FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
    last = con.execute("SELECT pos, row_hash FROM audit_trail WHERE run_id = ? ORDER BY pos DESC LIMIT 1",
                       [run_id]).fetchone()
    return (0, GENESIS, scenario_hash) if last is None else (last[0] + 1, last[1], scenario_hash)


# --- verifying --------------------------------------------------------------------------------------

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

    def message(self) -> str:
        """One line for a person: ``intact: N rows`` or the first broken row."""
        if self.intact:
            return f"intact: {self.rows:,} rows (run {self.run_id}, head {self.head})"
        where = f"row {self.pos}" if self.pos is not None else "the chain"
        if self.request_id is not None:
            where += f" (seq {self.seq}, request {self.request_id})"
        field = f", field {self.field}" if self.field else ""
        return f"broken at {where}{field}: {self.problem}"


def _run_row(con: duckdb.DuckDBPyConnection, run_id: str):
    try:
        row = con.execute("SELECT audit, scenario_hash, status, requests_planned FROM runs WHERE run_id = ?",
                          [run_id]).fetchone()
    except duckdb.BinderException:  # a file from before migration 005, opened read-only
        raise InputError(f"run '{run_id}' has no audit trail: the trace database predates audit trails "
                         "(open it once with this version to migrate it)") from None
    if row is None:
        raise InputError(f"no run '{run_id}' (see `workbench runs`)")
    if not row[0]:
        raise InputError(f"run '{run_id}' has no audit trail: its scenario did not set `audit: true`")
    return row


def _fetch(con: duckdb.DuckDBPyConnection, run_id: str):
    cols = ", ".join(REQUEST_FIELDS)
    reqs: dict[str, list[tuple]] = {}
    for row in con.execute(f"SELECT {cols} FROM requests WHERE run_id = ?", [run_id]).fetchall():
        reqs.setdefault(row[1], []).append(row)
    atts: dict[str, list[tuple]] = {}
    for row in con.execute(f"SELECT {', '.join(ATTEMPT_FIELDS)} FROM attempts WHERE run_id = ?",
                           [run_id]).fetchall():
        atts.setdefault(row[0], []).append(row)
    trail = con.execute("SELECT pos, seq, request_id, prev_hash, row_hash, row_json FROM audit_trail "
                        "WHERE run_id = ? ORDER BY pos", [run_id]).fetchall()
    return reqs, atts, trail


def _diff(stored, fresh, path: str = "") -> str | None:
    """The dotted path of the first field where two records differ."""
    if isinstance(stored, dict) and isinstance(fresh, dict):
        for k in sorted(set(stored) | set(fresh)):
            d = _diff(stored.get(k), fresh.get(k), f"{path}.{k}" if path else k)
            if d:
                return d
        return None
    if isinstance(stored, list) and isinstance(fresh, list) and len(stored) == len(fresh):
        for i, (s, f) in enumerate(zip(stored, fresh)):
            label = f"attempt_no={s['attempt_no']}" if isinstance(s, dict) and "attempt_no" in s else i
            d = _diff(s, f, f"{path}[{label}]")
            if d:
                return d
        return None
    return None if stored == fresh else (path or "row")


def verify_run(con: duckdb.DuckDBPyConnection, run_id: str, head: str | None = None) -> AuditResult:
    """Recompute every audit row of ``run_id`` from its stored requests and attempts.

    InputError when the run is unknown or has no audit trail. ``head``: the chain's last hash as
    recorded elsewhere; a chain ending on another hash is reported broken (truncated or rebuilt).
    """
    _, scenario_hash, status, planned = _run_row(con, run_id)
    reqs, atts, trail = _fetch(con, run_id)
    prev, seen = GENESIS, set()
    for i, (pos, seq, request_id, prev_hash, row_hash, row_json) in enumerate(trail):
        broken = _check_row(run_id, scenario_hash, reqs, atts, seen, i, pos, prev, prev_hash, request_id,
                            row_hash, row_json)
        if broken:
            field, problem = broken
            return AuditResult(run_id, len(trail), False, prev, pos, seq, request_id, field, problem)
        seen.add(request_id)
        prev = row_hash
    missing = sorted((rows[0][0], rid) for rid, rows in reqs.items() if rid not in seen)
    if missing:
        seq, rid = missing[0]
        return AuditResult(run_id, len(trail), False, prev, None, seq, rid, None,
                           f"request not in the audit trail ({len(missing)} such): added after sealing, "
                           "or its audit row was deleted")
    if status == "completed" and len(trail) != planned:
        return AuditResult(run_id, len(trail), False, prev, problem=f"the run completed {planned:,} requests "
                           f"but the chain has {len(trail):,} rows")
    if head is not None and head != prev:
        return AuditResult(run_id, len(trail), False, prev, problem=f"the chain ends on {prev}, not on the "
                           f"recorded head {head} (rows removed from the end, or the chain rebuilt)")
    return AuditResult(run_id, len(trail), True, prev)


def _check_row(run_id, scenario_hash, reqs, atts, seen, i, pos, prev, prev_hash, request_id, row_hash,
               row_json) -> tuple[str | None, str] | None:
    if pos != i or prev_hash != prev:
        return ("prev_hash", "does not link to the row before: a row was deleted, inserted or moved "
                "before this one")
    if request_id in seen:
        return ("request_id", "this request is sealed twice")
    rows = reqs.get(request_id, [])
    if len(rows) != 1:
        return ("request", "the request row is missing from the requests table" if not rows else
                f"the request appears {len(rows)} times in the requests table")
    canon = _dumps(audit_record(run_id, scenario_hash, rows[0], atts.get(request_id, ())))
    if chain_hash(prev, canon) == row_hash:
        return None
    try:
        stored = json.loads(row_json)
    except (TypeError, ValueError):
        stored = None
    field = _diff(stored, json.loads(canon)) if isinstance(stored, dict) else None
    if field:
        return (field, "the stored traces differ from what was sealed")
    return ("row_hash", "the audit row itself was altered (its hash does not match its content)")


def request_trail(con: duckdb.DuckDBPyConnection, run_id: str, request_id: str) -> dict:
    """One request's audit row as sealed, with its position and hashes (InputError if absent)."""
    _run_row(con, run_id)
    row = con.execute("SELECT pos, prev_hash, row_hash, row_json FROM audit_trail WHERE run_id = ? AND "
                      "request_id = ? ORDER BY pos LIMIT 1", [run_id, request_id]).fetchone()
    if row is None:
        raise InputError(f"run '{run_id}' has no audit row for request '{request_id}'")
    return {"pos": row[0], "prev_hash": row[1], "row_hash": row[2], "record": json.loads(row[3])}


def trail_frame(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """A run's audit rows as sealed, one per request in chain order: route, who answered, override."""
    _run_row(con, run_id)
    return con.execute("""
        SELECT pos, seq, request_id, row_json->>'$.decision.route' AS route,
               row_json->>'$.decision.reason' AS reason, row_json->>'$.final.target' AS final_target,
               (row_json->>'$.final.by_human')::BOOLEAN AS by_human,
               (row_json->>'$.human_override')::BOOLEAN AS human_override,
               row_json->>'$.final.output' AS output, row_hash
        FROM audit_trail WHERE run_id = ? ORDER BY pos""", [run_id]).df()


def trail_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    """Counts of a run's sealed decisions: rows, decided without a person, by a person, overridden."""
    _run_row(con, run_id)
    rows, human, overrides = con.execute("""
        SELECT count(*), count(*) FILTER ((row_json->>'$.final.by_human')::BOOLEAN),
               count(*) FILTER ((row_json->>'$.human_override')::BOOLEAN)
        FROM audit_trail WHERE run_id = ?""", [run_id]).fetchone()
    return {"rows": rows, "without_human": rows - human, "by_human": human, "human_overrides": overrides}
