"""A live batch lane's round trip through litellm's Files and Batches API (OpenAI's schema).

Why apart from :mod:`workbench.providers.live`: a batch is not one call but a small protocol (upload a
JSONL file with ``purpose: batch``, create the batch with ``completion_window: 24h``, poll it, read the
output and error files by ``custom_id``), and the live module stays about one call. litellm speaks the
protocol to OpenAI, Azure, a LiteLLM Proxy or the workbench's ``sim-server`` (``api_base``); the engine
never sees it (:mod:`workbench.replay.batching` awaits :func:`run_batch` as one task).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from workbench.errors import ErrorKind
from workbench.providers.base import Outcome
from workbench.traffic import Request

__all__ = ["run_batch", "batch_lines", "TERMINAL"]

#: Batch statuses after which polling stops (OpenAI's names).
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def batch_lines(model: str, requests: Sequence[Request]) -> bytes:
    """The batch input file: one ``/v1/chat/completions`` request a line, ``custom_id`` = request id."""
    name = model.split("/", 1)[1] if model.startswith("openai/") else model
    return "".join(json.dumps({"custom_id": r.id, "method": "POST", "url": "/v1/chat/completions",
                               "body": {"model": name, "messages": r.chat()}}) + "\n" for r in requests).encode()


async def run_batch(model: str, api_base: str | None, api_key: str | None, requests: Sequence[Request],
                    poll_s: float, prices: tuple[float, float]) -> tuple[str, str, dict[str, Outcome]]:
    """Upload, create, poll until a terminal status, read results: (batch id, status, id -> outcome)."""
    import litellm

    conn: dict[str, Any] = {"custom_llm_provider": "openai", "api_base": api_base, "api_key": api_key}
    started = time.monotonic()
    f = await litellm.acreate_file(file=("batch.jsonl", batch_lines(model, requests)), purpose="batch", **conn)
    batch = await litellm.acreate_batch(completion_window="24h", endpoint="/v1/chat/completions",
                                        input_file_id=f.id, **conn)
    while batch.status not in TERMINAL:
        await asyncio.sleep(poll_s)
        batch = await litellm.aretrieve_batch(batch_id=batch.id, **conn)
    latency = time.monotonic() - started
    outs: dict[str, Outcome] = {}
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id:
            content = await litellm.afile_content(file_id=file_id, **conn)
            for raw in content.text.splitlines():
                if raw.strip():
                    line = json.loads(raw)
                    outs[str(line.get("custom_id"))] = _outcome(line, latency, prices)
    return batch.id, batch.status, outs


def _outcome(line: dict[str, Any], latency: float, prices: tuple[float, float]) -> Outcome:
    """One output or error line as an outcome (a line with an error, or a non-200 body, is a failure)."""
    response = line.get("response") or {}
    body = response.get("body") or {}
    error = line.get("error") or body.get("error")
    if error or response.get("status_code") != 200:
        message = (error or {}).get("message") if isinstance(error, dict) else str(error)
        return Outcome(False, latency, ErrorKind.SERVER_ERROR, message=message or "batch line failed")
    usage = body.get("usage") or {}
    ptok, ctok = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    choices = body.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content")
    return Outcome(True, latency, None, ptok, ctok, ptok * prices[0] + ctok * prices[1], text, tier="batch")
