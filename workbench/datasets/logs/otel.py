"""OpenTelemetry GenAI spans, as OTLP JSON (one ``ExportTraceServiceRequest`` a line).

Where the names come from:

* the file: OTLP's JSON encoding of ``ExportTraceServiceRequest`` (opentelemetry-proto), one object a
  line as the Collector's file exporter writes it: ``resourceSpans[].resource.attributes``,
  ``resourceSpans[].scopeSpans[].spans[]`` with ``traceId``, ``spanId``, ``name``,
  ``startTimeUnixNano``, ``endTimeUnixNano``, ``attributes``, ``events[].attributes``, ``status.code``;
  attribute values are ``AnyValue`` objects (``stringValue``, ``intValue`` as a string, ``doubleValue``,
  ``boolValue``, ``arrayValue.values``, ``kvlistValue.values``);
* the attributes: the GenAI semantic conventions (open-telemetry/semantic-conventions,
  ``docs/gen-ai/gen-ai-spans.md``, ``gen-ai-events.md`` and ``non-normative/examples-llm-calls.md``):
  ``gen_ai.operation.name``, ``gen_ai.request.model``, ``gen_ai.response.model``,
  ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens``, ``gen_ai.conversation.id``,
  ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (JSON: ``[{"role", "parts": [{"type": "text",
  "content"}]}]``, on the span or on an event's attributes), ``gen_ai.system_instructions``;
  ``user.id`` (general conventions) for the user.

A span with no ``gen_ai.*`` attribute is skipped and counted; a GenAI span without a model
(``gen_ai.request.model`` or ``gen_ai.response.model``) is an error naming the line and the span; one
without input messages (content capture off) is skipped and counted. A span whose ``status.code`` is
``STATUS_CODE_ERROR`` (2) is a failed call, skipped. The conventions have no cost attribute: costs are
litellm's price of the logged tokens. The logging router's choice probability is the span attribute
``propensity`` when present.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.datasets.logs.common import Item, LogRecord, Skip, Where, json_lines, number

__all__ = ["read_otel"]


def _any(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "doubleValue", "boolValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [_any(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return _attrs(value["kvlistValue"].get("values", []))
    return None


def _attrs(items: Any) -> dict[str, Any]:
    return {a["key"]: _any(a.get("value")) for a in items or [] if isinstance(a, dict) and "key" in a}


def read_otel(files: list[Path], options: dict[str, Any]) -> Iterator[Item]:
    """One record per GenAI span."""
    for path in files:
        for where, line in json_lines(path):
            if "resourceSpans" not in line:
                raise where.error("an OTLP JSON line holds resourceSpans", "resourceSpans")
            for rs in line["resourceSpans"] or []:
                resource = _attrs((rs.get("resource") or {}).get("attributes"))
                for ss in rs.get("scopeSpans") or []:
                    for span in ss.get("spans") or []:
                        yield where, _span(span, resource, where)


def _parts(value: Any, where: Where, fld: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise where.error("must hold JSON messages", fld) from None
    if not isinstance(value, list):
        raise where.error("must be a list of messages", fld)
    out = []
    for m in value:
        if not isinstance(m, dict):
            raise where.error("each message is an object with role and parts", fld)
        texts = [p.get("content") for p in m.get("parts") or [] if isinstance(p, dict) and p.get("type") == "text"]
        out.append({"role": str(m.get("role", "user")), "content": "\n".join(t for t in texts if isinstance(t, str))})
    return out


def _span(span: dict[str, Any], resource: dict[str, Any], where: Where) -> LogRecord | Skip:
    attrs = _attrs(span.get("attributes"))
    for event in span.get("events") or []:  # content captured on events: their attributes fill the gaps
        for k, v in _attrs(event.get("attributes")).items():
            attrs.setdefault(k, v)
    if not any(k.startswith("gen_ai.") for k in attrs):
        return Skip("not a GenAI span")
    sid = f"span {span.get('spanId', '?')}"
    model = attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model")
    if not model:
        raise where.error(f"{sid}: a GenAI span without a model", "gen_ai.request.model")
    if (span.get("status") or {}).get("code") in (2, "STATUS_CODE_ERROR"):
        return Skip("failed call (span status error)")
    if "gen_ai.input.messages" not in attrs:
        return Skip("no input messages (content capture off)")
    messages = _parts(attrs["gen_ai.input.messages"], where, "gen_ai.input.messages")
    if "gen_ai.system_instructions" in attrs:
        system = _parts([{"role": "system", "parts": _loads(attrs["gen_ai.system_instructions"])}], where,
                        "gen_ai.system_instructions")
        messages = system + messages
    output = _parts(attrs.get("gen_ai.output.messages", "[]"), where, "gen_ai.output.messages")
    rec = LogRecord(request_id=str(span.get("spanId") or f"{where.file.name}:{where.line}"), messages=messages,
                    model=str(model), response=output[0]["content"] if output else "")
    rec.prompt_tokens = number(attrs.get("gen_ai.usage.input_tokens"), where, "gen_ai.usage.input_tokens", integer=True)
    rec.completion_tokens = number(attrs.get("gen_ai.usage.output_tokens"), where, "gen_ai.usage.output_tokens",
                                   integer=True)
    start = number(span.get("startTimeUnixNano"), where, "startTimeUnixNano", integer=True)
    end = number(span.get("endTimeUnixNano"), where, "endTimeUnixNano", integer=True)
    rec.arrived_at = start / 1e9 if start is not None else None
    rec.latency_s = (end - start) / 1e9 if start is not None and end is not None else None
    rec.session = _str(attrs.get("gen_ai.conversation.id"))
    rec.user = _str(attrs.get("user.id") or attrs.get("enduser.id"))
    rec.propensity = number(attrs.get("propensity"), where, "propensity")
    rec.category = _str(attrs.get("category"))
    rec.metadata = {k: v for k, v in attrs.items() if not k.startswith("gen_ai.") and
                    k not in ("propensity", "category", "user.id", "enduser.id")}
    if resource.get("service.name"):
        rec.metadata["service.name"] = resource["service.name"]
    for k in ("gen_ai.provider.name", "gen_ai.operation.name", "gen_ai.response.model"):
        if attrs.get(k) is not None:
            rec.metadata[k] = attrs[k]
    return rec


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return [{"type": "text", "content": value}]
    return value


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
