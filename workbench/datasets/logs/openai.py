"""OpenAI logs: Chat Completions request/response pairs (``openai``) and Batch API files (``openai-batch``).

Where the names come from (read, not guessed):

* Chat Completions: the request object ``CreateChatCompletionRequest`` (``model``, ``messages`` with
  ``role`` and ``content`` as a string or a list of ``{"type": "text", "text": ...}`` parts, ``metadata``,
  ``user``, ``safety_identifier``) and the response object ``CreateChatCompletionResponse`` (``id``,
  ``created`` in Unix seconds, ``model``, ``choices[].message.content``, ``usage.prompt_tokens``,
  ``usage.completion_tokens``) of OpenAI's OpenAPI description (openai/openai-openapi, ``openapi.yaml``;
  the same names as openai-python's ``ChatCompletion``). An ``openai`` log line holds one call as
  ``{"request": {...}, "response": {...}}``: the two bodies as a client sent and received them.
* Batch API: ``BatchRequestInput`` (``custom_id``, ``method``, ``url``, ``body``) for the input file and
  ``BatchRequestOutput`` (``id``, ``custom_id``, ``response.status_code``, ``response.request_id``,
  ``response.body``, ``error.code``, ``error.message``) for the output and error files, in the same
  ``openapi.yaml`` (seen through its generated Rust types, docs.rs ``openai-struct``
  ``models/batch_request_output.rs``). Outputs are matched to inputs by ``custom_id``.

Neither log holds a cost or a latency: costs are litellm's price of the logged tokens (the standard
price: the Batch API's discount is not applied) and latencies are not recorded; the dataset's notes
say so. The logged router's choice probability, when it is in ``metadata.propensity``, is kept.
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
    json_lines,
    number,
    timestamp,
)

__all__ = ["read_openai", "read_openai_batch"]


def read_openai(files: list[Path], options: dict[str, Any]) -> Iterator[Item]:
    """``{"request": ..., "response": ...}`` lines of Chat Completions calls."""
    for path in files:
        for where, line in json_lines(path):
            if "request" not in line:
                raise where.error("an openai log line holds {\"request\": ..., \"response\": ...}", "request")
            request = as_dict(line["request"], where, "request")
            response = as_dict(line.get("response"), where, "response")
            rid = response.get("id") or line.get("id")
            if not rid:
                raise where.error("no id: neither response.id nor id is given", "response.id")
            yield where, _call(str(rid), request, response, where, "request", "response")


def _call(rid: str, request: dict[str, Any], body: dict[str, Any], where: Where, req_field: str,
          body_field: str) -> LogRecord | Skip:
    messages = chat_messages(request.get("messages"), where, f"{req_field}.messages")
    meta = {str(k): v for k, v in as_dict(request.get("metadata"), where, f"{req_field}.metadata").items()}
    rec = LogRecord(request_id=rid, messages=messages, metadata=meta)
    rec.user = _str(request.get("safety_identifier") or request.get("user"))
    rec.session, rec.category = _str(meta.pop("session_id", None)), _str(meta.pop("category", None))
    rec.propensity = number(meta.pop("propensity", None), where, f"{req_field}.metadata.propensity")
    rec.tags = [t for t in str(meta.pop("tags", "")).split(",") if t]
    if not body:
        return rec  # traffic only: no answer logged
    rec.model = _str(request.get("model") or body.get("model"))  # what was asked for: a fleet names it so
    if body.get("model") and body.get("model") != rec.model:
        rec.metadata["response_model"] = body["model"]
    if rec.model is None:
        raise where.error("no model: neither the response nor the request names one", f"{body_field}.model")
    choices = body.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return Skip("response without choices")
    rec.response = content_text((choices[0].get("message") or {}).get("content")) or ""
    usage = as_dict(body.get("usage"), where, f"{body_field}.usage")
    rec.prompt_tokens = number(usage.get("prompt_tokens"), where, f"{body_field}.usage.prompt_tokens", integer=True)
    rec.completion_tokens = number(usage.get("completion_tokens"), where, f"{body_field}.usage.completion_tokens",
                                   integer=True)
    rec.arrived_at = timestamp(body.get("created"), where, f"{body_field}.created")
    return rec


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def read_openai_batch(files: list[Path], options: dict[str, Any]) -> Iterator[Item]:
    """Batch input lines (the prompts) and output/error lines (the answers), matched by ``custom_id``.

    Input lines are held in memory, as their raw text, until the output lines are read: a batch input
    file is at most 200 MB (the Batch API's limit), so this stays bounded.
    """
    inputs: dict[str, tuple[Where, str]] = {}
    outputs: list[Path] = []
    for path in files:
        first = True
        for where, line in json_lines(path):
            if first and ("response" in line or "error" in line) and "body" not in line:
                outputs.append(path)
                break
            first = False
            cid = line.get("custom_id")
            if not isinstance(cid, str) or not cid:
                raise where.error("a batch input line needs a custom_id", "custom_id")
            if cid in inputs:
                raise where.error(f"custom_id {cid!r} repeats line {inputs[cid][0].line}", "custom_id")
            body = as_dict(line.get("body"), where, "body")
            chat_messages(body.get("messages"), where, "body.messages")  # checked here, at the input's line
            inputs[cid] = (where, json.dumps(line["body"]))
    if not inputs:
        raise Where(files[0], 1).error("no batch input file given: the prompts are in the input file "
                                       "(custom_id, body.messages); give it with the output file", "custom_id")
    answered: set[str] = set()
    for path in outputs:
        for where, line in json_lines(path):
            cid = line.get("custom_id")
            if cid not in inputs:
                raise where.error(f"custom_id {cid!r} is in no input file given", "custom_id")
            answered.add(cid)
            yield where, _output(cid, json.loads(inputs[cid][1]), line, where)
    for cid, (where, raw) in inputs.items():
        if cid not in answered:
            yield where, _call(cid, json.loads(raw), {}, where, "body", "response.body")


def _output(cid: str, request: dict[str, Any], line: dict[str, Any], where: Where) -> LogRecord | Skip:
    if line.get("error"):
        return Skip("failed call (error)")
    response = line.get("response") or {}
    if not isinstance(response, dict) or response.get("status_code") != 200:
        return Skip("failed call (status code not 200)")
    rec = _call(cid, request, as_dict(response.get("body"), where, "response.body"), where, "body", "response.body")
    if isinstance(rec, LogRecord) and response.get("request_id"):
        rec.metadata["openai_request_id"] = response["request_id"]
    return rec
