"""The live provider: real calls through ``litellm.acompletion``, timed on the wall clock.

Why litellm: it speaks to every provider (OpenAI, Anthropic, Azure, Bedrock, Ollama, vLLM, a LiteLLM
Proxy, the workbench's own ``sim-server``) with one call and one exception hierarchy. This module is
the only importer of litellm's call API. It makes exactly one call per attempt (``num_retries=0``):
retries, fallbacks and timeouts belong to the scenario and the replay engine, so that they are the
same on every provider kind and recorded as attempts.

Secrets: a key comes from the environment variable named by ``api_key_env`` (or, discouraged, the
scenario's ``api_key``); it is handed to litellm and nowhere else. Without either, litellm's own
environment variables apply (``OPENAI_API_KEY``...), and a model with an ``api_base`` (a local
server) gets a placeholder key. ``api_base`` may use
``${VAR}`` or ``${VAR:-default}`` so one scenario can point at different servers.

Failures map to the engine's error kinds by litellm's exception classes: 429 -> ``rate_limit`` (with
the server's retry-after), timeouts -> ``timeout``, context-window and content-policy errors -> their
kinds, 404 -> ``not_found``, 400/422 -> ``bad_request``, 401/403 -> ``auth`` (configuration errors:
never retried nor fallen back by default), everything else (5xx, connection errors, other 4xx) ->
``server_error``. The error's text is kept on the attempt, scrubbed of keys (the key of the call
itself, then litellm's own secret patterns), so a wrong model name or key reads as what it is. Cost
is priced from the answer's usage by the same function as the simulated provider
(:mod:`workbench.pricing`: litellm's map, or the scenario's override) at the model's ``tier``, with the
usage's cached, cache-write and reasoning tokens; ``flex`` and ``priority`` are sent as ``service_tier``.

A ``tier: batch`` model's batches (:mod:`workbench.replay.batching`) take litellm's Files and Batches API
(OpenAI's schema): upload a JSONL file with ``purpose: batch``, create the batch with
``completion_window: 24h``, poll it every ``poll_s`` seconds, read the output and error files by
``custom_id``. A provider failure at any step makes a ``failed`` batch, whose requests fail over.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from workbench.catalog import model_info
from workbench.errors import ErrorKind
from workbench.pricing import Pricer, pricer_for
from workbench.providers.base import AsyncAnswer, Outcome, Provider, register, unknown_price_error
from workbench.scenario import Scenario
from workbench.traffic import Request

__all__ = ["LiveProvider", "expand_env", "error_kind", "scrub", "usage_tokens", "batch_lines", "TERMINAL"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str) -> str:
    """``${VAR}`` and ``${VAR:-default}`` replaced from the environment (unset without default: '')."""
    return _VAR.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), text)


def error_kind(exc: BaseException) -> tuple[ErrorKind, float | None]:
    """The engine's error kind for a litellm exception, and a retry-after in seconds if one was sent."""
    import litellm

    ex = litellm.exceptions
    if isinstance(exc, (asyncio.TimeoutError, ex.Timeout)):
        return ErrorKind.TIMEOUT, None
    if isinstance(exc, ex.RateLimitError):
        return ErrorKind.RATE_LIMIT, _retry_after(exc)
    if isinstance(exc, ex.ContextWindowExceededError):
        return ErrorKind.CONTEXT_WINDOW, None
    if isinstance(exc, ex.ContentPolicyViolationError):
        return ErrorKind.CONTENT_POLICY, None
    if isinstance(exc, ex.NotFoundError):
        return ErrorKind.NOT_FOUND, None
    if isinstance(exc, (ex.AuthenticationError, ex.PermissionDeniedError)):
        return ErrorKind.AUTH, None
    if isinstance(exc, (ex.BadRequestError, ex.UnprocessableEntityError)):
        return ErrorKind.BAD_REQUEST, None
    return ErrorKind.SERVER_ERROR, None


_MASK = "**********"  # as the scenario's api_key is shown wherever it is stored
_MAX_MESSAGE = 500


def scrub(text: str, secrets: Sequence[str | None] = ()) -> str:
    """``text`` on one line, at most 500 characters, without ``secrets`` or anything key-shaped."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    redact: Callable[[str], str]
    try:
        from litellm.litellm_core_utils.secret_redaction import redact_string as redact
    except ImportError:  # an older litellm: its patterns are missing, the exact keys are still gone
        redact = _redact_fallback
    text = " ".join(redact(text).split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 1] + "…"


_KEYLIKE = re.compile(r"(?:sk-|Bearer\s+)[A-Za-z0-9._~+/-]{8,}", re.IGNORECASE)


def _redact_fallback(value: str) -> str:  # named as litellm's redact_string, which it stands in for
    return _KEYLIKE.sub(_MASK, value)


def _provider_errors() -> tuple[type[BaseException], ...]:
    """What a provider call may legitimately raise: litellm's and openai's errors, timeouts, I/O.

    Anything else (a TypeError, a warning turned into an error) is a bug and must not be recorded
    as a server error of the provider."""
    import litellm
    import openai

    ex = litellm.exceptions
    return (openai.OpenAIError, ex.BudgetExceededError, ex.BlockedPiiEntityError, asyncio.TimeoutError, OSError)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "headers", None) or {}
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class _LiveModel:
    """One live fleet member: its litellm name, endpoint, key source, prices and timeout."""

    def __init__(self, scenario: Scenario, name: str):
        spec = scenario.fleet[name]
        info = model_info(spec.model, spec.price, spec.context_window)
        if info is None:
            raise unknown_price_error(scenario, name)
        self.model = spec.model
        self.price, self.tier = pricer_for(scenario, name), spec.tier
        # flex and priority are request options of the provider; a batch tier is priced as such (the batch
        # lane submits it through the Batches API)
        self.extra: dict[str, str] = {"service_tier": spec.tier} if spec.tier in ("flex", "priority") else {}
        if spec.reasoning_effort is not None:  # litellm's own parameter for a reasoning model's effort
            self.extra["reasoning_effort"] = spec.reasoning_effort
        self.api_base = expand_env(spec.api_base) if spec.api_base else None
        self.timeout = spec.timeout_s or scenario.timeouts.attempt_s
        if spec.api_key_env and spec.api_key_env not in os.environ:
            raise scenario.error_at(("fleet", name, "api_key_env"),
                                    f"environment variable {spec.api_key_env} is not set")
        self._key_env = spec.api_key_env
        self._key = spec.api_key.get_secret_value() if spec.api_key is not None else None
        #: a cap on each answer's tokens, sent as ``max_tokens`` (None: the provider's default); a
        #: spend-capped recording sets it so that a call's worst-case cost is known before it is made
        self.max_tokens: int | None = None

    def _secret(self) -> str | None:
        """The key this model's calls carry, if one was configured (to scrub it from messages)."""
        return os.environ.get(self._key_env) if self._key_env else self._key

    async def call(self, req: Request, rkey: int, now: float, attempt: int) -> Outcome:
        import litellm

        key = self._secret()
        if key is None and self.api_base:  # a local server (sim-server, Ollama, vLLM) wants no key,
            key = "not-needed"             # but OpenAI's client insists on one
        started = time.monotonic()
        try:
            capped = {} if self.max_tokens is None else {"max_tokens": self.max_tokens}
            response = await litellm.acompletion(
                model=self.model, messages=req.chat(), api_base=self.api_base, api_key=key,
                timeout=self.timeout, num_retries=0, max_retries=0, **capped, **self.extra)
        except _provider_errors() as exc:  # a provider failure is an attempt row; a bug is not
            kind, retry_after = error_kind(exc)
            return Outcome(False, time.monotonic() - started, kind, retry_after_s=retry_after,
                           message=scrub(str(exc) or type(exc).__name__, (self._secret(),)))
        latency = time.monotonic() - started
        ptok, ctok, cached, written, reasoning = usage_tokens(getattr(response, "usage", None))
        text = response.choices[0].message.content if response.choices else None
        cost = self.price(ptok, ctok, cached, written, reasoning)
        return Outcome(True, latency, None, ptok, ctok, cost.total, text, cached_tokens=cached,
                       cache_write_tokens=written, reasoning_tokens=reasoning, tier=self.tier, parts=cost)


def _int(obj: object, name: str) -> int:
    return int(getattr(obj, name, 0) or 0)


def usage_tokens(usage: object) -> tuple[int, int, int, int, int]:
    """(prompt, completion, cached, cache write, reasoning) tokens of a litellm usage, OpenAI's convention:
    prompt includes cached and written tokens (litellm adds Anthropic's cache tokens to prompt_tokens),
    completion includes reasoning."""
    ptok, ctok = _int(usage, "prompt_tokens"), _int(usage, "completion_tokens")
    pdet = getattr(usage, "prompt_tokens_details", None)
    cached = _int(pdet, "cached_tokens") or _int(usage, "cache_read_input_tokens")
    # litellm normalises cache writes into OpenAI's prompt_tokens_details.cache_write_tokens (mirrored as
    # cache_creation_tokens, Anthropic's name); a raw Anthropic usage has cache_creation_input_tokens
    written = (_int(pdet, "cache_write_tokens") or _int(pdet, "cache_creation_tokens")
               or _int(usage, "cache_creation_input_tokens"))
    reasoning = _int(getattr(usage, "completion_tokens_details", None), "reasoning_tokens")
    cached, written = min(cached, ptok), min(written, max(ptok - cached, 0))
    return ptok, ctok, cached, written, min(reasoning, ctok)


def _quiet_litellm() -> None:
    # A failed call is data (an attempt row), not news: litellm's own banners and logs on errors would
    # flood stderr and, for some messages, stdout, which carries --json.
    import logging

    import litellm

    litellm.suppress_debug_info = True
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


@register
class LiveProvider(Provider):
    """Real calls through litellm (any provider, a local server, the sim-server), on the wall clock."""

    name = "live"
    mode = "live"
    colour = "#c53030"
    order = 30
    asynchronous = True

    def __init__(self, scenario: Scenario, names: Sequence[str], requests: Sequence[Request], seed: int):
        self.models = {n: _LiveModel(scenario, n) for n in names}
        self.notes: dict[str, str] = {}
        _quiet_litellm()

    def bind(self, model: str) -> AsyncAnswer:
        """The live ``model``'s answering coroutine function."""
        return self.models[model].call

    async def run_batch(self, model: str, requests: list[Request],
                        poll_s: float) -> tuple[str, str, dict[str, Outcome]]:
        """One batch-lane round trip through litellm's Files and Batches API: upload, create, poll, read.

        Returns (batch id, final status, request id -> outcome); a provider failure at any step is a
        ``failed`` batch (its requests fail over), never an exception."""
        m = self.models[model]
        key = m._secret() or ("not-needed" if m.api_base else None)
        try:
            return await _batch_round_trip(m.model, m.api_base, key, requests, poll_s, m.price)
        except _provider_errors() as exc:
            return "", "failed", {r.id: Outcome(False, 0.0, error_kind(exc)[0], message=scrub(str(exc), (key,)))
                                  for r in requests}


#: Batch statuses after which polling stops (OpenAI's names).
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def batch_lines(model: str, requests: Sequence[Request]) -> bytes:
    """The batch input file: one ``/v1/chat/completions`` request a line, ``custom_id`` = request id."""
    name = model.split("/", 1)[1] if model.startswith("openai/") else model
    return "".join(json.dumps({"custom_id": r.id, "method": "POST", "url": "/v1/chat/completions",
                               "body": {"model": name, "messages": r.chat()}}) + "\n" for r in requests).encode()


async def _batch_round_trip(model: str, api_base: str | None, api_key: str | None, requests: Sequence[Request],
                            poll_s: float, price: Pricer) -> tuple[str, str, dict[str, Outcome]]:
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
                    outs[str(line.get("custom_id"))] = _outcome(line, latency, price)
    return batch.id, batch.status, outs


def _namespace(d: dict[str, Any]) -> SimpleNamespace:
    """A JSON usage object with attribute access (what :func:`usage_tokens` reads)."""
    return SimpleNamespace(**{k: _namespace(v) if isinstance(v, dict) else v for k, v in d.items()})


def _outcome(line: dict[str, Any], latency: float, price: Pricer) -> Outcome:
    """One output or error line as an outcome (a line with an error, or a non-200 body, is a failure)."""
    response = line.get("response") or {}
    body = response.get("body") or {}
    error = line.get("error") or body.get("error")
    if error or response.get("status_code") != 200:
        message = (error or {}).get("message") if isinstance(error, dict) else str(error)
        return Outcome(False, latency, ErrorKind.SERVER_ERROR, message=message or "batch line failed")
    usage = body.get("usage")
    ptok, ctok, cached, written, reasoning = usage_tokens(_namespace(usage) if isinstance(usage, dict) else None)
    choices = body.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content")
    cost = price(ptok, ctok, cached, written, reasoning)  # the model's pricer is at its tier: batch
    return Outcome(True, latency, None, ptok, ctok, cost.total, text, cached_tokens=cached,
                   cache_write_tokens=written, reasoning_tokens=reasoning, tier="batch", parts=cost)
