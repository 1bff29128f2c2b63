"""Counterfactual replay with provenance (issue 15, item 3): every request says where its quality came from
(logged, recorded, judged, simulated), the shares reach ``run --json``, Compare and the report, and a quality
difference resting on simulated answers is never called significant.

The data is a synthetic production log (tests/synthetic_log.py): every support ticket once, answered by the
simulated model a randomized router drew, labelled ``logged``, with re-asks of ``gpt-4o-mini`` recorded for
some of the prompts it did not answer in production.
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest
from helpers import run, table
from synthetic_log import build_fleet, skewed_logging, uniform_logging, write_logged_dataset

from workbench.analysis import verdict
from workbench.analysis.compare import compare_runs, monthly_projection
from workbench.analysis.provenance import SIMULATED_MAX, rests_on_simulation
from workbench.analysis.report import report_html
from workbench.analysis.summary import run_summary
from workbench.cli import main
from workbench.estimate import run_estimate
from workbench.store.outcomes import OutcomeStore

FLEET = """fleet:
  strong: {model: gpt-4o, provider: recorded, recorded: {on_miss: simulate}}
  small: {model: gpt-4o-mini, provider: recorded, recorded: {on_miss: simulate}}
graders: [{type: recorded_score}]
"""


def _scenario(tmp_path, name: str, target: str, dataset: str, seed: int = 5):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nseed: {seed}\n" + FLEET
                    + f"router: {{policy: static, params: {{target: {target}}}}}\ntraffic: {{dataset: {dataset}}}\n")
    return path


def _reasks(name: str, every: int) -> set[str]:
    """Record a re-ask of gpt-4o-mini (source ``live``, as ``workbench record`` writes it) for every ``every``-th
    prompt gpt-4o-mini did not answer in production; returns their prompt ids."""
    with OutcomeStore(name) as ds:
        m = ds.matrix()
    others = m[m["model"] != "gpt-4o-mini"].reset_index(drop=True)
    picked = others[others.index % every == 0]
    rows = pd.DataFrame({"prompt_key": picked["prompt_key"], "model": "gpt-4o-mini", "response": "re-asked",
                         "prompt_tokens": 100, "completion_tokens": 50, "latency_s": 1.0, "cost_usd": 0.00012,
                         "score": [float(i % 2) for i in range(len(picked))], "source": "live"})
    with OutcomeStore(name, create=True) as ds:
        ds.write(pd.DataFrame(), rows)
    return set(picked["prompt_id"])


def _real(name: str) -> None:
    """A dataset where both models answered every prompt for real: gpt-4o logged (right on 9 of 10),
    gpt-4o-mini re-asked (right on 6 of 10)."""
    with OutcomeStore("tickets") as ds:
        prompts = ds.prompts()
    rows = []
    for i, key in enumerate(prompts["prompt_key"]):
        for model, source, right in (("gpt-4o", "logged", i % 10 != 0), ("gpt-4o-mini", "live", i % 10 < 6)):
            rows.append({"prompt_key": key, "model": model, "response": "answer", "prompt_tokens": 100,
                         "completion_tokens": 50, "latency_s": 1.0, "cost_usd": 0.001 if model == "gpt-4o" else 0.0001,
                         "score": float(right), "source": source})
    OutcomeStore.build(name, prompts, pd.DataFrame(rows), {"source": "tests/test_provenance.py"})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Datasets ``tickets`` (uniform logging router, with re-asks), ``skewed`` (98% strong), ``real``."""
    folder = tmp_path_factory.mktemp("provenance-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_DATA_DIR", str(folder))
        fleet = build_fleet()
        write_logged_dataset(fleet, "tickets", uniform_logging(fleet), seed=11)
        reasked = _reasks("tickets", every=2)
        write_logged_dataset(fleet, "skewed", skewed_logging(fleet), seed=11)
        _real("real")
    return folder, reasked


@pytest.fixture
def env(data, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(data[0]))
    return data


def test_a_design_off_the_logged_model_mixes_logged_recorded_and_simulated_answers(env, tmp_path):
    _, reasked = env
    db = tmp_path / "t.duckdb"
    rid, summary = run(_scenario(tmp_path, "all-small", "small", "tickets"), db)
    with OutcomeStore("tickets") as ds:
        m = ds.matrix()
    logged_small = set(m[(m["model"] == "gpt-4o-mini") & (m["source"] == "logged")]["prompt_id"])
    req = table(db, "requests", rid).set_index("request_id")
    want = pd.Series("simulated", index=req.index)
    want[want.index.isin(logged_small)] = "logged"
    want[want.index.isin(reasked)] = "recorded"
    assert (req["provenance"] == want).all()
    n = len(req)
    assert (n, len(logged_small), len(reasked)) == (370, 153, 109)  # the synthetic log under seed 11
    assert summary["provenance"] == pytest.approx({"logged": 153 / n, "recorded": 109 / n, "simulated": 108 / n})
    # the attempt of a logged answer says so; a re-ask is 'recorded'; the rest simulated
    att = table(db, "attempts", rid).groupby("request_id")["provider"].last()
    assert (att[req.index] == want).all()
    # a logged or recorded answer's score and cost are the dataset's own, exactly
    answers = m[m["model"] == "gpt-4o-mini"].set_index("prompt_id")
    real = req[req["provenance"] != "simulated"]
    assert (real["quality"] == answers.loc[real.index, "score"]).all()
    assert (real["cost_usd"] == answers.loc[real.index, "cost_usd"]).all()


def _compare(db, ids):
    with duckdb.connect(str(db), read_only=True) as con:
        frame = compare_runs(con, ids, n_boot=500)
        first = monthly_projection([run_summary(con, r) for r in ids], requests_per_day=1000, baseline=ids[0])
    said = verdict.verdicts(frame, first[first.month == 1].set_index("run_id").cost_usd.to_dict(), ids[0], 1000)
    return frame.set_index("run_id"), said[0]


def test_compare_refuses_significance_on_simulated_quality_and_says_why(env, tmp_path):
    db = tmp_path / "t.duckdb"
    base, _ = run(_scenario(tmp_path, "all-strong", "strong", "tickets"), db)
    other, _ = run(_scenario(tmp_path, "all-small", "small", "tickets"), db)
    frame, v = _compare(db, [base, other])
    a, b = table(db, "requests", base).set_index("request_id"), table(db, "requests", other).set_index("request_id")
    qa, qb = a["quality"].where(a["status"] == "ok", 0.0), b["quality"].where(b["status"] == "ok", 0.0)
    differ = qa.ne(qb)
    simulated = differ & (a["provenance"].eq("simulated") | b["provenance"].eq("simulated"))
    row = frame.loc[other]
    assert (row.d_quality_differing, row.d_quality_simulated) == (differ.sum(), simulated.sum())
    share = simulated.sum() / differ.sum()
    assert share > SIMULATED_MAX and rests_on_simulation(int(differ.sum()), int(simulated.sum()))
    assert not v.significant and "significant" not in v.sentence
    assert row.d_quality_hi < 0  # a clear gap in the replay (gpt-4o-mini's simulated profile is weaker)...
    assert (f"the quality difference rests on simulated answers for {share:.0%} of the {differ.sum():,} "
            "requests where the designs' quality differs; it is not evidence") in v.sentence  # ...yet no evidence
    # a recorded run that priced simulated tokens for part of its requests says so
    assert "the cost difference rests on simulated token counts" in v.sentence


def test_compare_calls_a_real_quality_difference_significant(env, tmp_path):
    db = tmp_path / "t.duckdb"
    base, _ = run(_scenario(tmp_path, "all-strong", "strong", "real"), db)
    other, summary = run(_scenario(tmp_path, "all-small", "small", "real"), db)
    frame, v = _compare(db, [base, other])
    row = frame.loc[other]
    assert summary["provenance"] == {"recorded": 1.0}
    assert run_summary_provenance(db, base) == {"logged": 1.0}
    assert row.d_quality == pytest.approx(0.6 - 0.9, abs=0.01) and row.d_quality_simulated == 0
    assert row.d_quality_differing == 185  # i % 10 == 0 (only gpt-4o-mini right) and 6..9 (only gpt-4o): half
    assert v.significant and "the drop is significant" in v.sentence and "not evidence" not in v.sentence


def run_summary_provenance(db, rid):
    with duckdb.connect(str(db), read_only=True) as con:
        return run_summary(con, rid)["provenance"]


def test_compare_json_carries_the_shares_and_the_flag(env, tmp_path, capsys):
    a, b = _scenario(tmp_path, "all-strong", "strong", "tickets"), _scenario(tmp_path, "all-small", "small", "tickets")
    assert main(["compare", str(a), str(b), "--db", str(tmp_path / "t.duckdb"), "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[1]["provenance"] == pytest.approx({"logged": 153 / 370, "recorded": 109 / 370, "simulated": 108 / 370})
    assert set(out[0]["provenance"]) == {"logged", "simulated"}
    assert out[1]["vs_baseline"]["quality_rests_on_simulation"] is True
    assert main(["compare", str(a), str(b), "--db", str(tmp_path / "t2.duckdb"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    [row] = [line for line in text.splitlines() if line.startswith("quality from")]
    assert "logged 41% recorded 29% simulated 29%" in row  # all-small's column
    assert ("all-small: Δ quality is not evidence: more than 5% of the requests where it differs have simulated "
            "quality") in text


def _report(db, ids, **kw) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        return report_html(con, ids, offpolicy=run_estimate, **kw)


def test_the_report_tables_provenance_and_the_off_policy_estimate(env, tmp_path):
    db = tmp_path / "t.duckdb"
    base, _ = run(_scenario(tmp_path, "all-strong", "strong", "tickets"), db)
    other, _ = run(_scenario(tmp_path, "all-small", "small", "tickets"), db)
    page = _report(db, [base, other])
    assert "Where each design's quality came from" in page
    assert f"<tr data-run='{other}'><td>all-small</td>" in page and "data-provenance='recorded'" in page
    assert "Off-policy estimate from the log" in page and "doubly robust" in page
    assert "effective requests: do not trust these" not in page  # uniform logging: enough overlap


def test_the_report_warns_when_overlap_is_poor(env, tmp_path):
    db = tmp_path / "t.duckdb"
    rid, _ = run(_scenario(tmp_path, "all-small", "small", "skewed"), db)
    page = _report(db, [rid])
    est = run_estimate(_scenario(tmp_path, "all-small", "small", "skewed").read_text(), "skewed", 5)
    assert est is not None and not est["trusted"]
    assert f"Only {est['ess']:,.0f} effective requests: do not trust these estimates" in page


def test_no_off_policy_section_without_propensities(env, tmp_path):
    db = tmp_path / "t.duckdb"
    rid, _ = run(_scenario(tmp_path, "all-small", "small", "real"), db)
    assert "Off-policy estimate" not in _report(db, [rid])



@pytest.fixture
def passing_judge():
    """A judge model on loopback HTTP (an OpenAI-compatible chat endpoint, made for this test) that passes
    every answer: a real call through litellm, whose verdict is not simulated."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Judge(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802  (the http.server name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            out = json.dumps({"id": "j", "object": "chat.completion", "created": 0, "model": body["model"],
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": "PASS"}}],
                              "usage": {"prompt_tokens": 60, "completion_tokens": 1, "total_tokens": 61}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()
    thread.join()


JUDGED = """name: judged-log
seed: 5
fleet:
  small: {{model: gpt-4o-mini, provider: recorded}}
  judge: {judge}
router: {{policy: static, params: {{target: small}}}}
graders: [{{type: recorded_score}}, {{type: llm_judge, params: {{model: judge}}}}]
traffic: {{dataset: real, sample: 20, arrival: {{process: poisson, rate_per_s: 50}}}}
"""


def test_a_recorded_answer_judged_by_a_real_judge_is_judged_by_a_simulated_one_simulated(env, tmp_path,
                                                                                          passing_judge):
    live = tmp_path / "live.yaml"
    live.write_text(JUDGED.format(
        judge=f"{{model: openai/gpt-4o, provider: live, api_base: {passing_judge}, timeout_s: 10}}"))
    rid, summary = run(live, tmp_path / "t.duckdb")
    att = table(tmp_path / "t.duckdb", "attempts", rid)
    answers, judges = att[att.purpose == "answer"], att[att.purpose == "judge"]
    assert set(answers.provider) == {"recorded"} and set(judges.provider) == {"live"}
    assert len(judges) == 20 and (judges.score == 1.0).all()  # the judge spoke on every answer
    assert summary["provenance"] == {"judged": 1.0}
    sim = tmp_path / "sim.yaml"
    sim.write_text(JUDGED.format(judge="{model: gpt-4o, sim: {error_rates: {}}}"))
    rid, summary = run(sim, tmp_path / "t.duckdb")
    assert summary["provenance"] == {"simulated": 1.0}  # a simulated verdict is no evidence, whatever it judged
