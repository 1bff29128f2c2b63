"""The live path for real: litellm over loopback HTTP to the sim-server, through the replay engine."""

from __future__ import annotations

import json
import os

import duckdb
import pytest
from conftest import ROOT, SCENARIOS
from helpers import fake_key, run, table, wb

from workbench.analysis.prompts import export_with_prompts
from workbench.scenario import parse_scenario
from workbench.simserver import running_server
from workbench.store import TraceStore

TRAFFIC = SCENARIOS / "traffic" / "support_tickets.jsonl"
SERVER = """name: server
fleet:
  large: {model: gpt-4o, SIM_LARGE}
  small: {model: gpt-4o-mini, SIM_SMALL}
router: {policy: static, params: {target: large}}
traffic: {source: none.jsonl}
"""
CLIENT = f"""name: live
seed: 3
concurrency: 8
fleet:
  large: {{model: openai/gpt-4o, provider: live, api_base: URL, timeout_s: 10}}
  small: {{model: openai/gpt-4o-mini, provider: live, api_base: URL, timeout_s: 10}}
router: {{policy: static, params: {{target: TARGET}}}}
retries: {{max_retries: 3, backoff_s: 0.05, jitter: 0}}
traffic: {{source: {TRAFFIC}, sample: 24, arrival: {{process: poisson, rate_per_s: 30}}}}
"""


def server(large: str = "sim: {error_rates: {}}", small: str = "sim: {error_rates: {}}"):
    return parse_scenario(SERVER.replace("SIM_LARGE", large).replace("SIM_SMALL", small))


def client(tmp_path, url: str, target: str = "large", extra: str = "") -> str:
    path = tmp_path / "live.yaml"
    path.write_text(CLIENT.replace("URL", url).replace("TARGET", target) + extra)
    return path


def test_outage_raises_real_errors_and_the_fallback_takes_over(tmp_path):
    down = "sim: {error_rates: {}, outages: [{start_s: 0, end_s: 1000000}]}"
    with running_server(server(large=down), speed=50) as url:
        path = client(tmp_path, url, extra="fallbacks: {large: [{to: small, errors: [server_error]}]}\n")
        rid, s = run(path, tmp_path / "t.duckdb")
    att = table(tmp_path / "t.duckdb", "attempts", rid)
    assert s["mode"] == "live" and s["failed"] == 0 and s["requests"] == 24
    large = att[att.target == "large"]
    assert len(large) == 24 * 4 and (large.error_kind == "server_error").all()  # 1 + 3 retries each
    small = att[att.target == "small"]
    assert small.ok.all() and (small.prompt_tokens > 0).all() and (small.cost_usd > 0).all()
    assert s["fallback_rate"] == 1.0 and (att.provider == "live").all()


def test_429_retry_after_is_honoured(tmp_path):
    with running_server(server(small="limits: {rpm: 4}, sim: {error_rates: {}}"), speed=30) as url:
        rid, s = run(client(tmp_path, url, "small"), tmp_path / "t.duckdb", requests=10)
    att = table(tmp_path / "t.duckdb", "attempts", rid)
    limited = att[att.error_kind == "rate_limit"]
    assert len(limited) >= 3 and (limited.retry_after_s >= 1).all()
    nxt = att.groupby("request_id").shift(-1).loc[limited.index].dropna(subset=["start_s"])
    assert (nxt.start_s >= limited.loc[nxt.index].end_s + limited.loc[nxt.index].retry_after_s - 0.05).all()
    assert s["completed"] >= 4


def test_no_key_reaches_the_database_report_or_output(tmp_path):
    env_key, file_key = fake_key(), fake_key()
    with running_server(server(), speed=50) as url:
        path = tmp_path / "secret.yaml"
        text = (CLIENT.replace("URL", url).replace("TARGET", "large")
                .replace("timeout_s: 10}\n  small", "timeout_s: 10, api_key_env: SECRET_KEY}\n  small")
                .replace("openai/gpt-4o-mini, provider: live, api_base: " + url,
                         f"openai/gpt-4o-mini, provider: live, api_base: {url}, api_key: {file_key}"))
        assert "api_key_env: SECRET_KEY" in text and file_key in text
        text = text.replace("router: {policy: static, params: {target: large}}",
                            "router: {policy: weighted, params: {weights: {large: 1, small: 1}}}")
        path.write_text(text)
        db = tmp_path / "t.duckdb"
        os.environ["SECRET_KEY"] = env_key
        try:
            res = wb("compare", str(path), str(path), "--db", str(db), "--json", "--report",
                     str(tmp_path / "r.html"), cwd=tmp_path)
        finally:
            del os.environ["SECRET_KEY"]
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["mode"] == "live"
    outputs = [res.stdout, res.stderr, (tmp_path / "r.html").read_text(), db.read_bytes().decode("latin-1")]
    wal = db.with_suffix(".duckdb.wal")
    if wal.exists():
        outputs.append(wal.read_bytes().decode("latin-1"))
    for text in outputs:
        assert env_key not in text and file_key not in text
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("SELECT scenario_yaml FROM runs").fetchall()
    assert all("'**********'" in y for (y,) in stored)
    exported = []  # nor an export (with its prompt texts): CSV and Parquet of both runs, files and values read back
    with TraceStore(db) as store:
        for rid in (r["run_id"] for r in json.loads(res.stdout)):
            for fmt in ("csv", "parquet"):
                exported += export_with_prompts(store, rid, tmp_path / "export", fmt).values()
    assert len(exported) == 8
    with duckdb.connect() as con:
        for f in exported:
            reader = "read_csv" if f.suffix == ".csv" else "read_parquet"
            values = con.execute(f"SELECT * FROM {reader}(?)", [str(f)]).fetchall()
            assert values and "live" in {row[0] for row in values}  # mode, the first column
            for text in (f.read_bytes().decode("latin-1"), repr(values)):
                assert env_key not in text and file_key not in text


def test_live_sim_scenario_points_at_the_sim_server():
    scn = parse_scenario((SCENARIOS / "live-sim.yaml").read_text(), source=SCENARIOS / "live-sim.yaml")
    assert scn.mode == "live" and all("WORKBENCH_SIM_URL" in m.api_base for m in scn.fleet.values())
    assert (ROOT / "scenarios" / "traffic" / "support_tickets.jsonl").exists()


@pytest.mark.parametrize("args,message", [(["--speed", "0"], "--speed must be positive")])
def test_sim_server_cli_errors(tmp_path, args, message):
    res = wb("sim-server", *args, cwd=tmp_path)
    assert res.returncode == 2 and message in res.stderr


def test_live_usage_reasoning_tokens_and_tier_are_stored_and_priced(tmp_path):
    from workbench.pricing import Pricer

    reasoning = SERVER.replace("large: {model: gpt-4o, SIM_LARGE}", "large: {model: gpt-5, reasoning_effort: low, "
                               "sim: {error_rates: {}}}").replace("SIM_SMALL", "sim: {error_rates: {}}")
    with running_server(parse_scenario(reasoning), speed=50) as url:
        path = client(tmp_path, url)
        path.write_text(path.read_text().replace("model: openai/gpt-4o, provider: live",
                                                 "model: openai/gpt-5, tier: flex, reasoning_effort: low, "
                                                 "provider: live"))
        rid, s = run(path, tmp_path / "t.duckdb")
    att = table(tmp_path / "t.duckdb", "attempts", rid)
    assert s["failed"] == 0 and att.ok.all() and (att.tier == "flex").all()
    assert (att.reasoning_tokens > 0).all() and (att.reasoning_tokens < att.completion_tokens).all()
    flex = Pricer("gpt-5", "flex")
    for a in att.itertuples():  # litellm's flex price of the usage the server sent, parts stored
        cost = flex(a.prompt_tokens, a.completion_tokens, 0, 0, a.reasoning_tokens)
        assert (a.cost_usd, a.cost_reasoning_usd, a.standard_cost_usd) == (cost.total, cost.reasoning, cost.standard)
        assert a.standard_cost_usd == pytest.approx(2 * a.cost_usd)  # gpt-5's flex tier is half price
