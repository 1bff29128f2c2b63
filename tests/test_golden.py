"""Golden traces: every library scenario and exercise design, replayed at its own seed, writes exactly the
``requests`` and ``attempts`` rows it wrote when ``tests/golden/traces.json`` was made.

Why: the replay engine is being restructured (issue 13: one engine over a clock seam, named row types).
A restructuring must not move one draw, one float or one column; comparing summaries would hide a
changed retry time or a reordered attempt. Each run's rows are rendered column by column (floats with
``repr``, which round-trips exactly) and hashed, per table; the digest file keeps the row counts and a
few figures beside each hash so a failure says what moved, not only that something did.

The live scenario (``live-sim.yaml``) is left out on purpose: its times are wall-clock measurements and
differ on every run. Recorded scenarios replay the real RouteLLM answers from ../shared/datasets.

Only the columns that existed when the digests were made are hashed (``PINNED``): a migration that adds a
column (a cost breakdown, a model version) leaves these digests valid as long as every existing cell is
unchanged. A change that is meant to alter an existing column must regenerate the digests, with its reason.

To re-make the digests after a change that is *meant* to alter traces (never during a refactor):
``WORKBENCH_GOLDEN_UPDATE=1 pytest tests/test_golden.py`` and commit the file with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import SCENARIOS

from workbench.rollout.plan import is_plan_file
from workbench.runner import execute, prepare
from workbench.scenario import load_scenario
from workbench.store import TraceStore

GOLDEN = Path(__file__).parent / "golden" / "traces.json"
REQUESTS = 300  # enough for retries, fallbacks, breaker trips and hand-offs in every design; ~0.1 s each
DESIGNS = [p for p in sorted(SCENARIOS.glob("*.yaml")) if p.name != "live-sim.yaml" and not is_plan_file(p)]
DESIGNS += [p for p in sorted((SCENARIOS / "exercises").glob("*/*.yaml"))
            if p.name != "rubric.yaml" and not is_plan_file(p)]
UPDATE = os.environ.get("WORKBENCH_GOLDEN_UPDATE") == "1"


def _render(value) -> str:
    """One cell as text that changes whenever the stored value does (floats exactly, via repr)."""
    return repr(value)


#: The columns of each table when the digests were made (after migration 010), in table order.
PINNED = {
    "requests": ["seq", "request_id", "category", "difficulty", "arrival_s", "start_s", "end_s", "latency_s",
                 "policy", "route", "reason", "decision_score", "final_target", "status", "error_kind", "attempts",
                 "retries", "fallbacks", "handoff", "prompt_tokens", "completion_tokens", "cost_usd", "quality",
                 "response", "escalations", "skips", "verdicts", "prompt_hash"],
    "attempts": ["request_id", "attempt_no", "target", "model", "provider", "is_retry", "is_fallback", "start_s",
                 "end_s", "wait_s", "ok", "error_kind", "retry_after_s", "prompt_tokens", "completion_tokens",
                 "cost_usd", "score", "purpose", "response", "verdicts", "error_message"],
}


def _table_digest(store: TraceStore, table: str, run_id: str, order: str) -> dict:
    columns = PINNED[table]
    order = ", ".join(columns) if order == "ALL" else order
    cur = store.con.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE run_id = ? ORDER BY {order}", [run_id])
    h = hashlib.sha256("\t".join(columns).encode())
    rows = 0
    for row in cur.fetchall():
        h.update(("\n" + "\t".join(_render(v) for v in row)).encode())
        rows += 1
    return {"rows": rows, "sha256": h.hexdigest()}


def trace_digest(path: Path, tmp_path: Path) -> dict:
    """Replay ``path`` on its own seed and traffic for REQUESTS requests; digest its rows per table."""
    prep = prepare(load_scenario(path), requests=REQUESTS)
    with TraceStore(tmp_path / "golden.duckdb") as store:
        rid, _ = execute(prep, store)
        cost, quality = store.con.execute(
            "SELECT round(sum(cost_usd), 6), round(avg(quality), 6) FROM requests WHERE run_id = ?", [rid]
        ).fetchone()
        return {
            "requests": _table_digest(store, "requests", rid, "seq"),
            "attempts": _table_digest(store, "attempts", rid, "ALL"),
            "cost_usd": cost,
            "quality": quality,
        }


def _key(path: Path) -> str:
    return str(path.relative_to(SCENARIOS))


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}


@pytest.mark.parametrize("path", DESIGNS, ids=_key)
def test_rows_are_byte_identical_to_the_golden_trace(path, tmp_path, golden, routellm_env):
    got = trace_digest(path, tmp_path)
    if UPDATE:
        golden[_key(path)] = got
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(dict(sorted(golden.items())), indent=1) + "\n")
        return
    assert _key(path) in golden, f"no golden trace for {_key(path)}: make one with WORKBENCH_GOLDEN_UPDATE=1"
    assert got == golden[_key(path)]


def test_every_design_has_a_golden_trace_and_none_is_stale(golden):
    assert sorted(golden) == sorted(_key(p) for p in DESIGNS)
    assert all(g["requests"]["rows"] == REQUESTS for g in golden.values())
    assert sum(g["attempts"]["rows"] > REQUESTS for g in golden.values()) >= 10, "retries and fallbacks covered"
