"""The simulated provider: latency, errors, limits, outages, windows, prices and quality, in numbers."""

from __future__ import annotations

import math
import statistics

import pytest

from workbench.errors import ErrorKind, ScenarioError
from workbench.providers import make_provider
from workbench.scenario import parse_scenario
from workbench.seeds import request_key
from workbench.traffic import Request


def fleet(model_yaml: str, tmp_path=None):
    text = f"""
name: p
fleet:
  m: {model_yaml}
router: {{policy: static, params: {{target: m}}}}
traffic: {{source: none.jsonl}}
"""
    return parse_scenario(text)


def requests(n: int, difficulty: float | None = 0.5, category: str | None = "billing") -> list[Request]:
    return [Request(id=f"q{i}", prompt=f"Please explain invoice number {i}.", category=category,
                    difficulty=difficulty, expected="explain_charge") for i in range(n)]


def answers(model_yaml: str, reqs: list[Request], now: float = 0.0, attempt: int = 1, seed: int = 1):
    scn = fleet(model_yaml)
    call = make_provider(scn, reqs, seed).bind("m")
    return [call(r, request_key(seed, r.id), now, attempt) for r in reqs]


def test_latency_is_ttft_plus_tokens_over_speed():
    outs = answers("{model: gpt-4o, sim: {ttft_s: 1.0, tokens_per_s: 100, latency_sigma: 0, error_rates: {}}}",
                   requests(500))
    for o in outs:
        assert o.ok and o.latency_s == pytest.approx(1.0 + o.completion_tokens / 100)
    # output length: mean 260 * (0.6 + 0.8 * 0.5) * E[LogNormal(0, 0.4)] = 260 * 1.0 * 1.083
    assert statistics.mean(o.completion_tokens for o in outs) == pytest.approx(260 * math.exp(0.08), rel=0.05)


def test_error_rates_by_kind():
    outs = answers("{model: gpt-4o, sim: {error_rates: {server_error: 0.10, timeout: 0.05}}}", requests(8000))
    kinds = [o.error for o in outs]
    assert kinds.count(ErrorKind.SERVER_ERROR) / 8000 == pytest.approx(0.10, abs=0.012)
    assert kinds.count(ErrorKind.TIMEOUT) / 8000 == pytest.approx(0.05, abs=0.01)
    assert all(math.isinf(o.latency_s) for o in outs if o.error is ErrorKind.TIMEOUT)
    assert all(o.cost_usd == 0 for o in outs if not o.ok)


def test_rpm_limit_answers_429_with_retry_after():
    scn = fleet("{model: gpt-4o, limits: {rpm: 10}, sim: {error_rates: {}}}")
    reqs = requests(25)
    call = make_provider(scn, reqs, 1).bind("m")
    outs = [call(r, request_key(1, r.id), 5.0 + i * 0.1, 1) for i, r in enumerate(reqs)]
    assert [o.ok for o in outs] == [True] * 10 + [False] * 15
    assert {o.error for o in outs[10:]} == {ErrorKind.RATE_LIMIT}
    assert outs[10].retry_after_s == pytest.approx(5.0 + 60 - 6.0)  # the first call leaves the window
    later = call(reqs[0], request_key(1, "again"), 65.01, 2)
    assert later.ok  # the window slid


def test_tpm_limit():
    reqs = requests(10)
    outs = answers("{model: gpt-4o, limits: {tpm: 40}, sim: {error_rates: {}}}", reqs)
    ptok = outs[0].prompt_tokens
    assert 10 < ptok < 20
    allowed = 40 // ptok
    assert sum(o.ok for o in outs) == allowed
    assert all(o.error is ErrorKind.RATE_LIMIT for o in outs[allowed:])


def test_outage_window_and_kind():
    spec = "{model: gpt-4o, sim: {error_rates: {}, outages: [{start_s: 100, end_s: 200, kind: timeout}]}}"
    reqs = requests(3)
    assert all(o.ok for o in answers(spec, reqs, now=99.9))
    inside = answers(spec, reqs, now=100.0)
    assert all(o.error is ErrorKind.TIMEOUT and math.isinf(o.latency_s) for o in inside)
    assert all(o.ok for o in answers(spec, reqs, now=200.0))


def test_context_window_from_litellm_and_override():
    long = [Request(id="long", prompt="word " * 200_000)]
    assert answers("{model: gpt-4o-mini, sim: {error_rates: {}}}", long)[0].error is ErrorKind.CONTEXT_WINDOW
    short = requests(1)
    assert answers("{model: gpt-4o-mini, context_window: 4, sim: {error_rates: {}}}", short)[0].error \
        is ErrorKind.CONTEXT_WINDOW


def test_prices_from_litellm_and_override():
    o = answers("{model: gpt-4o, sim: {error_rates: {}}}", requests(1))[0]
    assert o.cost_usd == pytest.approx(o.prompt_tokens * 2.5e-6 + o.completion_tokens * 1e-5)
    o2 = answers("{model: gpt-4o, price: {input_per_mtok: 1, output_per_mtok: 2}, sim: {error_rates: {}}}",
                 requests(1))[0]
    assert o2.cost_usd == pytest.approx(o2.prompt_tokens * 1e-6 + o2.completion_tokens * 2e-6)


def test_unknown_model_without_price_names_the_field():
    with pytest.raises(ScenarioError) as err:
        answers("{model: acme/never-heard-of-it}", requests(1))
    assert err.value.field == "fleet.m.model" and "price" in str(err.value)
    # with a price it runs (family 'default')
    assert answers("{model: acme/never-heard-of-it, price: {input_per_mtok: 1, output_per_mtok: 1}}",
                   requests(1))[0].latency_s > 0


@pytest.mark.parametrize("d,expected", [(0.0, 0.98), (1.0, 0.735)])
def test_quality_follows_difficulty(d, expected):
    outs = answers("{model: gpt-4o, sim: {error_rates: {}}}", requests(6000, difficulty=d))
    assert statistics.mean(o.score for o in outs) == pytest.approx(expected, abs=0.015)
    # the simulated text is the expected label exactly when the score is 1
    assert all((o.text == "explain_charge") == (o.score == 1.0) for o in outs)


def test_category_adjustment():
    outs = answers("{model: gpt-4o-mini, sim: {error_rates: {}, category_quality: {billing: -0.3}}}",
                   requests(6000, difficulty=0.0))
    assert statistics.mean(o.score for o in outs) == pytest.approx(0.93 - 0.3, abs=0.015)


def test_same_request_same_model_same_draws_and_attempts_differ_in_errors():
    spec = "{model: gpt-4o, sim: {error_rates: {server_error: 0.5}}}"
    reqs = requests(400)
    a, b = answers(spec, reqs), answers(spec, reqs)
    assert [(o.ok, o.latency_s, o.text) for o in a] == [(o.ok, o.latency_s, o.text) for o in b]
    second = answers(spec, reqs, attempt=2)
    assert [o.ok for o in a] != [o.ok for o in second]
    ok_both = [(x, y) for x, y in zip(a, second) if x.ok and y.ok]
    assert ok_both and all(x.score == y.score for x, y in ok_both)  # correctness does not depend on the attempt
    other_seed = answers(spec, reqs, seed=2)
    assert [o.ok for o in a] != [o.ok for o in other_seed]
