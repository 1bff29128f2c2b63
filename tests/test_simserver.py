"""The sim-server over real HTTP on loopback: OpenAI shapes, real failures, and litellm's view of them.

Every server runs in a background thread with its own event loop (``running_server``) and is shut
down at the end of its test; ``speed`` shrinks every wait so the whole file stays fast.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
from contextlib import ExitStack

import httpx
import pytest
from conftest import ROOT
from helpers import fake_key

from workbench.scenario import parse_scenario
from workbench.simserver import create_app, running_server

MSGS = [{"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": "Why was I charged twice in March?"}]
QUIET = "sim: {error_rates: {}}"  # no random failures: only the ones a test asks for


def scenario(*fleet_lines: str):
    fleet = "\n".join(f"  {line}" for line in fleet_lines)
    return parse_scenario(f"name: sim\nfleet:\n{fleet}\nrouter: {{policy: static, params: {{target: x}}}}\n"
                          "traffic: {source: none.jsonl}\n")


@pytest.fixture
def server():
    """Start servers on 127.0.0.1:<free port> for the test: ``start(*fleet_lines, speed=, seed=)`` -> base URL."""
    with ExitStack() as stack:
        def start(*fleet_lines: str, speed: float = 100.0, seed: int = 0) -> str:
            scn = scenario(*fleet_lines) if fleet_lines else None
            return stack.enter_context(running_server(scn, speed=speed, seed=seed))
        yield start


@pytest.fixture
def http():
    with httpx.Client(timeout=10.0) as client:
        yield client


def chat(http, url, model="large", messages=MSGS, headers=None, **body):
    return http.post(f"{url}/chat/completions", json={"model": model, "messages": messages, **body},
                     headers=headers)


def error_of(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["X-Workbench-Simulated"] == "true"
    return resp.json()["error"]


# --- success ---------------------------------------------------------------------------------------

def test_success_is_an_openai_chat_completion_with_real_token_usage(server, http):
    import litellm

    url = server(f"large: {{model: gpt-4o, {QUIET}}}")
    for name in ("large", "gpt-4o"):  # the fleet name and the litellm model name both resolve
        resp = chat(http, url, name)
        assert resp.status_code == 200 and resp.headers["X-Workbench-Simulated"] == "true"
        body = resp.json()
        assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
        assert body["model"] == "gpt-4o" and isinstance(body["created"], int)
        assert body["system_fingerprint"] == "workbench-simulated"
        choice = body["choices"][0]
        assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
        assert choice["message"]["content"].startswith("[simulated answer of gpt-4o")
        usage = body["usage"]
        assert usage["prompt_tokens"] == litellm.token_counter(model="gpt-4o", messages=MSGS)
        assert usage["completion_tokens"] > 0
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        cost = usage["prompt_tokens"] * 2.5e-6 + usage["completion_tokens"] * 1e-5  # gpt-4o's list price
        assert float(resp.headers["X-Workbench-Cost-Usd"]) == pytest.approx(cost)


def test_headers_set_difficulty_category_and_expected_answer(server, http):
    url = server("sure: {model: gpt-4o, sim: {error_rates: {}, quality_easy: 1, quality_hard: 1}}",
                 "lost: {model: gpt-4o-mini, sim: {error_rates: {}, quality_easy: 0, quality_hard: 0}}")
    hdr = {"X-Workbench-Expected": "refund", "X-Workbench-Category": "billing", "X-Workbench-Difficulty": "hard"}
    right = chat(http, url, "sure", headers=hdr)
    assert right.json()["choices"][0]["message"]["content"] == "refund"
    assert right.headers["X-Workbench-Score"] == "1"
    wrong = chat(http, url, "lost", headers={**hdr, "X-Workbench-Choices": "refund, escalate"})
    assert wrong.json()["choices"][0]["message"]["content"] == "escalate"
    assert wrong.headers["X-Workbench-Score"] == "0"
    bad = chat(http, url, "sure", headers={"X-Workbench-Difficulty": "1.5"})
    assert error_of(bad, 400)["param"] == "X-Workbench-Difficulty"


def test_repeated_prompts_draw_independently_and_a_seed_repeats_them(server, http):
    fleet = f"large: {{model: gpt-4o, {QUIET}}}"
    first, second, other = server(fleet, seed=7), server(fleet, seed=7), server(fleet, seed=8)

    def usages(url):
        return [chat(http, url).json()["usage"]["completion_tokens"] for _ in range(4)]

    a = usages(first)
    assert len(set(a)) > 1  # a counter in the request id: the same prompt is a new draw each time
    assert usages(second) == a  # same seed, same sequence of calls: same draws
    assert usages(other) != a


def test_max_tokens_cuts_the_answer_with_finish_reason_length(server, http):
    url = server(f"large: {{model: gpt-4o, {QUIET}}}")
    body = chat(http, url, max_tokens=5).json()
    assert body["usage"]["completion_tokens"] == 5 and body["choices"][0]["finish_reason"] == "length"
    assert error_of(chat(http, url, max_tokens=0), 400)["param"] == "max_tokens"


# --- failures over HTTP ----------------------------------------------------------------------------

def test_rpm_limit_answers_429_with_retry_after_then_recovers(server, http):
    url = server(f"large: {{model: gpt-4o, limits: {{rpm: 2}}, {QUIET}}}", speed=100)
    assert [chat(http, url).status_code for _ in range(2)] == [200, 200]
    resp = chat(http, url, "gpt-4o")  # the same fleet model under its litellm name shares the limit
    err = error_of(resp, 429)
    assert err["type"] == "rate_limit_error" and err["code"] == "rate_limit_exceeded"
    wait_ms = int(resp.headers["retry-after-ms"])
    assert 0 < wait_ms <= 600  # a virtual minute is 0.6 wall seconds at speed 100
    assert resp.headers["Retry-After"] == "1"  # whole seconds, rounded up
    time.sleep(wait_ms / 1000 + 0.05)
    assert chat(http, url).status_code == 200


def test_scenario_outage_window_answers_503_then_recovers(server, http):
    # virtual 0..100 s at speed 100: wall 0..1 s after the server started
    url = server("large: {model: gpt-4o, sim: {error_rates: {}, outages: [{start_s: 0, end_s: 100}]}}",
                 f"small: {{model: gpt-4o-mini, {QUIET}}}", speed=100)
    err = error_of(chat(http, url), 503)
    assert err["type"] == "service_unavailable"
    assert chat(http, url, "small").status_code == 200
    health = http.get(url.removesuffix("/v1") + "/health").json()
    assert health["simulated"] is True and health["virtual_now_s"] == pytest.approx(health["uptime_s"] * 100)
    time.sleep(max(0.0, 1.05 - health["uptime_s"]))
    assert chat(http, url).status_code == 200


def test_random_server_error_is_500(server, http):
    url = server("large: {model: gpt-4o, sim: {error_rates: {server_error: 1.0}}}")
    assert error_of(chat(http, url), 500)["type"] == "server_error"


def test_stall_outlives_a_short_client_timeout(server, http):
    url = server("large: {model: gpt-4o, sim: {error_rates: {timeout: 1.0}}}", speed=10)  # 60 s stall
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        http.post(f"{url}/chat/completions", json={"model": "large", "messages": MSGS}, timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 2.0
    assert http.get(url.removesuffix("/v1") + "/health").status_code == 200  # the server let go


def test_stall_is_bounded_and_ends_in_504(server, http):
    url = server("large: {model: gpt-4o, sim: {error_rates: {timeout: 1.0}}}", speed=3000)  # 0.2 s stall
    assert error_of(chat(http, url), 504)["type"] == "timeout"


def test_shutdown_releases_a_held_stall_at_once():
    scn = scenario("large: {model: gpt-4o, sim: {error_rates: {timeout: 1.0}}}")
    statuses = []
    with httpx.Client(timeout=30) as client:
        with running_server(scn, speed=1) as url:  # a 600 s stall
            caller = threading.Thread(target=lambda: statuses.append(chat(client, url).status_code))
            caller.start()
            time.sleep(0.3)
            started = time.monotonic()
        assert time.monotonic() - started < 1.0
        caller.join(5)
    assert statuses == [503]


def test_context_window_and_content_policy_are_400_with_openai_codes(server, http):
    url = server("tiny: {model: gpt-4o, context_window: 5, sim: {error_rates: {}}}",
                 "prude: {model: gpt-4o, sim: {error_rates: {content_policy: 1.0}}}")
    assert error_of(chat(http, url, "tiny"), 400)["code"] == "context_length_exceeded"
    assert error_of(chat(http, url, "prude"), 400)["code"] == "content_policy_violation"


@pytest.fixture(scope="module")
def default_url():
    with running_server(speed=100) as url:  # no scenario: the built-in gpt-4o / gpt-4o-mini fleet
        yield url


@pytest.mark.parametrize("body, param", [
    ({"model": "gpt-4o", "messages": MSGS, "stream": True}, "stream"),
    ({"model": "gpt-4o"}, "messages"),
    ({"model": "gpt-4o", "messages": [{"content": "no role"}]}, "messages"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "http://example.com/x.png"}}]}]}, "messages"),
    ({"messages": MSGS}, "model"),
])
def test_bad_requests_are_400_naming_the_param(default_url, http, body, param):
    resp = http.post(f"{default_url}/chat/completions", json=body)
    err = error_of(resp, 400)
    assert err["type"] == "invalid_request_error" and err["param"] == param
    if param == "stream":
        assert "stream=true is not supported" in err["message"]


def test_malformed_json_is_400(default_url, http):
    resp = http.post(f"{default_url}/chat/completions", content=b"{not json",
                     headers={"content-type": "application/json"})
    assert "could not parse the JSON body" in error_of(resp, 400)["message"]


def test_unknown_model_is_404_listing_the_served_models(default_url, http):
    err = error_of(chat(http, default_url, "gpt-5-turbo-max"), 404)
    assert err["code"] == "model_not_found" and "gpt-4o, gpt-4o-mini" in err["message"]
    assert http.get(default_url.removesuffix("/v1") + "/nowhere").headers["X-Workbench-Simulated"] == "true"


def test_models_lists_fleet_names_and_litellm_names(server, default_url, http):
    listed = http.get(f"{default_url}/models").json()
    assert listed["object"] == "list" and [m["id"] for m in listed["data"]] == ["gpt-4o", "gpt-4o-mini"]
    url = server(f"large: {{model: gpt-4o, {QUIET}}}", f"small: {{model: gpt-4o-mini, {QUIET}}}",
                 f"backup: {{model: gpt-4o, {QUIET}}}")
    ids = [m["id"] for m in http.get(f"{url}/models").json()["data"]]
    assert ids == ["large", "small", "backup", "gpt-4o", "gpt-4o-mini"]
    assert http.get(f"{url}/models/small").json()["object"] == "model"
    assert http.get(f"{url}/models/nope").status_code == 404


def test_admin_outage_makes_the_next_calls_503_then_recovers(server, http):
    url = server(f"large: {{model: gpt-4o, {QUIET}}}", f"small: {{model: gpt-4o-mini, {QUIET}}}")
    admin = url.removesuffix("/v1") + "/admin/outage"
    assert http.post(admin, json={"model": "gpt-4o", "seconds": 0.4}).json()["model"] == "large"
    assert error_of(chat(http, url, "large"), 503)["type"] == "service_unavailable"
    assert chat(http, url, "gpt-4o").status_code == 503
    assert chat(http, url, "small").status_code == 200
    time.sleep(0.45)
    assert chat(http, url, "large").status_code == 200
    assert http.post(admin, json={"model": "nope", "seconds": 1}).status_code == 404
    assert http.post(admin, json={"model": "large", "seconds": -1}).status_code == 400


def test_speed_must_be_positive_and_a_busy_port_is_an_error(default_url):
    with pytest.raises(ValueError, match="speed"):
        create_app(speed=0)
    port = int(default_url.rsplit(":", 1)[1].removesuffix("/v1"))
    with pytest.raises(OSError):
        with running_server(port=port):
            pass


# --- through litellm -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def drill_url():
    scn = scenario("large: {model: gpt-4o, sim: {error_rates: {}, quality_easy: 1, quality_hard: 1}}",
                   "down: {model: gpt-4o, sim: {error_rates: {}, outages: [{start_s: 0, end_s: 1.0e9}]}}",
                   "busy: {model: gpt-4o, limits: {rpm: 1}, sim: {error_rates: {}}}",
                   "broken: {model: gpt-4o, sim: {error_rates: {server_error: 1.0}}}",
                   "stuck: {model: gpt-4o, sim: {error_rates: {timeout: 1.0}}}",
                   "tiny: {model: gpt-4o, context_window: 5, sim: {error_rates: {}}}",
                   "prude: {model: gpt-4o, sim: {error_rates: {content_policy: 1.0}}}")
    with running_server(scn, speed=100) as url:
        yield url


@pytest.fixture(scope="module")
def litellm_module():
    import litellm

    # litellm's own documented knob for its sync HTTP client: one the test can close, so no pooled
    # connection to a stopped server outlives the module
    previous, litellm.client_session = litellm.client_session, httpx.Client()
    try:
        yield litellm
    finally:
        litellm.client_session.close()
        litellm.client_session = previous
    # litellm's sync completion() calls asyncio.get_event_loop() (its service logger), which leaves an
    # open event loop set on the main thread; close it, or the next asyncio.run() orphans it and its
    # garbage collection raises ResourceWarning in some later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:  # an asyncio.run() since then already unset it: nothing left to close
            return
    if not loop.is_running():
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def litellm_quiet(litellm_module, monkeypatch):
    monkeypatch.setattr(litellm_module, "suppress_debug_info", True)
    return litellm_module


# litellm's import adds a process-wide ignore for this pydantic warning (litellm/_process_defaults.py);
# pytest resets filters around each test, so the lazy import inside completion() would raise without it.
LITELLM_WARNINGS = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier.*:UserWarning")


def call_litellm(litellm, url, model, **kw):
    return litellm.completion(model=f"openai/{model}", api_base=url, api_key=fake_key(),
                              messages=MSGS, num_retries=0, max_retries=0, **kw)


@LITELLM_WARNINGS
def test_litellm_gets_the_text_and_usage(drill_url, litellm_quiet):
    resp = call_litellm(litellm_quiet, drill_url, "large", extra_headers={"X-Workbench-Expected": "refund",
                                                                          "X-Workbench-Difficulty": "0"})
    assert resp.choices[0].message.content == "refund"
    assert resp.usage.prompt_tokens == litellm_quiet.token_counter(model="gpt-4o", messages=MSGS)
    assert resp.usage.completion_tokens > 0
    # the server's headers reach the caller: the simulated label, and a cost equal to litellm's own
    headers = resp._hidden_params["additional_headers"]
    assert headers["llm_provider-x-workbench-simulated"] == "true"
    assert float(headers["llm_provider-x-workbench-cost-usd"]) == pytest.approx(
        resp._hidden_params["response_cost"])


@LITELLM_WARNINGS
@pytest.mark.parametrize("model, status, exc_name", [
    ("down", 503, "ServiceUnavailableError"),
    ("busy", 429, "RateLimitError"),
    ("broken", 500, "InternalServerError"),
    ("tiny", 400, "ContextWindowExceededError"),
    ("prude", 400, "ContentPolicyViolationError"),
    ("no-such-model", 404, "NotFoundError"),
])
def test_litellm_maps_each_failure_to_its_exception(drill_url, litellm_quiet, model, status, exc_name):
    if model == "busy":
        call_litellm(litellm_quiet, drill_url, model)  # uses up the 1 rpm
    with pytest.raises(getattr(litellm_quiet.exceptions, exc_name)) as info:
        call_litellm(litellm_quiet, drill_url, model)
    assert type(info.value).__name__ == exc_name and info.value.status_code == status
    if status == 429:  # what a client needs to honour the server's retry-after
        assert int(info.value.response.headers["retry-after-ms"]) <= 600


@LITELLM_WARNINGS
def test_litellm_times_out_on_a_stall(drill_url, litellm_quiet):
    with pytest.raises(litellm_quiet.exceptions.Timeout):
        call_litellm(litellm_quiet, drill_url, "stuck", timeout=0.5)


# --- the blocking runner ---------------------------------------------------------------------------

@pytest.mark.slow
def test_serve_prints_one_line_and_stops_cleanly_on_sigint_and_sigterm(http):
    # In subprocesses: serve() owns the main thread's signals, and its own process shows the exit code.
    code = "from workbench.simserver import serve; serve(port=0, speed=50)"
    procs = {sig: subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env={**os.environ, "PYTHONWARNINGS": "error"})
             for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for sig, proc in procs.items():
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready, "sim-server printed nothing within 60 s"
            line = proc.stdout.readline()
            assert line.startswith("sim-server: serving gpt-4o, gpt-4o-mini at http://127.0.0.1:"), line
            assert line.endswith("/v1 (simulated, speed 50x)\n"), line
            assert chat(http, line.split(" at ")[1].split(" ")[0], "gpt-4o").status_code == 200
            proc.send_signal(sig)
        for sig, proc in procs.items():
            out, err = proc.communicate(timeout=20)
            assert (proc.returncode, out, err) == (0, "", ""), sig
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_a_reasoning_model_reports_its_hidden_tokens_and_prices_them(server, http):
    from workbench.pricing import Pricer
    from workbench.providers.live import usage_tokens

    url = server(f"large: {{model: gpt-5, reasoning_effort: low, {QUIET}}}")
    resp = chat(http, url)
    usage = resp.json()["usage"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert 0 < reasoning < usage["completion_tokens"]
    cost = Pricer("gpt-5")(usage["prompt_tokens"], usage["completion_tokens"], 0, 0, reasoning)
    assert cost.reasoning > 0 and float(resp.headers["X-Workbench-Cost-Usd"]) == pytest.approx(cost.total, abs=1e-10)
    # what the live provider stores from litellm's parse of the same usage
    from litellm.types.utils import Usage

    assert usage_tokens(Usage(**usage)) == (usage["prompt_tokens"], usage["completion_tokens"], 0, 0, reasoning)
