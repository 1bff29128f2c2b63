"""LiteLLM Proxy spend logs: the ``LiteLLM_SpendLogs`` table exported as CSV, JSON(L) or Parquet.

Where the names come from: the ``LiteLLM_SpendLogs`` model of BerriAI/litellm's ``schema.prisma`` (read
at commit 029f645f): ``request_id``, ``call_type``, ``spend`` (USD), ``prompt_tokens``,
``completion_tokens``, ``total_tokens``, ``startTime``, ``endTime``, ``completionStartTime``,
``request_duration_ms``, ``model``, ``model_id``, ``model_group``, ``custom_llm_provider``, ``api_base``,
``user``, ``end_user``, ``metadata`` (JSON), ``cache_hit``, ``cache_key``, ``request_tags`` (JSON list),
``team_id``, ``organization_id``, ``requester_ip_address``, ``messages`` and ``response`` (JSON, filled
when the proxy stores prompts: ``store_prompts_in_spend_logs``), ``session_id``, ``status``, ``api_key``
(a hash of the key, never read here).

Mapping: the answer's model is ``model`` (the name litellm priced; ``model_group`` and the provider go to
metadata); cost is ``spend`` as logged; latency ``request_duration_ms`` / 1000, else ``endTime -
startTime``; time to first token (``completionStartTime - startTime``) goes to metadata; user ``end_user``
else ``user``; session ``session_id``; tags ``request_tags``; category ``metadata.category``; the logging
router's choice probability ``metadata.propensity``. A call whose ``status`` is ``failure`` and a row
without stored ``messages`` are skipped and counted: they hold no answer, or no prompt, to replay.
"""

from __future__ import annotations

import json
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

__all__ = ["read_litellm"]

_META_COLUMNS = ("call_type", "model_group", "model_id", "custom_llm_provider", "cache_hit", "team_id",
                 "organization_id")


def read_litellm(files: list[Path], options: dict[str, Any]) -> Iterator[Item]:
    """One record per spend-log row."""
    for path in files:
        for where, row in table_rows(path):
            yield where, _row(row, where)


def _row(row: dict[str, Any], where: Where) -> LogRecord | Skip:
    rid = row.get("request_id")
    if not rid:
        raise where.error("every spend-log row has a request_id", "request_id")
    if str(row.get("status") or "success").lower() not in ("success", ""):
        return Skip("failed call (status)")
    stored = row.get("messages")
    if stored in (None, "", "{}", "[]", {}, []):
        return Skip("no messages stored (store_prompts_in_spend_logs off)")
    if not row.get("model"):
        raise where.error("a spend-log row with messages needs its model", "model")
    meta = as_dict(row.get("metadata"), where, "metadata")
    rec = LogRecord(request_id=str(rid), messages=chat_messages(stored, where, "messages"), model=str(row["model"]))
    rec.response = _response_text(row.get("response"), where)
    rec.prompt_tokens = number(row.get("prompt_tokens"), where, "prompt_tokens", integer=True)
    rec.completion_tokens = number(row.get("completion_tokens"), where, "completion_tokens", integer=True)
    rec.cost_usd = number(row.get("spend"), where, "spend")
    start = timestamp(row.get("startTime"), where, "startTime")
    end = timestamp(row.get("endTime"), where, "endTime")
    first = timestamp(row.get("completionStartTime"), where, "completionStartTime")
    duration = number(row.get("request_duration_ms"), where, "request_duration_ms")
    rec.arrived_at = start
    rec.latency_s = duration / 1000 if duration is not None else (end - start if start is not None and
                                                                    end is not None else None)
    rec.user = _str(row.get("end_user")) or _str(row.get("user"))
    rec.session = _str(row.get("session_id"))
    rec.tags = [str(t) for t in _list(row.get("request_tags"), where)]
    rec.category = _str(meta.pop("category", None))
    rec.propensity = number(meta.pop("propensity", None), where, "metadata.propensity")
    rec.feedback = {k: meta.pop(k) for k in ("score", "feedback") if k in meta}
    rec.metadata = {"litellm_metadata": meta} if meta else {}
    rec.metadata.update({c: row[c] for c in _META_COLUMNS if row.get(c) not in (None, "")})
    if first is not None and start is not None:
        rec.metadata["ttft_s"] = first - start
    return rec


def _response_text(value: Any, where: Where) -> str:
    body = as_dict(value, where, "response") if not isinstance(value, str) or value.startswith("{") else value
    if isinstance(body, str):
        return body
    choices = body.get("choices") or []
    if choices and isinstance(choices[0], dict):
        return content_text((choices[0].get("message") or {}).get("content")) or ""
    return ""


def _list(value: Any, where: Where) -> list[Any]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise where.error("must hold a JSON list", "request_tags") from None
    if not isinstance(value, list):
        raise where.error("must be a list", "request_tags")
    return value


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
