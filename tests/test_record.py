"""Record once over real HTTP (litellm -> sim-server on loopback), then re-route offline from the matrix."""

from __future__ import annotations

import json

import pytest
from conftest import SCENARIOS
from helpers import fake_key, run, table, wb

from workbench.errors import ScenarioError
from workbench.recording import record
from workbench.scenario import parse_scenario
from workbench.simserver import running_server
from workbench.store import TraceStore
from workbench.store.outcomes import OutcomeStore, list_datasets

TRAFFIC = SCENARIOS / "traffic" / "support_tickets.jsonl"
SERVER = parse_scenario("""name: server
fleet:
  large: {model: gpt-4o, sim: {error_rates: {}}}
  small: {model: gpt-4o-mini, sim: {error_rates: {}}}
router: {policy: static, params: {target: large}}
traffic: {source: none.jsonl}
""")
LIVE = f"""name: live-pair
seed: 11
concurrency: 8
fleet:
  large: {{model: openai/gpt-4o, provider: live, api_base: URL, timeout_s: 10, api_key_env: REC_KEY}}
  small: {{model: openai/gpt-4o-mini, provider: live, api_base: URL, timeout_s: 10, api_key_env: REC_KEY}}
router: {{policy: weighted, params: {{weights: {{large: 0.5, small: 0.5}}}}}}
graders: [{{type: exact}}]
traffic: {{source: {TRAFFIC}, sample: 30, arrival: {{process: poisson, rate_per_s: 40}}}}
"""
REPLAY = """name: offline-REPLAYED
seed: 11
fleet:
  large: {model: openai/gpt-4o, provider: recorded}
  small: {model: openai/gpt-4o-mini, provider: recorded}
router: {policy: static, params: {target: TARGET}}
graders: [{type: exact}]
traffic: {dataset: support-live, arrival: {process: poisson, rate_per_s: 40}}
"""
KEY = fake_key()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REC_KEY", KEY)
    return tmp_path / "data"


def test_record_all_models_then_replay_each_offline_exactly(tmp_path, data_dir):
    with running_server(SERVER, speed=100) as url:
        path = tmp_path / "live.yaml"
        path.write_text(LIVE.replace("URL", url))
        with TraceStore(tmp_path / "t.duckdb") as store:
            rec = record(path, store, dataset="support-live", all_models=True)
    assert rec.prompts == 30 and rec.answers == {"openai/gpt-4o": 30, "openai/gpt-4o-mini": 30}
    assert rec.failed_requests == 0 and len(rec.run_ids) == 2
    [info] = list_datasets()
    assert info["name"] == "support-live" and info["prompts"] == 30
    with OutcomeStore("support-live") as ds:
        assert set(ds.matrix().source) == {"live"}
    # replaying each model from the matrix reproduces the live run's cost, tokens and quality exactly
    live = {}
    for rid in rec.run_ids:
        req = table(tmp_path / "t.duckdb", "requests", rid)
        live[rid.split("-record-")[1].split("-")[0]] = req
    for target in ("large", "small"):
        p = tmp_path / f"{target}.yaml"
        p.write_text(REPLAY.replace("TARGET", target).replace("REPLAYED", target))
        rid, s = run(p, tmp_path / "t.duckdb")
        assert s["mode"] == "recorded" and s["requests"] == 30
        got = table(tmp_path / "t.duckdb", "requests", rid).set_index("request_id").sort_index()
        want = live[target].set_index("request_id").sort_index()
        assert got.response.tolist() == want.response.tolist()
        assert got.cost_usd.sum() == pytest.approx(want.cost_usd.sum(), rel=1e-12)
        assert got.prompt_tokens.tolist() == want.prompt_tokens.tolist()
        assert got.quality.tolist() == want.quality.tolist()
        # latencies are the recorded wall-clock ones, not invented
        att = table(tmp_path / "t.duckdb", "attempts", rid)
        assert (att.end_s - att.start_s).min() > 0
    # the key was used for every call but is in no file the workbench wrote
    for f in (data_dir / "datasets").iterdir():
        assert KEY.encode() not in f.read_bytes()


def test_record_refuses_simulated_fleets_unless_asked(tmp_path, data_dir):
    with TraceStore(tmp_path / "t.duckdb") as store:
        with pytest.raises(ScenarioError) as err:
            record(SCENARIOS / "support-tiered.yaml", store, requests=10)
        assert "fleet.small.provider" in str(err.value) and "--allow-simulated" in str(err.value)
        assert store.runs().empty  # nothing was run
        rec = record(SCENARIOS / "support-tiered.yaml", store, requests=20, allow_simulated=True,
                     dataset="sim-answers")
    with OutcomeStore("sim-answers") as ds:
        assert set(ds.matrix().source) == {"simulated"}  # labelled as what it is
    assert sum(rec.answers.values()) >= 20


def test_record_command_prints_what_it_stored(tmp_path, data_dir):
    db = tmp_path / "t.duckdb"
    p = wb("record", str(SCENARIOS / "support-tiered.yaml"), "--all-models", "--allow-simulated", "--requests", "15",
           "--dataset", "cli-rec", "--db", str(db), "--json", "--no-progress", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["dataset"] == "cli-rec" and out["prompts"] == 15 and len(out["runs"]) == 2
    assert set(out["answers"]) == {"gpt-4o", "gpt-4o-mini"}
