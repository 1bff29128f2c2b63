"""Prompt caching: the cache: block, the simulated cache model, the sim-server's usage, the live reading.

Real parts: litellm's tokenizer and price map (offline), the simulated provider in virtual time, the
sim-server over HTTP on loopback, and litellm's own client calling it.
"""

from __future__ import annotations

import asyncio
import textwrap

import httpx
import pytest
from helpers import run, table

from workbench.caching import FAMILIES, family_for
from workbench.catalog import count_text_tokens, count_tokens
from workbench.errors import ScenarioError
from workbench.providers import make_provider
from workbench.runner import execute, prepare
from workbench.scenario import parse_scenario
from workbench.simserver import running_server
from workbench.store import TraceStore
from workbench.traffic import Request

QUIET = "sim: {error_rates: {}}"
REQ = Request(id="r1", prompt="Why was I charged twice in March?")


def cached_scenario(prefixes: str, fleet: str = "", extra: str = "") -> str:
    fleet = fleet or f"small: {{model: gpt-4o-mini, {QUIET}}}\n  claude: {{model: claude-sonnet-4-5, {QUIET}}}"
    return (f"name: cached\nfleet:\n  {fleet}\nrouter: {{policy: static, params: {{target: small}}}}\n"
            f"traffic: {{source: t.jsonl}}\n{extra}cache:\n  prefixes:\n" + textwrap.indent(prefixes, "    "))


def provider(prefixes: str, **kw):
    return make_provider(parse_scenario(cached_scenario(prefixes, **kw)), [], 0)


def calls(p, model: str, times) -> list[tuple[int, int]]:
    """(cached_tokens, cache_write_tokens) of one call at each virtual time."""
    out = []
    for t in times:
        o = p.call(model, REQ, 7, t)
        assert o.ok
        out.append((o.cached_tokens, o.cache_write_tokens))
    return out


# --- the cache model ------------------------------------------------------------------------------

def test_the_prefix_is_part_of_the_prompt_and_a_hit_reads_it():
    p = provider("sys: {tokens: 1800, targets: [small]}\n")
    bare = count_tokens("gpt-4o-mini", REQ.chat(), REQ.prompt)
    first, second = p.call("small", REQ, 7, 0.0), p.call("small", REQ, 7, 10.0)
    assert first.prompt_tokens == second.prompt_tokens == bare + 1800
    assert (first.cached_tokens, second.cached_tokens) == (0, 1800)
    untargeted = p.call("claude", REQ, 7, 20.0)  # a model no prefix targets: today's prompt, no cache
    assert untargeted.prompt_tokens == count_tokens("claude-sonnet-4-5", REQ.chat(), REQ.prompt)
    assert (untargeted.cached_tokens, untargeted.cache_write_tokens) == (0, 0)


def test_ttl_boundary_is_exact_and_a_hit_refreshes_the_entry():
    p = provider("sys: {tokens: 1800, targets: [claude]}\n")  # anthropic: 300 s, writes billed
    ttl = next(f for f in FAMILIES if f.name == "anthropic").ttl_s
    assert ttl == 300.0
    got = calls(p, "claude", [0.0, 300.0, 600.0, 900.0 + 2 ** -20, 1200.0 + 2 ** -20])
    # 300 - 0 <= TTL: hit; the hit refreshed the entry to 300, so 600 hits too; 900 + 2^-20 - 600 > TTL
    # (a miss that writes), and exactly 300 s after that write: a hit (times exact in binary)
    assert got == [(0, 1800), (1800, 0), (1800, 0), (0, 1800), (1800, 0)]


def test_ttl_s_overrides_the_family_default():
    p = provider("sys: {tokens: 1800, targets: [claude], ttl_s: 3600}\n")
    assert calls(p, "claude", [0.0, 3600.0, 7200.0 + 0.5]) == [(0, 1800), (1800, 0), (0, 1800)]


@pytest.mark.parametrize("model, minimum", [("gpt-4o-mini", 1024), ("claude-sonnet-4-5", 1024),
                                            ("claude-haiku-4-5", 4096), ("gemini-2.5-flash", 2048),
                                            ("gemini-3.1-pro-preview", 4096)])
def test_a_prefix_below_the_family_minimum_is_never_cached(model, minimum):
    fleet = f"m: {{model: {model}, {QUIET}}}"
    short = provider(f"sys: {{tokens: {minimum - 1}, targets: [m]}}\n", fleet=fleet)
    assert calls(short, "m", [0.0, 1.0, 2.0]) == [(0, 0)] * 3
    long = provider(f"sys: {{tokens: {minimum}, targets: [m]}}\n", fleet=fleet)
    assert [c for c, _ in calls(long, "m", [0.0, 1.0, 2.0])] == [0, minimum, minimum]


def test_anthropic_bills_the_write_and_openai_writes_for_free():
    p = provider("sys: {tokens: 2000, targets: [small, claude]}\n")
    assert calls(p, "claude", [0.0, 5.0]) == [(0, 2000), (2000, 0)]
    assert calls(p, "small", [0.0, 5.0]) == [(0, 0), (2000, 0)]  # the miss wrote the entry all the same
    assert family_for("azure/gpt-4o").name == "openai" and family_for("gemini/gemini-2.5-pro").name == "google"
    assert family_for("mistral/mistral-large-latest") is None


def test_a_model_without_a_cache_family_carries_the_prefix_uncached():
    fleet = f"m: {{model: mistral/mistral-large-latest, {QUIET}}}"
    p = provider("sys: {tokens: 5000, targets: [m]}\n", fleet=fleet)
    o = p.call("m", REQ, 7, 0.0)
    assert o.prompt_tokens == count_tokens("mistral/mistral-large-latest", REQ.chat(), REQ.prompt) + 5000
    assert calls(p, "m", [1.0, 2.0]) == [(0, 0), (0, 0)]


def test_a_text_prefix_is_counted_by_litellm_for_each_model():
    text = "You are a support agent for Acme. Be brief and polite. " * 120
    p = provider(f"sys: {{text: '{text}', targets: [small, claude]}}\n")
    for name, model in (("small", "gpt-4o-mini"), ("claude", "claude-sonnet-4-5")):
        n = count_text_tokens(model, text)
        assert n >= 1024
        o = p.call(name, REQ, 7, 0.0)
        assert o.prompt_tokens == count_tokens(model, REQ.chat(), REQ.prompt) + n


def test_failed_calls_leave_the_cache_alone():
    fleet = "m: {model: gpt-4o-mini, sim: {error_rates: {server_error: 1.0}}}"
    p = provider("sys: {tokens: 1800, targets: [m]}\n", fleet=fleet)
    out = p.call("m", REQ, 7, 0.0)
    assert not out.ok and (out.cached_tokens, out.cache_write_tokens) == (0, 0)
    assert p._by_model["m"].cache_entries == {}


def test_dense_arrivals_hit_more_than_sparse_ones(scenario_file, tmp_path):
    """Same prefix and TTL, 400 requests replayed at 1/s and at one per 10 minutes (mean): every gap
    within the TTL is a hit, so the dense run hits on all but its first call and the sparse one on about
    1 - exp(-300/600) = 39% of them. The replay engine makes the calls; the prefix counts them."""
    def hits(rate: float) -> tuple[int, int, int]:
        path = scenario_file(f"""\
            name: dense-sparse
            fleet: {{small: {{model: gpt-4o-mini, {QUIET}}}}}
            router: {{policy: static, params: {{target: small}}}}
            traffic: {{source: traffic.jsonl, arrival: {{process: poisson, rate_per_s: {rate}}}}}
            cache: {{prefixes: {{sys: {{tokens: 1800, targets: [small]}}}}}}
            """, n=400)
        prep = prepare(path)
        with TraceStore(tmp_path / f"{rate}.duckdb") as store:
            execute(prep, store)
        prefix = prep.provider.bind("small").__self__.prefix  # the simulated model's bound prefix
        gaps = [b - a for a, b in zip(prep.arrivals, prep.arrivals[1:], strict=False)]
        return prefix.hits, prefix.misses, sum(g <= 300.0 for g in gaps)

    dense, dense_misses, dense_expected = hits(1.0)
    sparse, sparse_misses, sparse_expected = hits(1 / 600)
    assert (dense, sparse) == (dense_expected, sparse_expected)  # exactly the gaps within the TTL
    assert (dense + dense_misses, sparse + sparse_misses) == (400, 400)
    assert dense == 399
    assert 0.30 * 399 < sparse < 0.48 * 399
    assert dense > 2 * sparse


def test_a_replay_prices_the_prefix_in_every_attempt(scenario_file, db):
    path = scenario_file(f"""\
        name: replayed
        seed: 4
        fleet: {{small: {{model: gpt-4o-mini, {QUIET}}}}}
        router: {{policy: static, params: {{target: small}}}}
        traffic: {{source: traffic.jsonl, arrival: {{process: poisson, rate_per_s: 2}}}}
        cache: {{prefixes: {{sys: {{tokens: 1500, targets: [small]}}}}}}
        """, n=30)
    rid, summary = run(path, db)
    att = table(db, "attempts", rid)
    bare = {r.id: count_tokens("gpt-4o-mini", r.chat(), r.prompt) for r in prepare(path).requests}
    assert len(att) == 30 and att.ok.all()
    assert (att.prompt_tokens == att.request_id.map(bare) + 1500).all()


def test_same_seed_same_hits():
    text = cached_scenario("sys: {tokens: 1800, targets: [claude]}\n")
    times = [0.0, 200.0, 700.0, 800.0, 1500.0]
    a = calls(make_provider(parse_scenario(text), [], 0), "claude", times)
    assert a == calls(make_provider(parse_scenario(text), [], 0), "claude", times)
    assert a == [(0, 1800), (1800, 0), (0, 1800), (1800, 0), (0, 1800)]


def test_without_a_cache_block_the_scenario_and_its_answers_are_unchanged():
    plain = parse_scenario(cached_scenario("x: {tokens: 1, targets: [small]}\n").split("cache:\n")[0])
    assert plain.cache is None and "cache:" not in plain.to_yaml()
    o = make_provider(plain, [], 0).call("small", REQ, 7, 0.0)
    assert o.prompt_tokens == count_tokens("gpt-4o-mini", REQ.chat(), REQ.prompt)
    assert (o.cached_tokens, o.cache_write_tokens) == (0, 0)


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefixes, line, field, words", [
    ("sys: {tokens: 1800, targets: [small, nobody]}\n", 9, "cache.prefixes.sys.targets[1]",
     "'nobody' is not a fleet model"),
    ("sys: {tokens: 200000, targets: [small]}\n", 9, "cache.prefixes.sys.tokens",
     "does not fit its context window of 128,000 tokens"),
    ("sys: {tokens: 1800, text: hello, targets: [small]}\n", 9, "cache.prefixes.sys",
     "exactly one of tokens"),
    ("sys: {targets: [small]}\n", 9, "cache.prefixes.sys", "exactly one of tokens"),
    ("a: {tokens: 1800, targets: [small]}\nb: {tokens: 1900, targets: [small]}\n", 10,
     "cache.prefixes.b.targets[0]", "already starts with prefix 'a'"),
    ("sys: {tokens: 1800, targets: [small], ttl: 60}\n", 9, "cache.prefixes.sys.ttl", "ttl"),
    ("sys: {tokens: 1800, targets: [live]}\n", 9, "cache.prefixes.sys.targets[0]",
     "'live' is a live model: a cache: prefix is simulated"),
    ("sys: {tokens: 1800, targets: [small], ttl_s: 0}\n", 9, "cache.prefixes.sys.ttl_s", "greater than 0"),
])
def test_bad_cache_blocks_name_file_line_and_field(prefixes, line, field, words):
    fleet = (f"small: {{model: gpt-4o-mini, {QUIET}}}\n"
             "  live: {model: openai/gpt-4o, provider: live, api_base: 'http://127.0.0.1:9/v1'}")
    with pytest.raises(ScenarioError) as err:
        parse_scenario(cached_scenario(prefixes, fleet=fleet), source="bad.yaml")
    e = err.value
    assert (e.file, e.line, e.field) == ("bad.yaml", line, field), str(e)
    assert words in str(e)


def test_a_bad_cache_block_writes_nothing(tmp_path):
    from helpers import wb

    (tmp_path / "t.jsonl").write_text('{"id": "a", "prompt": "hi"}\n')
    (tmp_path / "bad.yaml").write_text(cached_scenario("sys: {tokens: 1800, targets: [ghost]}\n"))
    proc = wb("run", "bad.yaml", "--db", "t.duckdb", cwd=tmp_path)
    assert proc.returncode != 0 and "bad.yaml:9" in proc.stderr and "'ghost' is not a fleet model" in proc.stderr
    assert not (tmp_path / "t.duckdb").exists()


# --- over HTTP: the sim-server's usage and the live provider's reading ------------------------------

SYSTEM = "You are the support agent of Acme Cloud. Answer billing questions briefly. " * 90
CHAT = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Why was I charged twice?"}]


def server_scenario():
    return parse_scenario(f"name: srv\nfleet:\n  large: {{model: gpt-4o, {QUIET}}}\n"
                          f"  claude: {{model: claude-sonnet-4-5, {QUIET}}}\n"
                          "router: {policy: static, params: {target: large}}\ntraffic: {source: none.jsonl}\n")


def test_the_sim_server_reports_cached_tokens_in_openai_usage():
    prefix_tokens = count_tokens("gpt-4o", CHAT[:1], "system only")
    assert prefix_tokens >= 1024
    with running_server(server_scenario(), speed=100) as url, httpx.Client(timeout=10) as http:
        def usage(model: str, messages: list) -> dict:
            resp = http.post(f"{url}/chat/completions", json={"model": model, "messages": messages})
            assert resp.status_code == 200, resp.text
            return resp.json()["usage"]

        first, second = usage("large", CHAT), usage("large", CHAT)
        short = [{"role": "system", "content": "Be brief."}, CHAT[1]]
        assert first["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
        assert second["prompt_tokens_details"] == {"cached_tokens": prefix_tokens, "audio_tokens": 0}
        assert second["prompt_tokens"] == first["prompt_tokens"] == count_tokens("gpt-4o", CHAT, "whole chat")
        assert [usage("large", short)["prompt_tokens_details"]["cached_tokens"] for _ in range(2)] == [0, 0]
        assert usage("large", CHAT[1:])["prompt_tokens_details"]["cached_tokens"] == 0  # no prefix at all
        claude = count_tokens("claude-sonnet-4-5", CHAT[:1], "claude system only")
        assert usage("claude", CHAT)["prompt_tokens_details"] == {
            "cached_tokens": 0, "audio_tokens": 0, "cache_write_tokens": claude}
        assert usage("claude", CHAT)["prompt_tokens_details"]["cached_tokens"] == claude


@pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier.*:UserWarning")
def test_a_live_round_trip_through_litellm_reads_cached_tokens():
    prefix_tokens = count_tokens("gpt-4o", CHAT[:1], "system only")
    req = Request(id="live-1", prompt=CHAT[1]["content"], messages=CHAT)
    with running_server(server_scenario(), speed=100) as url:
        client = parse_scenario(f"name: live\nfleet:\n  large: {{model: openai/gpt-4o, provider: live, "
                                f"api_base: '{url}', timeout_s: 10}}\n"
                                "router: {policy: static, params: {target: large}}\ntraffic: {source: none.jsonl}\n")
        fleet = make_provider(client, [], 0)

        async def twice():
            return [await fleet.acall("large", req, 1, 0.0) for _ in range(2)]

        first, second = asyncio.run(twice())
    assert first.ok and second.ok, (first.message, second.message)
    assert first.prompt_tokens == second.prompt_tokens == count_tokens("gpt-4o", CHAT, "whole chat")
    assert (first.cached_tokens, second.cached_tokens) == (0, prefix_tokens)
    assert first.cache_write_tokens == second.cache_write_tokens == 0  # OpenAI: writes are free
