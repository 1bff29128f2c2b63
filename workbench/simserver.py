"""``workbench sim-server``: the simulated fleet behind a real OpenAI-compatible HTTP endpoint.

Why a server and not only the in-process provider: a fault drill must exercise the *application's*
own client stack (its HTTP library, litellm, its timeouts, retries and fallbacks) against real
failures: a 429 with ``Retry-After``, a 500, a 503 outage, a connection that stalls past the client's
timeout. Every answer comes from :class:`~workbench.providers.simulated.SimulatedProvider`, so the
latency, error and quality figures are the same calibrated ones a replay uses, and every response
carries ``X-Workbench-Simulated: true`` (and ``system_fingerprint: workbench-simulated``): nothing
it serves can pass for a real model's answer.

Time mapping. The simulator lives in *virtual* seconds; the server maps them onto the wall clock with
``speed``: ``virtual = (wall seconds since the server started) * speed``. Hence

* an outage at ``start_s..end_s`` happens ``start_s / speed .. end_s / speed`` wall seconds after start;
* rpm/tpm limits count per virtual minute, i.e. per ``60 / speed`` wall seconds;
* a call of simulated latency ``L`` is answered after ``L / speed`` wall seconds;
* ``Retry-After`` is in wall seconds (rounded up; ``retry-after-ms`` is exact);
* a stall holds the connection ``600 / speed`` wall seconds (unless the client leaves first), then 504;
* ``POST /admin/outage`` takes *wall* seconds: it is a button for a drill, not part of the model.

At ``speed=1`` everything is real time. Each HTTP call is a new request (id: a hash of the messages
plus a per-server counter), so a retried prompt gets an independent draw, and the same sequence of
calls to a server with the same seed draws the same way.

Every fleet model is simulated (whatever its ``provider:``) and served under its fleet name, its
litellm model name, and that name without its provider prefix (``openai/gpt-4o`` is also served as
``gpt-4o``: litellm strips the prefix before it calls, so a scenario aimed at this server with
``openai/...`` names reaches it either way); a fleet name wins a clash, a name shared by two fleet
models goes to the first, and a requested ``provider/name`` not served as such resolves to ``name``.
``GET /admin/calls`` counts the chat calls received, in all and per user prompt (for drills that
check what a resumed run re-sent). Optional request headers steer the draw: ``X-Workbench-Difficulty``
(0..1 or easy/medium/hard, default 0.5), ``X-Workbench-Category``, ``X-Workbench-Expected`` (a correct draw
answers exactly this), ``X-Workbench-Choices`` (comma-separated labels a wrong draw picks from). Successes also carry
``X-Workbench-Score`` and ``X-Workbench-Cost-Usd``.

Prompt caching (:mod:`workbench.caching`): a chat's cacheable prefix is every message before its last
one (the system prompt, few-shot turns, tool definitions sent as messages). A successful call whose
prefix this server has answered for the same model within the family's TTL (virtual seconds), and that
is at least the family's minimum cacheable size, reports the prefix's tokens (litellm's count of those
messages) as ``usage.prompt_tokens_details.cached_tokens``, as OpenAI does; otherwise it writes the
entry, reported as ``prompt_tokens_details.cache_write_tokens`` where the family bills writes
(Anthropic). Whole messages are compared, not OpenAI's 128-token blocks; a scenario's ``cache:``
block does not apply here (its prefixes are declared sizes, not text a client sends).
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from workbench.caching import BoundPrefix, family_for
from workbench.catalog import count_tokens, model_info
from workbench.errors import ErrorKind
from workbench.providers.base import Outcome, unknown_price_error
from workbench.providers.simulated import SimulatedProvider
from workbench.scenario import Scenario, parse_scenario
from workbench.seeds import key64, request_key
from workbench.simserver_batches import add_batch_routes
from workbench.traffic import DIFFICULTY_LABELS, Request

__all__ = ["DEFAULT_FLEET_YAML", "create_app", "serve", "running_server"]

#: The fleet served when no scenario is given: two models with their calibrated default profiles.
DEFAULT_FLEET_YAML = """
name: sim-server-default
fleet:
  gpt-4o: {model: gpt-4o}
  gpt-4o-mini: {model: gpt-4o-mini}
router: {policy: static, params: {target: gpt-4o}}
traffic: {source: none.jsonl}
"""
_STALL_S = 600.0  # virtual seconds a stalled call holds its connection: far past any client timeout
_POLL_S = 0.05  # wall seconds between checks for a departed client or a shutdown
_OWNER = "workbench-simulated"
_STATE: web.AppKey[_SimServer] = web.AppKey("sim_server")


class _Gone(Exception):
    """The client left, or the server is shutting down, while a call was being held."""


class _SimServer:
    """The served names, the simulated fleet, the clock and the drill outages of one server."""

    def __init__(self, scenario: Scenario, speed: float, seed: int):
        if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        self.scenario, self.speed, self.seed = scenario, float(speed), seed
        names = list(scenario.fleet)
        # the prefixes a client sends are real messages, cached below: a declared cache: block would count twice
        self.provider = SimulatedProvider(scenario.model_copy(update={"cache": None}), names, [], seed)
        self.cache_entries: dict[tuple[str, str], float] = {}  # (model, prefix hash) -> virtual last use
        self.calls = {n: self.provider.bind(n) for n in names}
        infos = {}
        for n, s in scenario.fleet.items():
            info = model_info(s.model, s.price, s.context_window)
            if info is None:  # the simulated provider has refused it already: kept for the type checker
                raise unknown_price_error(scenario, n)
            infos[n] = info
        self.windows = {n: i.max_input_tokens for n, i in infos.items()}
        self.served: dict[str, str] = {n: n for n in names}  # fleet names win over litellm names
        for n, spec in scenario.fleet.items():
            self.served.setdefault(spec.model, n)
        for n, spec in scenario.fleet.items():  # what litellm sends for "openai/gpt-4o": "gpt-4o"
            if "/" in spec.model:
                self.served.setdefault(spec.model.split("/", 1)[1], n)
        self.chat_calls = 0  # every POST /v1/chat/completions, rejected ones included
        self.prompt_calls: Counter[str] = Counter()  # valid chat calls, by last user prompt
        for spec in scenario.fleet.values():  # load tokenizers before the clock starts
            count_tokens(spec.model, [{"role": "user", "content": "warm-up"}], "\x00sim-server warm-up")
        self.drill_until: dict[str, float] = {}  # fleet name -> monotonic wall time
        self.counter = 0
        self.stopping = False
        self.t0 = time.monotonic()
        self.created = int(time.time())

    def wall(self) -> float:
        """Wall seconds since the server started."""
        return time.monotonic() - self.t0

    def now(self) -> float:
        """Virtual seconds since the server started."""
        return self.wall() * self.speed

    def resolve(self, model: str) -> str | None:
        """The fleet name a requested model name is served under (``provider/name`` -> ``name``)."""
        if model in self.served:
            return self.served[model]
        return self.served.get(model.split("/", 1)[1]) if "/" in model else None

    def in_outage(self, name: str, now: float) -> tuple[float, float, ErrorKind] | None:
        """The scenario outage window of ``name`` that contains virtual time ``now``, if any."""
        return next((o for o in self.provider.profiles[name]["outages"] if o[0] <= now < o[1]), None)


def create_app(scenario: Scenario | None = None, *, speed: float = 1.0, seed: int = 0) -> web.Application:
    """The OpenAI-compatible application serving ``scenario``'s fleet (default: gpt-4o, gpt-4o-mini)."""
    state = _SimServer(scenario if scenario is not None else parse_scenario(DEFAULT_FLEET_YAML), speed, seed)
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[_STATE] = state
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/v1/models/{name}", _model)
    app.router.add_post("/admin/outage", _admin_outage)
    app.router.add_get("/admin/calls", _admin_calls)
    app.router.add_get("/health", _health)
    add_batch_routes(app, state)  # Files + Batches (workbench/simserver_batches.py)
    app.on_response_prepare.append(_label)
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)
    return app


async def _on_startup(app: web.Application) -> None:
    app[_STATE].t0 = time.monotonic()  # virtual time 0 is when the server starts listening
    app[_STATE].created = int(time.time())


async def _on_shutdown(app: web.Application) -> None:
    app[_STATE].stopping = True  # held calls let go within _POLL_S, so shutdown never waits on a stall


async def _label(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Workbench-Simulated"] = "true"


def _error(status: int, message: str, type_: str, code: str | None = None, param: str | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    """An OpenAI-style error response."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _bad(message: str, param: str | None = None, code: str | None = None) -> web.Response:
    return _error(400, message, "invalid_request_error", code, param)


def _not_found(state: _SimServer, model: Any) -> web.Response:
    return _error(404, f"The model '{model}' does not exist on this sim-server; served models: "
                  f"{', '.join(state.served)}.", "invalid_request_error", "model_not_found", "model")


async def _read_json(request: web.Request) -> Any:
    """The parsed JSON body, or a 400 response saying why it is not JSON."""
    try:
        return json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _bad(f"We could not parse the JSON body of your request: {exc}")


async def _chat(request: web.Request) -> web.Response:
    """POST /v1/chat/completions: one simulated call, answered in wall-clock time."""
    state = request.app[_STATE]
    state.chat_calls += 1
    body = await _read_json(request)
    parsed = body if isinstance(body, web.Response) else _parse_chat(body, request.headers, state)
    if isinstance(parsed, web.Response):
        return parsed
    name, req, max_tokens = parsed
    try:
        response = await _call(request, state, name, req, max_tokens)
    except _Gone:
        response = _error(503, "The sim-server is shutting down or the client left.", "service_unavailable",
                          "service_unavailable")
    response.headers.update({"X-Request-Id": req.id, "X-Workbench-Fleet-Name": name})
    return response


async def _call(request: web.Request, state: _SimServer, name: str, req: Request,
                max_tokens: int | None) -> web.Response:
    """One simulated call at the current virtual time, answered after its simulated latency."""
    if state.drill_until.get(name, -math.inf) > time.monotonic():
        return _unavailable(name)
    now = state.now()
    outcome = state.calls[name](req, request_key(state.seed, req.id), now, 1)
    if not outcome.ok:
        return await _failure(request, state, name, outcome, now)
    outcome.cached_tokens, outcome.cache_write_tokens = _prompt_cache(state, name, req, now)
    out, finish, latency = _truncate(state, name, outcome, max_tokens)
    await _hold(request, latency / state.speed)
    return _completion(state, name, req, outcome, out, finish)


def _prompt_cache(state: _SimServer, name: str, req: Request, now: float) -> tuple[int, int]:
    """(cached_tokens, cache_write_tokens) of a successful call: its prefix is every message but the last."""
    messages = req.messages or []
    if len(messages) < 2:
        return 0, 0
    model = state.scenario.fleet[name].model
    prefix = messages[:-1]
    key = json.dumps(prefix, sort_keys=True)
    tokens = count_tokens(model, prefix, "\x00sim-server prefix " + key)  # apart from prompts' own keys
    return BoundPrefix(f"{key64(key):016x}", tokens, family_for(model), model, None, state.cache_entries).use(now)


def _parse_chat(body: Any, headers, state: _SimServer) -> tuple[str, Request, int | None] | web.Response:
    """Validate a chat body and headers into (fleet name, Request, max_tokens), or an error response."""
    if not isinstance(body, dict):
        return _bad("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _bad("you must provide a model parameter", "model")
    if body.get("stream"):
        return _bad("stream=true is not supported by the workbench sim-server (simulated answers arrive "
                    "whole); send stream=false or omit it.", "stream", "unsupported_value")
    name = state.resolve(model)
    if name is None:
        return _not_found(state, model)
    messages = body.get("messages")
    problem = _check_messages(messages)
    if problem:
        return _bad(problem, "messages")
    assert isinstance(messages, list)  # _check_messages accepts only a non-empty list
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                   or max_tokens < 1):
        return _bad(f"max_tokens must be a positive integer, got {max_tokens!r}", "max_tokens")
    difficulty = _difficulty(headers.get("X-Workbench-Difficulty"))
    if isinstance(difficulty, str):
        return _bad(difficulty, "X-Workbench-Difficulty")
    state.counter += 1
    rid = f"{key64(json.dumps(messages, sort_keys=True)):016x}-{state.counter}"
    users = [m for m in messages if m["role"] == "user"]
    choices = [c.strip() for c in headers.get("X-Workbench-Choices", "").split(",") if c.strip()]
    prompt = _text((users or messages)[-1].get("content"))
    state.prompt_calls[prompt] += 1
    req = Request(id=rid, prompt=prompt, messages=messages,
                  category=headers.get("X-Workbench-Category"), difficulty=difficulty,
                  expected=headers.get("X-Workbench-Expected"),
                  metadata={"choices": choices} if choices else {})
    return name, req, max_tokens


def _check_messages(messages: Any) -> str | None:
    """Why ``messages`` is not a usable chat (text only: image parts would make the tokenizer fetch)."""
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty array of {role, content} objects"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            return f"messages[{i}] must be an object with a string role"
        content = m.get("content")
        if isinstance(content, list):
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):
                return f"messages[{i}].content: the sim-server simulates text chat only (parts of type 'text')"
        elif content is not None and not isinstance(content, str):
            return f"messages[{i}].content must be a string, an array of text parts, or null"
    return None


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content)
    return content or ""


def _difficulty(raw: str | None) -> float | None | str:
    """The header's difficulty in [0, 1] (None when absent), or the error message."""
    if raw is None:
        return None
    word = raw.strip().lower()
    if word in DIFFICULTY_LABELS:
        return DIFFICULTY_LABELS[word]
    try:
        value = float(word)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        return (f"X-Workbench-Difficulty must be a number in [0, 1] or one of {', '.join(DIFFICULTY_LABELS)}; "
                f"got {raw!r}")
    return value


async def _hold(request: web.Request, wall_s: float) -> None:
    """Wait ``wall_s`` seconds; raise :class:`_Gone` as soon as the client leaves or the server stops."""
    state = request.app[_STATE]
    deadline = time.monotonic() + wall_s
    while (left := deadline - time.monotonic()) > 0:
        transport = request.transport
        if state.stopping or transport is None or transport.is_closing():
            raise _Gone
        await asyncio.sleep(min(left, _POLL_S))


def _unavailable(name: str) -> web.Response:
    return _error(503, f"The model '{name}' is temporarily unavailable (simulated outage); please retry "
                  "later.", "service_unavailable", "service_unavailable")


async def _failure(request: web.Request, state: _SimServer, name: str, outcome: Outcome,
                   now: float) -> web.Response:
    """The HTTP failure for a failed simulated call, after its simulated latency (a stall: 504)."""
    kind, outage = outcome.error, state.in_outage(name, now)
    if math.isinf(outcome.latency_s):
        await _hold(request, _STALL_S / state.speed)
        return _error(504, f"The model '{name}' did not answer in time (simulated stall).", "timeout",
                      "timeout")
    await _hold(request, outcome.latency_s / state.speed)
    if kind is ErrorKind.RATE_LIMIT:
        virtual = outcome.retry_after_s if outcome.retry_after_s is not None else (
            outage[1] - now if outage else 60.0)
        wall = max(virtual / state.speed, 0.001)
        headers = {"Retry-After": str(max(1, math.ceil(wall))),
                   "retry-after-ms": str(math.ceil(wall * 1000))}
        return _error(429, f"Rate limit reached for {name} (simulated). Please try again in {wall:.3f}s.",
                      "rate_limit_error", "rate_limit_exceeded", headers=headers)
    if kind is ErrorKind.SERVER_ERROR:
        if outage:
            return _unavailable(name)
        return _error(500, "The server had an error while processing your request (simulated).",
                      "server_error", "server_error")
    if kind is ErrorKind.CONTEXT_WINDOW:
        return _bad(f"This model's maximum context length is {state.windows[name]} tokens. However, your "
                    f"messages resulted in {outcome.prompt_tokens or 'more'} tokens. Please reduce the length "
                    "of the messages.", "messages", "context_length_exceeded")
    if kind is ErrorKind.CONTENT_POLICY:
        return _bad("Invalid prompt: your prompt was flagged as potentially violating our usage policy "
                    "(simulated).", "messages", "content_policy_violation")
    if kind in _CONFIG_STATUS:
        status, type_, code = _CONFIG_STATUS[kind]
        said = f"{code} for the model '{name}' (simulated)."
        if kind is ErrorKind.AUTH:  # as OpenAI does: the key is echoed, so a client must scrub it
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            said = f"Incorrect API key provided: {key} (simulated)."
        return _error(status, said, type_, code)
    return _error(500, f"unexpected simulated failure '{kind}'", "server_error", "server_error")


#: The HTTP answer of a simulated configuration error (drawn from ``error_rates`` or an outage kind).
_CONFIG_STATUS = {ErrorKind.NOT_FOUND: (404, "invalid_request_error", "model_not_found"),
                  ErrorKind.BAD_REQUEST: (400, "invalid_request_error", "invalid_request"),
                  ErrorKind.AUTH: (401, "invalid_request_error", "invalid_api_key")}


def _truncate(state: _SimServer, name: str, outcome: Outcome, max_tokens: int | None) -> tuple[int, str, float]:
    """(completion tokens, finish reason, virtual latency) once ``max_tokens`` cuts the answer short."""
    out = outcome.completion_tokens
    if max_tokens is None or out <= max_tokens:
        return out, "stop", outcome.latency_s
    # latency = ttft * noise + tokens / tokens_per_s: the tokens never generated are never waited for
    saved = (out - max_tokens) / state.provider.profiles[name]["tokens_per_s"]
    return max_tokens, "length", outcome.latency_s - saved


def _completion(state: _SimServer, name: str, req: Request, outcome: Outcome, out: int,
                finish: str) -> web.Response:
    """The chat.completion body of a successful simulated call, with usage in every one."""
    spec = state.scenario.fleet[name]
    usage: dict[str, object] = {"prompt_tokens": outcome.prompt_tokens, "completion_tokens": out,
                                "total_tokens": outcome.prompt_tokens + out}
    reasoning = min(outcome.reasoning_tokens, out)
    # OpenAI's usage shape (litellm reads it): cached_tokens always, cache_write_tokens where writes are billed
    details: dict[str, int] = {"cached_tokens": outcome.cached_tokens, "audio_tokens": 0}
    if outcome.cache_write_tokens:
        details["cache_write_tokens"] = outcome.cache_write_tokens
    usage["prompt_tokens_details"] = details
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    body = {
        "id": f"chatcmpl-sim-{req.id}", "object": "chat.completion", "created": int(time.time()),
        "model": spec.model, "system_fingerprint": _OWNER,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": outcome.text},
                     "logprobs": None, "finish_reason": finish}],
        "usage": usage,
    }
    cost = state.provider.models[name].price(outcome.prompt_tokens, out, outcome.cached_tokens,
                                             outcome.cache_write_tokens, reasoning)
    headers = {"X-Workbench-Score": f"{outcome.score:g}", "X-Workbench-Cost-Usd": f"{cost.total:.10f}"}
    return web.json_response(body, headers=headers)


async def _models(request: web.Request) -> web.Response:
    """GET /v1/models: every served name, fleet names first, in OpenAI's list format."""
    state = request.app[_STATE]
    return web.json_response({"object": "list", "data": [_model_entry(state, n) for n in state.served]})


async def _model(request: web.Request) -> web.Response:
    """GET /v1/models/{name}: one served model, or 404."""
    state, name = request.app[_STATE], request.match_info["name"]
    if name not in state.served:
        return _not_found(state, name)
    return web.json_response(_model_entry(state, name))


def _model_entry(state: _SimServer, name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": state.created, "owned_by": _OWNER}


async def _admin_calls(request: web.Request) -> web.Response:
    """GET /admin/calls: chat calls received in all (rejected ones too) and, for valid ones, per user
    prompt."""
    state = request.app[_STATE]
    return web.json_response({"calls": state.chat_calls, "by_prompt": dict(state.prompt_calls)})


async def _health(request: web.Request) -> web.Response:
    """GET /health: liveness, the clock mapping and the drill outages in force."""
    state = request.app[_STATE]
    wall, uptime = time.monotonic(), state.wall()
    drills = {n: round(t - wall, 3) for n, t in state.drill_until.items() if t > wall}
    return web.json_response({"status": "ok", "simulated": True, "speed": state.speed, "seed": state.seed,
                              "uptime_s": uptime, "virtual_now_s": uptime * state.speed,
                              "models": list(state.served), "drill_outages_s": drills})


async def _admin_outage(request: web.Request) -> web.Response:
    """POST /admin/outage {"model", "seconds"}: every call to that model answers 503 for ``seconds`` wall
    seconds from now (0 ends a drill outage early)."""
    state, body = request.app[_STATE], await _read_json(request)
    if isinstance(body, web.Response):
        return body
    if not isinstance(body, dict):
        return _bad("The request body must be a JSON object {\"model\": name, \"seconds\": s}.")
    model, seconds = body.get("model"), body.get("seconds")
    if not isinstance(model, str) or model not in state.served:
        return _not_found(state, model)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < math.inf:
        return _bad(f"seconds must be a non-negative number (wall seconds), got {seconds!r}", "seconds")
    name = state.served[model]
    state.drill_until[name] = time.monotonic() + seconds
    return web.json_response({"model": name, "outage_s": seconds})


# --- running --------------------------------------------------------------------------------------

async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start ``app`` on ``host:port`` (0: any free port); return the runner and the ``/v1`` base URL."""
    # handler_cancellation: a client that gives up on a stall cancels the held call at once
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    shown = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown}:{bound}/v1"


def serve(host: str = "127.0.0.1", port: int = 8011, scenario: Scenario | None = None, speed: float = 1.0,
          seed: int = 0) -> None:
    """Serve the simulated fleet until SIGINT or SIGTERM; print one line saying where."""
    app = create_app(scenario, speed=speed, seed=seed)
    asyncio.run(_serve(app, host, port, speed))


async def _serve(app: web.Application, host: str, port: int, speed: float) -> None:
    stop, loop = asyncio.Event(), asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before listening: a signal never finds it half up
        loop.add_signal_handler(sig, stop.set)
    runner = None
    try:
        runner, url = await _start(app, host, port)
        names = ", ".join(app[_STATE].served)
        print(f"sim-server: serving {names} at {url} (simulated, speed {speed:g}x)", flush=True)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if runner is not None:
            await runner.cleanup()


@contextmanager
def running_server(scenario: Scenario | None = None, *, speed: float = 1.0, seed: int = 0,
                   host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run a sim-server in a background thread (own event loop) for the block; yield its ``/v1`` URL."""
    app = create_app(scenario, speed=speed, seed=seed)  # bad input raises here, in the caller's thread
    ready = threading.Event()
    box: dict[str, Any] = {}  # loop, stop event, url or error: handed between the two threads

    async def main() -> None:
        box["loop"], box["stop"] = asyncio.get_running_loop(), asyncio.Event()
        try:
            runner, box["url"] = await _start(app, host, port)
        except Exception as exc:  # noqa: BLE001  (handed to the caller's thread, re-raised there)
            box["error"] = exc
            return
        finally:
            ready.set()
        try:
            await box["stop"].wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="workbench-sim-server", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        thread.join()
        raise box["error"]
    try:
        yield box["url"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join()
