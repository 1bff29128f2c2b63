"""The two row types every layer exchanges with the trace store: one request, one provider attempt.

Why named tuples owned by the store: the replay engine writes these rows, the store inserts them, the
audit trail seals them, tests read them back; each row is 29 or 32 cells that matched the table's
columns only by position, so one new column inserted in the middle would have shifted every later value
silently. Here each field is named exactly as its DuckDB column, in table order (after every migration,
``tests/store/test_rows.py`` checks that against the migrated tables), and every reader uses the name.

Why a NamedTuple and not a dataclass: a replay writes hundreds of thousands of rows a second; a named
tuple is a tuple (DuckDB and pandas take it as one, it costs no more memory), and the engine builds it
with ``tuple.__new__`` (``RequestRow._make`` would be slower) on its hot path.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["RequestRow", "AttemptRow", "REQUEST_COLUMNS", "ATTEMPT_COLUMNS"]


class RequestRow(NamedTuple):
    """One row of ``requests``: a request's route, outcome, totals and final answer."""

    run_id: str
    seq: int
    request_id: str
    category: str | None
    difficulty: float | None
    arrival_s: float
    start_s: float
    end_s: float
    latency_s: float
    policy: str
    route: str | None
    reason: str | None
    decision_score: float | None
    final_target: str | None
    status: str
    error_kind: str | None
    attempts: int
    retries: int
    fallbacks: int
    handoff: bool
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    quality: float | None
    response: str | None
    escalations: int
    skips: int
    verdicts: str | None
    prompt_hash: str | None
    # migration 011: where the quality of the final answer came from (README "Provenance")
    provenance: str | None = None
    deadline_s: float | None = None  # migration 013: a batch-lane request's deadline after arrival
    arm: str | None = None  # migration 015: 'baseline' or 'candidate' in a rollout, else NULL


class AttemptRow(NamedTuple):
    """One row of ``attempts``: one provider (or human) call, failed ones and fallbacks included."""

    run_id: str
    request_id: str
    attempt_no: int
    target: str
    model: str
    provider: str
    is_retry: bool
    is_fallback: bool
    start_s: float
    end_s: float
    wait_s: float
    ok: bool
    error_kind: str | None
    retry_after_s: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    score: float | None
    purpose: str
    response: str | None
    verdicts: str | None
    error_message: str | None
    model_version: str | None = None  # migration 012: the answering model's version (workbench/timeline.py)
    batch_id: str | None = None  # migration 013: the batch a batch-lane attempt ran in
    # migration 014: the token breakdown, service tier and cost parts (workbench/pricing.py)
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    tier: str = "standard"
    cost_input_usd: float = 0.0
    cost_cached_input_usd: float = 0.0
    cost_cache_write_usd: float = 0.0
    cost_output_usd: float = 0.0
    cost_reasoning_usd: float = 0.0
    standard_cost_usd: float = 0.0


#: Column names of ``requests`` / ``attempts``, in table order (the row types' fields).
REQUEST_COLUMNS: tuple[str, ...] = RequestRow._fields
ATTEMPT_COLUMNS: tuple[str, ...] = AttemptRow._fields
