"""What each request of a run asked: the prompt text, read back from the run's traffic and checked.

Why not a column of the trace: the store keeps each request's ``prompt_hash`` (SHA-256 of what was
asked, :func:`workbench.traffic.prompt_key`), not its text, so that traces of a large traffic file stay
small and the golden traces stay as they are. The text is in the traffic the run names (its resolved
file, or its dataset); this module reads it back and keeps a prompt only when its hash equals the
stored one, so a traffic file edited after the run shows "changed since the run", never another
prompt. The Audit page and the exports (:func:`export_with_prompts`) show the same text.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.store.export import export_run
from workbench.traffic import Request, load_dataset_traffic, load_traffic, prompt_key

__all__ = ["run_prompts", "export_with_prompts"]


def _con(con_or_store) -> duckdb.DuckDBPyConnection:
    return getattr(con_or_store, "con", con_or_store)


def _traffic(spec: dict, traffic_path: str) -> list[Request]:
    if spec.get("dataset"):
        return load_dataset_traffic(spec["dataset"]).requests
    return load_traffic(spec.get("source") or traffic_path).requests


def run_prompts(con_or_store, run_id: str) -> pd.DataFrame:
    """``request_id`` and ``prompt`` (None where the traffic no longer holds it) of every request of
    ``run_id``, in arrival order; ``attrs["note"]`` says why prompts are missing ('' when none is)."""
    con = _con(con_or_store)
    found = con.execute("SELECT traffic_spec, traffic_path FROM runs WHERE run_id = ?", [run_id]).fetchall()
    row = found[0] if found else None
    ids = con.execute("SELECT request_id, prompt_hash FROM requests WHERE run_id = ? ORDER BY seq", [run_id]).fetchall()
    frame = pd.DataFrame({"request_id": [r for r, _ in ids], "prompt": pd.Series([None] * len(ids), dtype=object)})
    if row is None:
        frame.attrs["note"] = f"no run '{run_id}'"
        return frame
    spec = json.loads(row[0]) if row[0] else {}
    try:
        requests = _traffic(spec, row[1])
    except (WorkbenchError, OSError) as exc:
        frame.attrs["note"] = f"prompts not shown: the run's traffic cannot be read now ({exc})"
        return frame
    by_id = {r.id: r for r in requests}
    prompts, changed = [], 0
    for rid, stored in ids:
        req = by_id.get(rid) or by_id.get(rid.rsplit("#", 1)[0])  # a sample with replacement adds "#k"
        ok = req is not None and (stored is None or prompt_key(req) == stored)
        changed += not ok
        prompts.append(req.prompt if ok and req is not None else None)
    frame["prompt"] = pd.Series(prompts, dtype=object)
    where = spec.get("dataset") or Path(str(spec.get("source") or row[1])).name
    frame.attrs["note"] = (f"{changed:,} prompts not shown: {where} changed since the run (their hashes differ)"
                           if changed else "")
    return frame


def export_with_prompts(con_or_store, run_id: str, path: str | Path, fmt: str = "parquet") -> dict[str, Path]:
    """:func:`~workbench.store.export.export_run` with each request's prompt text (see :func:`run_prompts`)."""
    return export_run(con_or_store, run_id, path, fmt, prompts=run_prompts(con_or_store, run_id))
