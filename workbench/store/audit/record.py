"""Audit records: the canonical JSON of one request's row, and the hash that links it to the chain.

Why every column: a seal that leaves a field out leaves it forgeable (an auditor cannot tell an edited
cost or a flipped ``is_fallback`` from the original). Seal version 2 therefore builds the record from
every column of the request's ``requests`` row and of each of its ``attempts`` rows, named as the
columns are, so a column added by a later migration is sealed without anyone listing it
(``tests/store/test_audit.py`` fails if the writer and the table's columns ever differ). A NULL is
left out of the record rather than written as null: a column added later is NULL in old rows, so old
chains stay intact, while writing a value into it (or erasing one) still breaks the row. The run's
defining fields (scenario YAML and hash, traffic, seed, mode, version; not its status or times) are
sealed whole into the first row and by their SHA-256 into every row.

Seal version 1 (runs audited before migration 007) covered only the decision, the calls, the answers
and the verdicts; :func:`audit_record` still builds it so that those chains verify as they were sealed.

Why a link may be an HMAC: with a plain SHA-256, whoever can rewrite the database can rebuild a
consistent chain. A key from ``WORKBENCH_AUDIT_KEY`` makes each link ``HMAC-SHA256(key, prev_hash +
record)``: rebuilding then needs the key, which is read from the environment only and never written.

Canonical JSON: keys sorted, no spaces, numbers written one way whatever their type (an integral
value as an integer, others as the shortest repr of the float64, NaN as null), so that a value read
back through DuckDB or pandas (``1`` vs ``1.0``, ``numpy.float64``, a NULL as NaN) hashes the same.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import pandas as pd

from workbench.errors import InputError

__all__ = ["GENESIS", "SEAL_VERSION", "KEY_ENV", "REQUEST_FIELDS", "ATTEMPT_FIELDS", "RUN_UNSEALED", "canonical",
           "audit_record", "record_v2", "run_fields", "chain_hash", "link", "signing_key", "sha256_hex"]

GENESIS = "0" * 64  # prev_hash of a chain's first row
SEAL_VERSION = 2  # what new audited runs are sealed with (runs.audit_seal)
KEY_ENV = "WORKBENCH_AUDIT_KEY"  # the optional HMAC key's environment variable
MIN_KEY_BYTES = 16
#: Seal version 1's columns of ``requests`` and ``attempts``, in the order :func:`audit_record` reads them.
REQUEST_FIELDS = ("seq", "request_id", "prompt_hash", "policy", "route", "reason", "decision_score", "status",
                  "error_kind", "final_target", "handoff", "response", "quality", "verdicts")
ATTEMPT_FIELDS = ("request_id", "attempt_no", "target", "model", "provider", "purpose", "ok", "error_kind",
                  "response", "score", "verdicts")
#: Columns of ``runs`` that change during a run (or say nothing about what was run): not sealed.
RUN_UNSEALED = frozenset({"status", "started_at", "finished_at", "note"})
_JSON_COLUMNS = frozenset({"verdicts"})  # JSON text, sealed by value (``1`` and ``1.0`` alike)
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


# --- seal version 1 (runs audited before migration 007) ---------------------------------------------

def audit_record(run_id: str, scenario_hash: str, req: Sequence, attempts: Iterable[Sequence]) -> dict:
    """Seal version 1's record of one request, from its request row and attempt rows as sequences of the
    :data:`REQUEST_FIELDS` and :data:`ATTEMPT_FIELDS` values."""
    n = _norm
    (seq, request_id, prompt_hash, policy, route, reason, score, status, error_kind, final_target, handoff,
     response, quality, verdicts) = req
    calls = [{"attempt_no": n(a[1]), "target": a[2], "model": a[3], "provider": a[4], "purpose": a[5],
              "ok": n(a[6]), "error_kind": n(a[7]), "response": n(a[8]), "score": n(a[9]),
              "verdicts": _verdicts(a[10])} for a in attempts]
    calls.sort(key=lambda c: c["attempt_no"])
    by_human = bool(n(handoff))
    output = n(response)
    return {
        "run_id": run_id, "seq": n(seq), "request_id": request_id, "scenario_hash": scenario_hash,
        "prompt_hash": n(prompt_hash),
        "decision": {"policy": policy, "route": n(route), "reason": n(reason), "score": n(score)},
        "attempts": calls,
        "final": {"status": status, "error_kind": n(error_kind), "target": n(final_target), "by_human": by_human,
                  "output": output, "quality": n(quality), "verdicts": _verdicts(verdicts)},
        "human_override": _overridden(by_human, calls, output),
    }


def _overridden(by_human: bool, calls: list[dict], output) -> bool:
    """A person's answer that differs from the model's last answer (none if no model answered)."""
    if not by_human:
        return False
    answers = [c for c in calls if c.get("provider") != "human" and c.get("purpose", "answer") in _MODEL_ANSWER
               and c.get("ok")]
    return bool(answers and answers[-1].get("response") != output)


# --- seal version 2: every column -----------------------------------------------------------------

def _columns(names: Sequence[str], values: Sequence, skip: frozenset) -> dict:
    """A row as ``{column: canonical value}``: NULLs left out, JSON columns parsed."""
    out = {}
    for name, value in zip(names, values, strict=True):
        if value is None or name in skip:
            continue
        t = type(value)
        if name in _JSON_COLUMNS:
            value = _verdicts(value)
        elif not (t is str or t is int or t is bool):  # already canonical: the common case, kept fast
            value = _norm(value)
        if value is not None:
            out[name] = value
    return out


_REQ_SKIP = frozenset({"run_id"})
_ATT_SKIP = frozenset({"run_id", "request_id"})


def record_v2(run_id: str, run_sha: str, run: dict | None, request_columns: Sequence[str], req: Sequence,
              attempt_columns: Sequence[str], attempts: Iterable[Sequence]) -> dict:
    """Seal version 2's record of one request: every column of its request row and attempt rows (NULLs
    left out), the SHA-256 of the run's sealed fields, and those fields in full when ``run`` is given
    (the chain's first row)."""
    request = _columns(request_columns, req, _REQ_SKIP)
    calls = sorted((_columns(attempt_columns, a, _ATT_SKIP) for a in attempts), key=lambda c: c.get("attempt_no", 0))
    record = {"seal": 2, "run_id": run_id, "run_sha256": run_sha, "request": request, "attempts": calls,
              "human_override": _overridden(bool(request.get("handoff")), calls, request.get("response"))}
    if run is not None:
        record["run"] = run
    return record


def run_fields(row: Mapping) -> dict:
    """The sealed fields of a ``runs`` row (every column but :data:`RUN_UNSEALED`), canonical, NULLs left out."""
    return _columns(list(row), list(row.values()), RUN_UNSEALED)


# --- links -----------------------------------------------------------------------------------------

def sha256_hex(text: str) -> str:
    """SHA-256 of a text (UTF-8) as hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chain_hash(prev_hash: str, canon: str) -> str:
    """``sha256(prev_hash + canonical JSON)`` as hex: an unsigned link."""
    return hashlib.sha256((prev_hash + canon).encode("utf-8")).hexdigest()


def link(prev_hash: str, canon: str, key: bytes | None) -> str:
    """A row's hash: :func:`chain_hash`, or ``HMAC-SHA256(key, prev_hash + canonical JSON)`` with a key."""
    if key is None:
        return chain_hash(prev_hash, canon)
    return hmac.new(key, (prev_hash + canon).encode("utf-8"), hashlib.sha256).hexdigest()


def signing_key() -> bytes | None:
    """The HMAC key from ``$WORKBENCH_AUDIT_KEY`` (None when unset); InputError when it is too short."""
    text = os.environ.get(KEY_ENV)
    if text is None:
        return None
    key = text.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise InputError(f"${KEY_ENV} is set but shorter than {MIN_KEY_BYTES} bytes: use a long random secret "
                         "(e.g. `openssl rand -hex 32`), or unset it to seal without a key")
    return key
