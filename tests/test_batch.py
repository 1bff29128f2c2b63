"""Batch lanes on the virtual clock: batch sizes, completion times, failover of late requests, deadlines.

The completion profile is ``custom`` with p50 == p95, so every batch completes exactly p50 seconds after
it is sent, and each figure below is computed by hand from the traffic's arrival times.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import duckdb
import pytest
from helpers import run, table, wb

from workbench.batch_schema import PROVIDER_WINDOW_S, CompletionSpec
from workbench.errors import ScenarioError
from workbench.scenario import load_scenario, parse_scenario

FAST = "sim: {error_rates: {}, latency_sigma: 0, ttft_s: 0.02, tokens_per_s: 5000}"


def scenario(p50: float = 1000.0, extra: str = "", batch: str | None = None) -> str:
    """A lane (tier batch) beside a real-time model; summaries go to the lane; one slot only."""
    block = batch if batch is not None else (
        f"batch: {{window_s: 600, max_size: 3, failover: rt, margin_s: 100,\n"
        f"        completion: {{profile: custom, p50_s: {p50}, p95_s: {p50}}}}}\n")
    return textwrap.dedent(f"""\
        name: lanes
        seed: 5
        concurrency: 1
        fleet:
          rt: {{model: gpt-4o-mini, {FAST}}}
          lane: {{model: gpt-4o-mini, tier: batch, {FAST}}}
        router:
          policy: rules
          params: {{rules: [{{to: lane, category: [summary]}}], default: rt}}
        traffic: {{source: traffic.jsonl, arrival: {{process: recorded, field: arrived_at}}}}
        """) + block + extra


#: (id, arrival s, category, deadline_s)
TRAFFIC = [("s1", 0, "summary", 5000), ("t1", 5, "ticket", None), ("s2", 10, "summary", 5000),
           ("s3", 20, "summary", 5000), ("s4", 100, "summary", 5000), ("s5", 200, "summary", 1500),
           ("s6", 300, "summary", 400)]


def write(tmp_path: Path, text: str, traffic=TRAFFIC) -> Path:
    rows = []
    for rid, t, cat, deadline in traffic:
        row = {"id": rid, "prompt": f"summarise {rid}", "category": cat, "arrived_at": float(t)}
        if deadline is not None:
            row["deadline_s"] = deadline
        rows.append(json.dumps(row))
    (tmp_path / "traffic.jsonl").write_text("\n".join(rows) + "\n")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_batches_fill_or_time_out_late_requests_fail_over_and_no_deadline_is_missed(tmp_path, db):
    rid, summary = run(write(tmp_path, scenario()), db)
    att = table(db, "attempts", rid)
    req = table(db, "requests", rid).set_index("request_id")
    lane = att[att.batch_id.notna()]
    # s1-s3 fill batch 1 (max_size 3), sent at 20, done at 1020; s4 and s5 wait out batch 2's window
    # (opened at 100, sent at 700, done at 1700); s6 (deadline 400) cannot make any batch: straight to rt.
    sizes = lane.groupby("batch_id").size().to_dict()
    assert sizes == {"batch-lane-1": 3, "batch-lane-2": 2}
    one = lane[lane.batch_id == "batch-lane-1"].set_index("request_id")
    assert one.end_s.tolist() == [1020.0, 1020.0, 1020.0] and one.ok.all()
    assert one.wait_s.to_dict() == {"s1": 20.0, "s2": 10.0, "s3": 0.0}  # collected until sent
    assert req.loc["s4", "end_s"] == 1700.0 and req.loc["s4", "final_target"] == "lane"
    # s5: due at 200 + 1500 - 100 = 1600 < 1700: a failed batch row at 1600, then a real-time fallback
    s5 = att[att.request_id == "s5"].sort_values("attempt_no")
    assert s5.target.tolist() == ["lane", "rt"] and s5.ok.tolist() == [False, True]
    assert s5.error_kind.iloc[0] == "timeout" and s5.end_s.iloc[0] == 1600.0
    assert s5.is_fallback.tolist() == [False, True] and s5.batch_id.isna().tolist() == [False, True]
    assert s5.start_s.iloc[1] == 1600.0 and s5.cost_usd.iloc[0] > 0  # the late line is still billed
    s6 = att[att.request_id == "s6"]
    assert s6.target.tolist() == ["rt"] and s6.is_fallback.tolist() == [True] and s6.start_s.iloc[0] == 300.0
    # waiting in a batch holds no slot: with concurrency 1, t1 starts the moment it arrives
    assert att[att.request_id == "t1"].start_s.iloc[0] == 5.0
    assert req.deadline_s.dropna().to_dict() == {"s1": 5000.0, "s2": 5000.0, "s3": 5000.0, "s4": 5000.0,
                                                 "s5": 1500.0, "s6": 400.0}
    assert summary["deadline_requests"] == 6 and summary["deadline_misses"] == 0
    assert summary["completed"] == 7 and summary["fallback_rate"] == pytest.approx(2 / 7)
    # the run's cost is its attempts' cost (the late batch line included)
    assert summary["cost_usd"] == pytest.approx(att.cost_usd.sum())


def test_an_expired_batch_fails_its_requests_over_unbilled(tmp_path, db):
    traffic = [("s1", 0, "summary", 200_000), ("s2", 10, "summary", 200_000)]
    rid, summary = run(write(tmp_path, scenario(p50=PROVIDER_WINDOW_S), traffic=traffic), db)
    att = table(db, "attempts", rid)
    dead = att[att.batch_id.notna()]
    assert len(dead) == 2 and not dead.ok.any() and (dead.cost_usd == 0).all()
    assert set(dead.end_s) == {600.0 + PROVIDER_WINDOW_S}  # sent when the window closed, expired 24 h later
    assert dead.error_message.str.contains("batch batch-lane-1 expired").all()
    back = att[att.batch_id.isna()]
    assert back.target.tolist() == ["rt", "rt"] and back.is_fallback.all() and back.ok.all()
    assert summary["deadline_misses"] == 0 and summary["failed"] == 0


def test_completion_profiles_are_lognormal_through_their_quantiles():
    spec = CompletionSpec(profile="openai")
    assert spec.quantiles == (1800.0, 14400.0)
    assert spec.delay(0.5) == pytest.approx(1800.0) and spec.delay(0.95) == pytest.approx(14400.0)
    assert CompletionSpec(profile="anthropic", p50_s=600).quantiles == (600.0, 3600.0)


def test_a_missed_deadline_is_counted(tmp_path, db):
    # the failover model always times out: the late request is answered by nobody, a deadline miss
    text = scenario().replace("rt: {model: gpt-4o-mini, ", "rt: {model: gpt-4o-mini, timeout_s: 0.001, ")
    rid, summary = run(write(tmp_path, text, traffic=[("s1", 0, "summary", 900)]), db)
    assert summary["deadline_requests"] == 1 and summary["deadline_misses"] == 1 and summary["failed"] == 1


@pytest.mark.parametrize("text, field, line", [
    (scenario(batch="batch:\n  window_s: 600\n  failover: rt\n  margin_s: 100\n  deadlines: {summary: 650}\n"),
     "batch.deadlines.summary", 15),
    (scenario(batch=""), "fleet.lane.tier", 6),
    (scenario(batch="batch: {window_s: 90000, failover: rt}\n"), "batch.window_s", 11),
    (scenario(batch="batch: {failover: lane}\n"), "batch.failover", 11),
])
def test_bad_batch_input_is_one_error_naming_file_line_and_field(tmp_path, text, field, line):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert err.value.field == field and err.value.line == line and err.value.file == str(path)


def test_a_deadline_shorter_than_the_window_stops_the_run_and_writes_nothing(tmp_path):
    text = scenario(batch="batch:\n  window_s: 3600\n  failover: rt\n  deadlines: {summary: 1800}\n")
    path = write(tmp_path, text)
    res = wb("run", str(path), "--db", "t.duckdb", cwd=tmp_path)
    assert res.returncode != 0 and "batch.deadlines.summary" in res.stderr and "s.yaml:14, field" in res.stderr
    assert "shorter than the batch window" in res.stderr
    assert not (tmp_path / "t.duckdb").exists()


def test_the_cache_shim_and_batch_block_load_and_lanes_are_off_without_them(tmp_path, db):
    scn = parse_scenario(scenario() + "cache:\n  prefixes:\n    p: {tokens: 1800, targets: [rt]}\n")
    assert scn.batch is not None and scn.fleet["lane"].tier == "batch"
    plain = scenario(batch="").replace(", tier: batch", "")
    rid, summary = run(write(tmp_path, plain), db)
    att = table(db, "attempts", rid)
    assert att.batch_id.isna().all() and summary["deadline_requests"] == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM requests WHERE deadline_s IS NOT NULL").fetchone() == (0,)


def test_the_demo_pair_compares_with_a_paired_interval_and_misses_no_deadline(tmp_path):
    from conftest import SCENARIOS

    res = wb("compare", str(SCENARIOS / "support-list-price.yaml"), str(SCENARIOS / "support-cached-batch.yaml"),
             "--db", str(tmp_path / "t.duckdb"), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    plain, lane = json.loads(res.stdout)
    assert plain["requests"] == lane["requests"] == 490 and plain["traffic_hash"] == lane["traffic_hash"]
    assert plain["deadline_requests"] == 0 and lane["deadline_requests"] == 120 and lane["deadline_misses"] == 0
    assert lane["by_model"]["small-batch"]["attempts"] == 120 and "small-batch" not in plain["by_model"]
    paired = lane["vs_baseline"]
    assert paired["d_cost_per_1k_lo"] <= paired["d_cost_per_1k_usd"] <= paired["d_cost_per_1k_hi"] < 0
    # the money: the same prompt tokens, cached reads and batch prices instead of list prices (seed 42)
    assert lane["cost_usd"] / plain["cost_usd"] == pytest.approx(0.781, abs=0.001)
    assert plain["cost_breakdown_usd"]["cached_input"] == 0 < lane["cost_breakdown_usd"]["cached_input"]
    assert plain["batch_savings_usd"] == 0 < lane["batch_savings_usd"]
    assert plain["prompt_tokens"] > 490 * 1800  # list price carries the same system prompt, uncached
    with duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True) as con:
        batches = con.execute("SELECT count(DISTINCT batch_id), count(*) FROM attempts WHERE run_id = ? "
                              "AND batch_id IS NOT NULL", [lane["run_id"]]).fetchone()
        cached = con.execute("SELECT run_id, sum(cached_tokens) FROM attempts GROUP BY run_id ORDER BY run_id"
                             ).fetchall()
    assert batches == (16, 120)
    assert dict(cached)[plain["run_id"]] == 0
    assert dict(cached)[lane["run_id"]] == 393 * 1800  # 393 of 494 calls read the warm prefix (seed 42)


def test_a_bad_traffic_deadline_names_the_traffic_line_and_field(tmp_path):
    from workbench.errors import TrafficError
    from workbench.traffic import load_traffic

    path = tmp_path / "t.jsonl"
    path.write_text('{"id": "a", "prompt": "x", "deadline_s": 60}\n{"id": "b", "prompt": "y", "deadline_s": -5}\n')
    with pytest.raises(TrafficError) as err:
        load_traffic(path)
    assert err.value.line == 2 and err.value.field == "deadline_s" and "positive number" in str(err.value)


def test_a_deadline_comes_from_the_traffic_then_the_class_rule_then_the_category_rule_then_the_default():
    from workbench.batch_schema import BatchSpec
    from workbench.replay.batching import deadline_of
    from workbench.traffic import Request

    spec = BatchSpec(failover="rt", deadlines={"overnight": 30_000, "summary": 20_000}, default_deadline_s=50_000)
    assert deadline_of(Request("a", "x", category="summary", metadata={"deadline_s": 9_000}), spec) == 9_000
    assert deadline_of(Request("b", "x", category="summary", metadata={"class": "overnight"}), spec) == 30_000
    assert deadline_of(Request("c", "x", category="summary", metadata={"class": "other"}), spec) == 20_000
    assert deadline_of(Request("d", "x", category="billing"), spec) == 50_000
