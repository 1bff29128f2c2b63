"""A live batch lane end to end: litellm's Files and Batches API over loopback HTTP to the sim-server."""

from __future__ import annotations

import gc
import json

import httpx
import pytest
from helpers import run, table

from workbench.scenario import parse_scenario
from workbench.simserver import running_server

# litellm builds an OpenAI client for every Files and Batches call and never closes it (for provider
# openai, litellm/files/main.py does not pass a given client on), so a live batch leaves a few loopback
# sockets to the garbage collector. Collect them at the end of each test here, where their
# ResourceWarnings are expected and ignored, not in whichever later test the collector happens to run.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(autouse=True)
def _collect_litellms_clients():
    yield
    gc.collect()


SERVER = parse_scenario("""name: server
fleet:
  small: {model: gpt-4o-mini, sim: {error_rates: {}}}
router: {policy: static, params: {target: small}}
traffic: {source: none.jsonl}
""")
CLIENT = """name: live-batch
seed: 3
concurrency: 2
fleet:
  rt: {model: openai/gpt-4o-mini, provider: live, api_base: URL, timeout_s: 10}
  lane: {model: openai/gpt-4o-mini, provider: live, api_base: URL, timeout_s: 10, tier: batch}
router:
  policy: rules
  params: {rules: [{to: lane, category: [summary]}], default: rt}
batch: {window_s: 0.3, max_size: 4, poll_s: 0.05, margin_s: 1, failover: rt}
traffic: {source: traffic.jsonl, arrival: {process: recorded, field: arrived_at}}
"""


def setup(tmp_path, url: str):
    rows = [{"id": f"s{i}", "prompt": f"summarise ticket {i}", "category": "summary", "arrived_at": i * 0.01}
            for i in range(4)]
    rows += [{"id": "t1", "prompt": "my invoice is wrong", "category": "billing", "arrived_at": 0.02}]
    (tmp_path / "traffic.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "live.yaml"
    path.write_text(CLIENT.replace("URL", url))
    return path


def test_a_live_batch_round_trip_through_litellm(tmp_path):
    with running_server(SERVER, speed=50) as url:
        assert httpx.post(url.removesuffix("/v1") + "/admin/batches", json={"polls": 3}).json()["polls"] == 3
        rid, s = run(setup(tmp_path, url), tmp_path / "t.duckdb")
        att = table(tmp_path / "t.duckdb", "attempts", rid)
        lane = att[att.batch_id.notna()]
        assert len(lane) == 4 and lane.ok.all() and (lane.target == "lane").all() and (lane.provider == "live").all()
        assert lane.batch_id.nunique() == 1 and (lane.prompt_tokens > 0).all() and (lane.cost_usd > 0).all()
        batch = httpx.get(f"{url}/batches/{lane.batch_id.iloc[0]}").json()  # the server's own record of it
        assert batch["status"] == "completed" and batch["request_counts"] == {"total": 4, "completed": 4, "failed": 0}
        assert batch["output_file_id"] and batch["error_file_id"] is None and batch["completion_window"] == "24h"
    assert s["completed"] == 5 and s["failed"] == 0 and s["deadline_requests"] == 4 and s["deadline_misses"] == 0
    assert att[att.request_id == "t1"].batch_id.isna().all() and len(att) == 5  # the ticket ran in real time


def test_an_expired_live_batch_fails_its_requests_over(tmp_path):
    with running_server(SERVER, speed=50) as url:
        httpx.post(url.removesuffix("/v1") + "/admin/batches", json={"polls": 2, "expire": True})
        rid, s = run(setup(tmp_path, url), tmp_path / "t.duckdb")
    att = table(tmp_path / "t.duckdb", "attempts", rid)
    lane = att[att.batch_id.notna()]
    assert len(lane) == 4 and not lane.ok.any() and (lane.error_kind == "timeout").all()
    assert lane.error_message.str.contains("expired").all() and (lane.cost_usd == 0).all()
    back = att[(att.batch_id.isna()) & (att.request_id != "t1")]
    assert len(back) == 4 and back.ok.all() and back.is_fallback.all() and (back.target == "rt").all()
    assert s["failed"] == 0 and s["deadline_misses"] == 0 and s["fallback_rate"] == 4 / 5


def _line(cid: str, model: str) -> str:
    return json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": model, "messages": [{"role": "user", "content": f"hello {cid}"}]}}) + "\n"


def test_the_sim_server_speaks_openais_files_and_batches_schema():
    with running_server(SERVER) as url, httpx.Client(base_url=url) as c:
        bad = c.post("/files", files={"file": ("b.jsonl", b"{}\n")}, data={"purpose": "fine-tune"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "purpose"
        data = (_line("a", "gpt-4o-mini") + _line("b", "no-such-model")).encode()
        f = c.post("/files", files={"file": ("b.jsonl", data)}, data={"purpose": "batch"}).json()
        assert f["object"] == "file" and f["purpose"] == "batch" and f["bytes"] == len(data)
        assert c.get(f"/files/{f['id']}/content").content == data
        create = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        assert c.post("/batches", json={**create, "completion_window": "1h"}).status_code == 400
        b = c.post("/batches", json=create).json()
        assert b["object"] == "batch" and b["status"] == "in_progress" and b["expires_at"] - b["created_at"] == 86400
        assert b["request_counts"] == {"total": 2, "completed": 0, "failed": 0} and b["output_file_id"] is None
        done = c.get(f"/batches/{b['id']}").json()  # done on the first poll by default
        assert done["status"] == "completed" and done["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
        out = [json.loads(x) for x in c.get(f"/files/{done['output_file_id']}/content").text.splitlines()]
        assert [o["custom_id"] for o in out] == ["a"] and out[0]["error"] is None
        assert out[0]["response"]["status_code"] == 200 and out[0]["response"]["body"]["usage"]["prompt_tokens"] > 0
        err = [json.loads(x) for x in c.get(f"/files/{done['error_file_id']}/content").text.splitlines()]
        assert [e["custom_id"] for e in err] == ["b"] and err[0]["error"]["code"] == "model_not_found"
        c.post(url.removesuffix("/v1") + "/admin/batches", json={"polls": 5})
        late = c.post("/batches", json=create).json()
        assert c.get(f"/batches/{late['id']}").json()["status"] == "in_progress"  # 1 poll of 5
        assert c.post(f"/batches/{late['id']}/cancel").json()["status"] == "cancelled"
        assert c.get(f"/batches/{late['id']}").json()["status"] == "cancelled"
        assert c.get("/batches/batch-none").status_code == 404 and c.get("/files/file-none/content").status_code == 404
