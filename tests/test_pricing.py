"""Every attempt's cost is litellm's cost function for its tokens and tier; the parts add up everywhere.

The models are taken from litellm's LOCAL price map (LITELLM_LOCAL_MODEL_COST_MAP=True), chosen for the
fields each case needs (printed by ``-s``): OpenAI gpt-4o-mini (cache read, batch, priority), gpt-5
(reasoning model; flex, batch with its own batch cache-read price), Anthropic claude-sonnet-4-5 and
claude-haiku-4-5 (cache write and read, batch prices for both), Google gemini-2.5-pro (prices above
200k prompt tokens, flex) and gemini/gemini-2.5-flash (its own reasoning price).
"""

from __future__ import annotations

import duckdb
import litellm
import pytest
from litellm.types.utils import CompletionTokensDetailsWrapper, PromptTokensDetailsWrapper, Usage
from test_scenario import assert_where, load_error

from workbench.analysis import run_summary
from workbench.analysis.money import BREAKDOWN_KEYS
from workbench.errors import ScenarioError
from workbench.pricing import Pricer, override_entry, pricer_for
from workbench.runner import execute, prepare
from workbench.scenario import Price
from workbench.store import TraceStore

MAP = litellm.model_cost
# (model, tiers it has prices for in the local map)
MODELS = [("gpt-4o-mini", ("standard", "priority", "batch")), ("gpt-5", ("standard", "flex", "priority", "batch")),
          ("claude-sonnet-4-5", ("standard", "batch")), ("claude-haiku-4-5", ("standard", "batch")),
          ("gemini-2.5-pro", ("standard", "flex", "priority", "batch")),
          ("gemini/gemini-2.5-flash", ("standard", "flex", "priority", "batch"))]
TOKENS = [(1_000, 300, 0, 0, 0), (12_000, 800, 9_000, 0, 0), (5_000, 400, 2_000, 1_500, 0), (3_000, 2_500, 0, 0, 2_000),
          (250_000, 1_200, 100_000, 0, 700)]


def usage(prompt: int, completion: int, cached: int = 0, written: int = 0, reasoning: int = 0) -> Usage:
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                 prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=cached, cache_creation_tokens=written),
                 completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=reasoning))


def litellm_cost(model: str, tier: str, *tokens: int) -> float:
    """litellm's own cost function, called directly, for the same tokens and tier."""
    if tier == "batch":
        p, c = litellm.cost_per_token(model=model, usage_object=usage(*tokens), call_type="retrieve_batch")
    else:
        p, c = litellm.cost_per_token(model=model, usage_object=usage(*tokens),
                                      service_tier=None if tier == "standard" else tier)
    return p + c


def test_the_models_have_the_fields_the_cases_need():
    print("\nmodels from litellm's local map:", ", ".join(m for m, _ in MODELS))
    assert "cache_creation_input_token_cost" in MAP["claude-sonnet-4-5"]  # cache writes
    assert "cache_read_input_token_cost_batches" in MAP["claude-haiku-4-5"]  # batch discount on cache reads
    assert MAP["gpt-5"]["supports_reasoning"] and "input_cost_per_token_flex" in MAP["gpt-5"]
    assert "input_cost_per_token_above_200k_tokens" in MAP["gemini-2.5-pro"]
    assert "output_cost_per_reasoning_token" in MAP["gemini/gemini-2.5-flash"]
    for model, tiers in MODELS:
        keys = {"standard": "input_cost_per_token", "flex": "input_cost_per_token_flex",
                "priority": "input_cost_per_token_priority", "batch": "input_cost_per_token_batches"}
        assert all(keys[t] in MAP[model] for t in tiers), model


@pytest.mark.parametrize("model, tiers", MODELS)
def test_an_attempt_costs_what_litellm_says_for_its_tokens_and_tier(model, tiers):
    for tier in tiers:
        pricer = Pricer(model, tier)
        for tokens in TOKENS:
            cost = pricer(*tokens)
            assert cost.total == litellm_cost(model, tier, *tokens), (model, tier, tokens)
            assert cost.standard == litellm_cost(model, "standard", *tokens)
            parts = cost.input + cost.cached_input + cost.cache_write + cost.output + cost.reasoning
            assert parts == pytest.approx(cost.total, rel=1e-12, abs=1e-15)
            assert pricer(*tokens) == cost  # memoised: the same figure again


def test_the_parts_are_the_maps_figures_and_discounts_stack():
    son = MAP["claude-sonnet-4-5"]
    c = Pricer("claude-sonnet-4-5")(5_000, 400, 2_000, 1_500, 0)
    assert c.input == pytest.approx(1_500 * son["input_cost_per_token"])
    assert c.cached_input == pytest.approx(2_000 * son["cache_read_input_token_cost"])  # a tenth of input
    assert c.cache_write == pytest.approx(1_500 * son["cache_creation_input_token_cost"])  # a premium
    assert c.output == pytest.approx(400 * son["output_cost_per_token"]) and c.reasoning == 0
    b = Pricer("claude-sonnet-4-5", "batch")(5_000, 400, 2_000, 1_500, 0)
    assert b.cached_input == pytest.approx(2_000 * son["cache_read_input_token_cost_batches"])  # batch on cache
    assert b.cached_input == pytest.approx(c.cached_input / 2) and b.total == pytest.approx(c.total / 2)
    assert b.standard == c.total
    g5 = Pricer("gpt-5")(3_000, 2_500, 0, 0, 2_000)
    assert g5.reasoning == pytest.approx(2_000 * MAP["gpt-5"]["output_cost_per_token"])  # billed as output
    assert g5.output == pytest.approx(500 * MAP["gpt-5"]["output_cost_per_token"])
    pro = MAP["gemini-2.5-pro"]
    big = Pricer("gemini-2.5-pro")(250_000, 1_200, 0, 0, 0)
    assert big.output == pytest.approx(1_200 * pro["output_cost_per_token_above_200k_tokens"])
    assert Pricer("gemini-2.5-pro")(1_000, 1_200).output == pytest.approx(1_200 * pro["output_cost_per_token"])


def test_a_price_override_is_a_litellm_entry_priced_by_litellm():
    price = Price(input_per_mtok=2, output_per_mtok=8, cache_read_per_mtok=0.5, cache_write_per_mtok=2.5,
                  reasoning_per_mtok=10, batch={"input_per_mtok": 1, "output_per_mtok": 4})
    entry = override_entry(price, MAP["gpt-4o-mini"])
    assert entry["input_cost_per_token_batches"] == 1e-6 and entry["output_cost_per_reasoning_token"] == 1e-5
    tokens = (5_000, 900, 2_000, 1_000, 600)
    p, c = litellm.cost_per_token(model="my-model", usage_object=usage(*tokens), custom_llm_provider="openai",
                                  requested_model_info_override=entry)
    cost = Pricer("my-model", "standard", entry)(*tokens)
    assert cost.total == p + c
    assert cost.cached_input == pytest.approx(2_000 * 0.5e-6) and cost.cache_write == pytest.approx(1_000 * 2.5e-6)
    assert cost.input == pytest.approx(2_000 * 2e-6) and cost.reasoning == pytest.approx(600 * 1e-5)
    assert cost.output == pytest.approx(300 * 8e-6)
    batch = Pricer("my-model", "batch", entry)(5_000, 900)
    assert batch.total == pytest.approx(5_000 * 1e-6 + 900 * 4e-6) and batch.standard == pytest.approx(
        5_000 * 2e-6 + 900 * 8e-6)


FLEET = """\
name: priced
seed: 3
fleet:
  m:
    model: {model}
{extra}
router: {{policy: static, params: {{target: m}}}}
traffic: {{source: traffic.jsonl}}
"""


@pytest.mark.parametrize("model, extra, line, field, words", [
    ("gpt-4o-mini", "    tier: flex", 6, "fleet.m.tier", "no flex price for 'gpt-4o-mini'"),
    ("gpt-4o-mini", "    reasoning_effort: high", 6, "fleet.m.reasoning_effort", "not a reasoning model"),
    ("gpt-4o-mini", "    price: {input_per_mtok: 1, output_per_mtok: 2}\n    tier: priority", 7, "fleet.m.tier",
     "price gives none for it"),
])
def test_bad_tier_or_effort_is_one_error_naming_file_line_field(tmp_path, monkeypatch, model, extra, line, field,
                                                               words):
    err, path = load_error(tmp_path, monkeypatch, FLEET.format(model=model, extra=extra),
                           build=lambda scn: pricer_for(scn, "m"))
    assert_where(err, path, line, field)
    assert words in str(err)


def test_a_bad_price_field_is_one_error_naming_it(tmp_path, monkeypatch):
    err, path = load_error(tmp_path, monkeypatch, FLEET.format(
        model="gpt-4o-mini", extra="    price:\n      input_per_mtok: 1\n      output_per_mtok: 2\n"
                                   "      cache_reed_per_mtok: 0.1"))
    assert_where(err, path, 9, "fleet.m.price.cache_reed_per_mtok")
    err, path = load_error(tmp_path, monkeypatch, FLEET.format(
        model="gpt-4o-mini", extra="    price:\n      input_per_mtok: 1\n      output_per_mtok: 2\n"
                                   "      batch: {input_per_mtok: -1, output_per_mtok: 1}"))
    assert_where(err, path, 9, "fleet.m.price.batch.input_per_mtok")


def test_a_run_with_a_bad_tier_writes_nothing(scenario_file, db):
    path = scenario_file(FLEET.format(model="gpt-4o-mini", extra="    tier: flex"), n=5)
    with pytest.raises(ScenarioError):
        prepare(path)
    assert not db.exists()


DESIGN = """\
name: {name}
seed: 11
fleet:
  think:
    model: gpt-5
    tier: {tier}
    reasoning_effort: {effort}
  small: {{model: gpt-4o-mini}}
humans:
  desk: {{agents: 2, handling_time_s: 30, cost_per_request_usd: 1.5}}
router: {{policy: static, params: {{target: think}}}}
fallbacks:
  think: [{{to: desk}}]
timeouts: {{attempt_s: 600}}  # a high-effort answer takes minutes: no timeout cuts the long ones off
traffic: {{source: traffic.jsonl, arrival: {{process: poisson, rate_per_s: 2}}}}
"""
# tier: batch makes a batch lane (README "Service tiers and batch lanes"): its block, failing over to small
LANE = "batch: {window_s: 600, max_size: 100, completion: {profile: openai}, failover: small}\n"


def _run(path, db):
    with TraceStore(db) as st:
        rid, _ = execute(prepare(path), st)
        return rid, run_summary(st.con, rid)


def test_reasoning_tokens_are_billed_as_output_and_take_time(scenario_file, db):
    low = scenario_file(DESIGN.format(name="low", tier="standard", effort="low"), n=60, name="low.yaml")
    high = scenario_file(DESIGN.format(name="high", tier="standard", effort="high"), name="high.yaml")
    rid_low, s_low = _run(low, db)
    rid_high, s_high = _run(high, db)
    with duckdb.connect(str(db), read_only=True) as con:
        q = ("SELECT avg(reasoning_tokens), avg(end_s - start_s), min(reasoning_tokens), "
             "sum(cost_reasoning_usd) FROM attempts WHERE run_id = ? AND ok AND provider = 'simulated'")
        r_low, t_low, min_low, usd_low = con.execute(q, [rid_low]).fetchone()
        r_high, t_high, _, usd_high = con.execute(q, [rid_high]).fetchone()
        bad = con.execute("SELECT count(*) FROM attempts WHERE reasoning_tokens > completion_tokens").fetchone()[0]
    assert min_low >= 1 and 10 < r_high / r_low < 24  # ASSUMED means: 4,800 (high) against 300 (low) tokens
    assert t_high > t_low + 30 and usd_high > 3 * usd_low > 0 and bad == 0
    assert s_high["cost_breakdown_usd"]["reasoning"] == pytest.approx(usd_high)


def test_breakdown_sums_to_cost_and_the_sum_identity_holds(scenario_file, db):
    path = scenario_file(DESIGN.format(name="batchy", tier="batch", effort="medium") + LANE, n=80)
    rid, s = _run(path, db)
    b = s["cost_breakdown_usd"]
    assert list(b) == list(BREAKDOWN_KEYS)
    assert sum(b.values()) == pytest.approx(s["cost_usd"], rel=1e-12)
    assert b["reasoning"] > 0 and b["output"] > 0 and b["input"] > 0 and b["tools"] == 0
    with duckdb.connect(str(db), read_only=True) as con:
        att, std, n_batch = con.execute("SELECT sum(cost_usd), sum(standard_cost_usd) FILTER (WHERE tier = 'batch'), "
                                        "count(*) FILTER (WHERE tier = 'batch' AND ok) FROM attempts "
                                        "WHERE run_id = ?", [rid]).fetchone()
        req = con.execute("SELECT sum(cost_usd) FROM requests WHERE run_id = ?", [rid]).fetchone()[0]
        humans = con.execute("SELECT sum(cost_usd) FROM attempts WHERE run_id = ? AND provider = 'human'",
                             [rid]).fetchone()[0] or 0.0
    assert att == pytest.approx(req, rel=1e-12) and req == pytest.approx(s["cost_usd"], rel=1e-12)
    assert b["humans"] == pytest.approx(humans) and n_batch > 0
    # the batch tier is half of gpt-5's standard price here: it saved as much as it cost
    assert s["batch_savings_usd"] == pytest.approx(std - (att - humans), rel=1e-9)
    assert s["batch_savings_usd"] == pytest.approx(att - humans, rel=1e-9)


def test_live_usage_tokens_read_openai_and_anthropic_cache_fields():
    from workbench.providers.live import usage_tokens

    openai_style = usage(2_000, 500, 1_200, 0, 300)
    assert usage_tokens(openai_style) == (2_000, 500, 1_200, 0, 300)
    anthropic_style = Usage(prompt_tokens=100, completion_tokens=20, total_tokens=120,
                            cache_creation_input_tokens=50, cache_read_input_tokens=30)
    assert usage_tokens(anthropic_style) == (100, 20, 30, 50, 0)
    assert usage_tokens(None) == (0, 0, 0, 0, 0)


def test_a_bad_tier_stops_workbench_run_before_anything_is_written(scenario_file, tmp_path):
    from helpers import wb

    path = scenario_file(FLEET.format(model="gpt-4o-mini", extra="    tier: standard\n    reasoning_effort: low"), n=5)
    res = wb("run", str(path), "--db", str(tmp_path / "t.duckdb"), cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == ""
    assert f"{path}:7" in res.stderr and "field 'fleet.m.reasoning_effort'" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml", "traffic.jsonl"]


def test_recorded_costs_keep_their_stored_total_and_split_it_by_litellms_prices(routellm_env, tmp_path):
    from conftest import SCENARIOS

    db = tmp_path / "t.duckdb"
    rid, s = _run(SCENARIOS / "gsm8k-cascade.yaml", db)
    b = s["cost_breakdown_usd"]
    assert sum(b.values()) == pytest.approx(s["cost_usd"], rel=1e-12) and b["input"] > 0 and b["output"] > 0
    with duckdb.connect(str(db), read_only=True) as con:
        # the imported answers' costs are tokens x litellm's prices: litellm's parts match them exactly
        gap = con.execute("SELECT max(abs(cost_input_usd + cost_output_usd - cost_usd)) FROM attempts "
                          "WHERE run_id = ? AND provider = 'recorded'", [rid]).fetchone()[0]
    assert gap < 1e-15


def test_a_recorded_model_litellm_cannot_price_keeps_its_stored_costs(tmp_path, monkeypatch, scenario_file):
    import csv

    from workbench.datasets import import_outcomes

    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    rows = [["q1", "What is 2 + 2?", "my-private-model", "4", "1", "12", "3", "0.4", "math", "4", "0.25"],
            ["q2", "Name a prime above 10.", "my-private-model", "11", "1", "20", "5", "0.6", "math", "11", "0.5"]]
    with (tmp_path / "o.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["prompt_id", "prompt", "model", "response", "score", "prompt_tokens", "completion_tokens",
                    "latency_s", "category", "expected", "cost_usd"])
        w.writerows(rows)
    import_outcomes(tmp_path / "o.csv", "private")
    path = scenario_file("name: private\nfleet:\n  m: {model: my-private-model, provider: recorded}\n"
                         "router: {policy: static, params: {target: m}}\ntraffic: {dataset: private}\n")
    _, s = _run(path, tmp_path / "t.duckdb")
    assert s["cost_usd"] == pytest.approx(0.75) and s["cost_breakdown_usd"]["input"] == pytest.approx(0.75)


ANTHROPIC_CACHE = """\
name: {name}
seed: 4
fleet:
  c: {{model: claude-sonnet-4-5, sim: {{error_rates: {{}}}}}}
router: {{policy: static, params: {{target: c}}}}
cache:
  prefixes:
    system: {{tokens: 2000, targets: [c], ttl_s: {ttl}}}
traffic: {{source: traffic.jsonl, arrival: {{process: poisson, rate_per_s: 0.001}}}}
"""


def test_a_one_hour_anthropic_cache_prices_its_writes_at_litellms_1h_rate(scenario_file, tmp_path):
    """A prefix kept past 5 minutes is Anthropic's 1-hour cache: its writes cost the map's _above_1hr
    rate, not the 5-minute one (Poisson arrivals 1,000 s apart on average: most calls write under a
    300 s TTL, few under 3,600 s)."""
    entry = litellm.model_cost["claude-sonnet-4-5"]
    short_rate, long_rate = entry["cache_creation_input_token_cost"], entry["cache_creation_input_token_cost_above_1hr"]
    assert long_rate > short_rate
    written = {}
    for ttl in (300, 3600):
        path = scenario_file(ANTHROPIC_CACHE.format(name=f"ttl{ttl}", ttl=ttl), n=20, name=f"ttl{ttl}.yaml")
        db = tmp_path / f"{ttl}.duckdb"
        rid, s = _run(path, db)
        with duckdb.connect(str(db), read_only=True) as con:
            written[ttl] = con.execute("SELECT sum(cache_write_tokens), sum(cost_cache_write_usd), sum(cached_tokens) "
                                       "FROM attempts WHERE run_id = ?", [rid]).fetchone()
        assert s["cost_breakdown_usd"]["cache_write"] == pytest.approx(written[ttl][1], rel=1e-12)
    short_tokens, usd, reads = written[300]
    assert short_tokens + reads == 20 * 2000 and usd == pytest.approx(short_tokens * short_rate, rel=1e-12)
    tokens, usd, reads = written[3600]
    assert 0 < tokens < short_tokens and tokens + reads == 20 * 2000  # the hour-long cache is read more
    assert usd == pytest.approx(tokens * long_rate, rel=1e-12)


def test_a_timed_out_call_keeps_its_tier(scenario_file, db):
    """Regression: the clocks rebuilt a timed-out outcome without its tier, so a flex call that timed out
    was stored as standard."""
    text = DESIGN.format(name="flexy", tier="flex", effort="low").replace("attempt_s: 600", "attempt_s: 0.5")
    rid, _ = _run(scenario_file(text, n=10), db)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT DISTINCT tier, error_kind, cost_usd FROM attempts WHERE run_id = ? "
                           "AND target = 'think'", [rid]).fetchall()
    assert rows == [("flex", "timeout", 0.0)]
