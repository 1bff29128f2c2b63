"""Langfuse exports: traces, generation observations and the scores attached to them (JSONL or JSON).

Where the names come from: Langfuse's public API objects (its Fern/OpenAPI definition, read through the
generated client genai-rs/langfuse-client-base, ``docs/Trace.md``, ``docs/ObservationsView.md``,
``docs/BaseScore.md``; the JSON uses camelCase):

* trace: ``id``, ``timestamp``, ``name``, ``userId``, ``sessionId``, ``tags``, ``metadata``;
* observation: ``id``, ``traceId``, ``type`` (``GENERATION`` is a model call), ``startTime``,
  ``endTime``, ``completionStartTime``, ``model``, ``input``, ``output``, ``metadata``, ``level``,
  ``usageDetails`` (``input``, ``output``, ``total``; older exports: ``usage`` with ``input``/``output``
  or ``promptTokens``/``completionTokens``), ``costDetails`` (``total``; older:
  ``calculatedTotalCost``, ``totalCost``), ``latency`` (seconds);
* score: ``id``, ``traceId``, ``observationId``, ``name``, ``value``, ``stringValue``, ``dataType``.

A line is a score when it has ``name`` and ``value`` and an ``observationId`` or ``traceId`` but no
``startTime``; an observation when it has ``type`` and ``startTime``; a trace otherwise. Traces and scores
are read in a first pass (kept in memory: user, session, tags and score values, not texts), generations
stream in a second. A generation's feedback is every score on it or on its trace; its ``score`` is the
one named by ``--score NAME`` (else the only numeric score in [0, 1]). Observations of other types
(spans, events) and generations at level ``ERROR`` are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.datasets.logs.common import (
    Item,
    LogRecord,
    Skip,
    Where,
    as_dict,
    chat_messages,
    content_text,
    number,
    timestamp,
)
from workbench.datasets.logs.tables import table_rows

__all__ = ["read_langfuse"]


def _kind(rec: dict[str, Any]) -> str:
    if "startTime" in rec and "type" in rec:
        return "observation"
    if "name" in rec and "value" in rec and ("observationId" in rec or "traceId" in rec):
        return "score"
    return "trace"


def read_langfuse(files: list[Path], options: dict[str, Any]) -> Iterator[Item]:
    """Generation observations joined with their trace and scores."""
    traces: dict[str, dict[str, Any]] = {}
    scores: dict[str, dict[str, Any]] = {}  # trace or observation id -> {score name: value}
    for path in files:
        for where, rec in table_rows(path):
            kind = _kind(rec)
            if kind == "trace":
                if not rec.get("id"):
                    raise where.error("a trace needs an id", "id")
                traces[str(rec["id"])] = {"userId": rec.get("userId"), "sessionId": rec.get("sessionId"),
                                          "tags": rec.get("tags") or [], "name": rec.get("name"),
                                          "metadata": as_dict(rec.get("metadata"), where, "metadata")}
            elif kind == "score":
                value = rec.get("stringValue") if rec.get("dataType") == "CATEGORICAL" else rec.get("value")
                target = str(rec.get("observationId") or rec.get("traceId"))
                scores.setdefault(target, {})[str(rec["name"])] = value
    for path in files:
        for where, rec in table_rows(path):
            if _kind(rec) == "observation":
                yield where, _generation(rec, where, traces, scores)


def _generation(obs: dict[str, Any], where: Where, traces: dict[str, dict[str, Any]],
                scores: dict[str, dict[str, Any]]) -> LogRecord | Skip:
    if obs.get("type") != "GENERATION":
        return Skip("not a generation (span or event)")
    if obs.get("level") == "ERROR":
        return Skip("failed call (level ERROR)")
    if not obs.get("id"):
        raise where.error("an observation needs an id", "id")
    if not obs.get("model"):
        raise where.error("a generation without a model", "model")
    trace = traces.get(str(obs.get("traceId")), {})
    meta = {**trace.get("metadata", {}), **as_dict(obs.get("metadata"), where, "metadata")}
    rec = LogRecord(request_id=str(obs["id"]), model=str(obs["model"]), metadata={})
    raw_in = obs.get("input")
    if isinstance(raw_in, dict) and "messages" in raw_in:
        raw_in = raw_in["messages"]
    if isinstance(raw_in, str):
        rec.prompt = raw_in
    else:
        rec.messages = chat_messages(raw_in, where, "input")
    rec.response = content_text(obs.get("output")) or ""
    usage = obs.get("usageDetails") or obs.get("usage") or {}
    rec.prompt_tokens = number(usage.get("input", obs.get("promptTokens")), where, "usageDetails.input", integer=True)
    rec.completion_tokens = number(usage.get("output", obs.get("completionTokens")), where, "usageDetails.output",
                                   integer=True)
    cost = (obs.get("costDetails") or {}).get("total")
    for alt in ("calculatedTotalCost", "totalCost"):
        cost = obs.get(alt) if cost is None else cost
    rec.cost_usd = number(cost, where, "costDetails.total")
    start, end = timestamp(obs.get("startTime"), where, "startTime"), timestamp(obs.get("endTime"), where, "endTime")
    latency = number(obs.get("latency"), where, "latency")
    rec.arrived_at = start
    rec.latency_s = latency if latency is not None else (end - start if start is not None and end is not None
                                                         else None)
    rec.user, rec.session = _str(trace.get("userId")), _str(trace.get("sessionId"))
    rec.tags = [str(t) for t in trace.get("tags", [])]
    rec.category = _str(meta.pop("category", None))
    rec.propensity = number(meta.pop("propensity", None), where, "metadata.propensity")
    rec.feedback = {**scores.get(str(obs.get("traceId")), {}), **scores.get(str(obs["id"]), {})}
    if meta:
        rec.metadata["langfuse_metadata"] = meta
    if trace.get("name"):
        rec.metadata["trace_name"] = trace["name"]
    return rec


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
