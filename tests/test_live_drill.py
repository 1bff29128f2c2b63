"""The documented live drill, and configuration errors (404/400/401/403) from a live provider.

``scenarios/live-sim.yaml`` is started exactly as its own comment says (a free port instead of 8011,
through ``WORKBENCH_SIM_URL`` as the comment allows); a 404 is a ``not_found`` attempt, never retried
nor fallen back, its message stored; a run that answers nothing exits non-zero with one line.
"""

from __future__ import annotations

import json
import os
import select
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, SCENARIOS
from helpers import fake_key, run, table

from workbench.errors import CONFIG_ERRORS, RETRYABLE_DEFAULT, ErrorKind
from workbench.scenario import FallbackRule, parse_scenario
from workbench.simserver import running_server

LIVE_SIM = SCENARIOS / "live-sim.yaml"


def _comment_commands() -> tuple[list[str], list[str]]:
    """The two commands of live-sim.yaml's comment, as argument lists (checked to be there)."""
    lines = [ln.lstrip("# ").strip() for ln in LIVE_SIM.read_text().splitlines() if ln.startswith("#")]
    server = next(ln for ln in lines if ln.startswith("workbench sim-server"))
    client = next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("then:"))
    assert server == "workbench sim-server --port 8011 --scenario scenarios/live-sim.yaml"
    assert client == "workbench run scenarios/live-sim.yaml --requests 40"
    return shlex.split(server), shlex.split(client)


def _command(argv: list[str]) -> list[str]:
    script = Path(sys.executable).parent / "workbench"
    return [str(script), *argv[1:]]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DB" and not k.startswith("WORKBENCH_TEST_")}
    return {**env, **extra}


@pytest.mark.slow
def test_live_sim_drill_as_its_comment_says_answers_every_request(tmp_path):
    server_argv, client_argv = _comment_commands()
    server_argv[server_argv.index("--port") + 1] = "0"  # a free port: tests run side by side
    server = subprocess.Popen(_command(server_argv), cwd=ROOT, env=_env(), text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([server.stdout], [], [], 90)
        assert ready, "sim-server printed nothing within 90 s"
        line = server.stdout.readline()
        # both the fleet's litellm names and what litellm sends once it strips "openai/"
        assert "openai/gpt-4o-mini" in line and " gpt-4o-mini," in line, line
        url = line.split(" at ")[1].split(" ")[0]
        db = tmp_path / "t.duckdb"
        res = subprocess.run([*_command(client_argv), "--db", str(db), "--json", "--no-progress"], cwd=ROOT,
                             env=_env(WORKBENCH_SIM_URL=url), capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        summary = json.loads(res.stdout)
        calls = httpx.get(url.removesuffix("/v1") + "/admin/calls", timeout=10).json()
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert summary["mode"] == "live" and summary["requests"] == summary["completed"] == 40
    assert summary["failed"] == 0 and summary["cost_usd"] > 0
    att = table(db, "attempts", summary["run_id"])
    assert (att.provider == "live").all() and att.ok.sum() == 40 and calls["calls"] == len(att)


SERVER_OTHER_NAMES = """name: other
fleet:
  only: {model: gpt-4.1, sim: {error_rates: {}}}
router: {policy: static, params: {target: only}}
traffic: {source: none.jsonl}
"""


def test_a_404_is_not_found_never_retried_message_stored_and_exit_3(tmp_path):
    """live-sim.yaml against a server that serves other models: every call is a 404."""
    db = tmp_path / "t.duckdb"
    with running_server(parse_scenario(SERVER_OTHER_NAMES), speed=50) as url:
        _, client_argv = _comment_commands()
        res = subprocess.run([*_command(client_argv), "--db", str(db), "--json", "--no-progress"], cwd=ROOT,
                             env=_env(WORKBENCH_SIM_URL=url), capture_output=True, text=True, timeout=300)
        calls = httpx.get(url.removesuffix("/v1") + "/admin/calls", timeout=10).json()["calls"]
    assert res.returncode == 3, res.stderr
    summary = json.loads(res.stdout)  # the results are printed before the reason
    rid = summary["run_id"]
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    by_target = {f["target"]: f["requests"] for f in summary["failures"]}
    assert len(errors) == 1 and sum(by_target.values()) == 40
    assert errors[0] == (f"error: all 40 requests of run {rid} failed: "
                         + ", ".join(f"{f['requests']} not_found from {f['model']} at {url}" for f in summary["failures"])
                         + " — check the model name (and api_base) (messages: attempts.error_message)")
    att = table(db, "attempts", rid)
    # one call per request: the scenario retries and falls back on server_error/timeout/rate_limit only
    assert len(att) == calls == 40 and (att.error_kind == "not_found").all()
    assert not att.is_retry.any() and not att.is_fallback.any() and (att.attempt_no == 1).all()
    assert att.error_message.str.contains("does not exist on this sim-server").all()
    reqs = table(db, "requests", rid)
    assert (reqs.status == "failed").all() and (reqs.error_kind == "not_found").all()
    kinds = {t: m["error_kinds"] for t, m in summary["by_model"].items()}
    assert kinds == {t: {"not_found": n} for t, n in by_target.items()}


SERVER_FAILING = """name: failing
fleet:
  large: {model: gpt-4o, sim: {error_rates: {KIND: 1.0}}}
  small: {model: gpt-4o-mini, sim: {error_rates: {}}}
router: {policy: static, params: {target: large}}
traffic: {source: none.jsonl}
"""
CLIENT = f"""name: live
seed: 3
concurrency: 4
fleet:
  large: {{model: openai/gpt-4o, provider: live, api_base: URL, timeout_s: 10, api_key_env: DRILL_KEY}}
  small: {{model: openai/gpt-4o-mini, provider: live, api_base: URL, timeout_s: 10}}
router: {{policy: static, params: {{target: large}}}}
fallbacks: {{large: [{{to: small}}]}}
retries: {{max_retries: 3, backoff_s: 0.01, jitter: 0}}
traffic: {{source: {SCENARIOS / "traffic" / "support_tickets.jsonl"}, sample: 6,
          arrival: {{process: poisson, rate_per_s: 50}}}}
"""


@pytest.mark.parametrize("kind", ["not_found", "bad_request", "auth"])
def test_configuration_errors_are_never_retried_nor_fallen_back_by_default(tmp_path, monkeypatch, kind):
    """A fallback rule without ``errors`` and the default retries skip configuration errors; the
    message is stored, and a key the server echoes (as OpenAI does on a 401) is scrubbed from it."""
    key = fake_key()
    monkeypatch.setenv("DRILL_KEY", key)
    with running_server(parse_scenario(SERVER_FAILING.replace("KIND", kind)), speed=50) as url:
        path = tmp_path / "live.yaml"
        path.write_text(CLIENT.replace("URL", url))
        rid, s = run(path, tmp_path / "t.duckdb")
    att = table(tmp_path / "t.duckdb", "attempts", rid)
    assert s["failed"] == s["requests"] == 6 and len(att) == 6 and (att.error_kind == kind).all()
    assert s["fallback_rate"] == s["retry_rate"] == 0.0
    assert s["by_model"]["large"]["error_kinds"] == {kind: 6}
    assert att.error_message.notna().all() and not att.error_message.str.contains(key).any()
    if kind == "auth":
        assert att.error_message.str.contains("Incorrect API key provided").all()
    assert key not in (tmp_path / "t.duckdb").read_bytes().decode("latin-1")


def test_litellm_exception_classes_map_to_error_kinds():
    import httpx as hx
    import litellm
    from workbench.providers.live import error_kind

    ex = litellm.exceptions
    for cls, status, kind in [(ex.NotFoundError, 404, ErrorKind.NOT_FOUND), (ex.BadRequestError, 400, ErrorKind.BAD_REQUEST),
                              (ex.UnprocessableEntityError, 422, ErrorKind.BAD_REQUEST),
                              (ex.AuthenticationError, 401, ErrorKind.AUTH), (ex.PermissionDeniedError, 403, ErrorKind.AUTH),
                              (ex.ContextWindowExceededError, 400, ErrorKind.CONTEXT_WINDOW),
                              (ex.InternalServerError, 500, ErrorKind.SERVER_ERROR)]:
        response = hx.Response(status, request=hx.Request("POST", "http://127.0.0.1/v1/chat/completions"))
        exc = cls(message="no", llm_provider="openai", model="gpt-4o", response=response)
        assert error_kind(exc) == (kind, None), cls.__name__


def test_scrub_removes_the_call_key_and_key_shaped_text():
    from workbench.providers.live import scrub

    key, other = "plainsecret-1234", fake_key()
    text = scrub(f"bad key {key}\nalso {other} and Bearer {other}", (key, None))
    assert key not in text and other not in text and "\n" not in text and text.startswith("bad key **********")
    assert len(scrub("x" * 2000)) == 500


def test_fallback_rules_without_errors_skip_configuration_errors():
    assert CONFIG_ERRORS.isdisjoint(RETRYABLE_DEFAULT)
    for kind in CONFIG_ERRORS:
        assert not FallbackRule(to="b").matches(kind) and FallbackRule(to="b", errors=[kind]).matches(kind)
    assert FallbackRule(to="b").matches(ErrorKind.SERVER_ERROR)


def test_a_simulated_configuration_error_is_not_fallen_back_and_named_errors_are(scenario_file, db):
    text = """
    name: s
    fleet:
      a: {model: gpt-4o, sim: {error_rates: {auth: 1.0}}}
      b: {model: gpt-4o-mini, sim: {error_rates: {}}}
    router: {policy: static, params: {target: a}}
    fallbacks: {a: [{to: b}]}
    traffic: {source: traffic.jsonl}
    """
    rid, s = run(scenario_file(text, n=30), db)
    assert s["failed"] == 30 and s["fallback_rate"] == 0 and s["by_model"]["a"]["error_kinds"] == {"auth": 30}
    named = scenario_file(text.replace("[{to: b}]", "[{to: b, errors: [auth]}]"), name="named.yaml")
    rid, s = run(named, db)
    assert s["completed"] == 30 and s["fallback_rate"] == 1.0


def test_sim_server_accepts_both_forms_of_a_prefixed_name_and_counts_calls():
    fleet = parse_scenario("name: s\nfleet:\n  a: {model: openai/gpt-4o, sim: {error_rates: {}}}\n"
                           "  b: {model: gpt-4o-mini, sim: {error_rates: {}}}\n"
                           "router: {policy: static, params: {target: a}}\ntraffic: {source: none.jsonl}\n")
    msgs = [{"role": "user", "content": "Where is my parcel?"}]
    with running_server(fleet, speed=100) as url, httpx.Client(timeout=10) as http:
        got = {m: http.post(f"{url}/chat/completions", json={"model": m, "messages": msgs})
               for m in ("openai/gpt-4o", "gpt-4o", "openai/gpt-4o-mini", "gpt-4o-mini", "a", "gpt-4")}
        calls = http.get(url.removesuffix("/v1") + "/admin/calls").json()
    assert {m: r.status_code for m, r in got.items()} == {"openai/gpt-4o": 200, "gpt-4o": 200, "openai/gpt-4o-mini": 200,
                                                          "gpt-4o-mini": 200, "a": 200, "gpt-4": 404}
    assert {m: r.headers["X-Workbench-Fleet-Name"] for m, r in got.items() if r.status_code == 200} == {
        "openai/gpt-4o": "a", "gpt-4o": "a", "openai/gpt-4o-mini": "b", "gpt-4o-mini": "b", "a": "a"}
    assert calls == {"calls": 6, "by_prompt": {"Where is my parcel?": 5}}
