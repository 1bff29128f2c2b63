"""Log imports (issue 15): each format's fixture (written for this project from the tool's documented
schema, tests/fixtures/logs) imported end to end; a replay of "always the logged model" over it gives
back the logged cost and scores exactly; bad input fails with one error naming file, line and field and
writes nothing."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import duckdb
import pytest
from helpers import run, table

from workbench.datasets.logs import import_log
from workbench.errors import InputError
from workbench.store.outcomes import OutcomeStore, dataset_path
from workbench.traffic import load_dataset_traffic

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "logs"
TABLE_MAP = {"ts": "arrived_at", "ticket": "id", "question": "prompt", "llm": "model", "answer": "response",
             "in_tok": "prompt_tokens", "out_tok": "completion_tokens", "usd": "cost_usd", "secs": "latency_s",
             "thumbs": "score"}
CASES = {  # format: (files, mapping, records read, prompts, answers, skipped)
    "openai": (["openai.jsonl"], None, 5, 4, 4, {}),
    "openai-batch": (["batch_output.jsonl", "batch_input.jsonl"], None, 4, 3, 3, {"failed call (error)": 1}),
    "litellm": (["litellm_spendlogs.jsonl"], None, 6, 4, 4,
                {"failed call (status)": 1, "no messages stored (store_prompts_in_spend_logs off)": 1}),
    "langfuse": (["langfuse_export.jsonl"], None, 8, 4, 4, {"not a generation (span or event)": 4}),
    "otel": (["otel_spans.jsonl"], None, 8, 4, 4, {"not a GenAI span": 4}),
    "table": (["custom_log.csv"], TABLE_MAP, 4, 4, 4, {}),
}
SCENARIO = """name: logged-{fmt}
seed: 3
concurrency: 4
fleet:
  large: {{model: gpt-4o, provider: recorded, recorded: {{on_miss: simulate}}}}
  small: {{model: gpt-4o-mini, provider: recorded, recorded: {{on_miss: simulate}}}}
router:
  policy: rules
  params: {{default: small, rules: [{{metadata: {{logged_model: gpt-4o}}, to: large}}]}}
graders: [{{type: recorded_score}}]
traffic: {{dataset: {name}, arrival: {{process: recorded}}}}
"""


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _import(fmt: str, name: str | None = None):
    files, mapping, *_ = CASES[fmt]
    return import_log(fmt, [FIX / f for f in files], name or f"log-{fmt}", mapping=mapping)


@pytest.mark.parametrize("fmt", list(CASES))
def test_each_format_imports_and_replays_the_logged_model_exactly(fmt, tmp_path):
    before = {f: (FIX / f).read_bytes() for f in CASES[fmt][0]}
    report = _import(fmt)
    _, _, read, prompts, answers, skipped = CASES[fmt]
    assert (report.read, report.prompts, report.outcomes, report.skipped) == (read, prompts, answers, skipped)
    assert {f: (FIX / f).read_bytes() for f in before} == before  # the log is only read
    with OutcomeStore(f"log-{fmt}") as ds:
        logged = ds.con.execute(
            "SELECT p.prompt_id, o.model, o.cost_usd, o.score, o.source, o.propensity, o.latency_s, p.arrived_at "
            "FROM outcomes o JOIN prompts p USING (prompt_key) ORDER BY p.seq").fetchall()
        assert ds.meta()["format"] == f"log:{fmt}"
    assert {r[4] for r in logged} == {"logged"} and all(r[7] is not None for r in logged)
    traffic = load_dataset_traffic(f"log-{fmt}")
    assert [r.metadata["logged_model"] for r in traffic.requests] == [r[1] for r in logged]
    assert all(r.arrived_at is not None for r in traffic.requests)

    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.format(fmt=fmt, name=f"log-{fmt}"))
    rid, summary = run(scenario, tmp_path / "t.duckdb")
    got = table(tmp_path / "t.duckdb", "requests", rid).set_index("request_id")
    # each prompt was logged for one model: the fleet's other model lacks it (on_miss: simulate), but the
    # rules send every request to its logged model, so no answer is simulated
    assert set(table(tmp_path / "t.duckdb", "attempts", rid)["provider"]) == {"logged"}
    for pid, model, cost, score, *_ in logged:
        row = got.loc[pid]
        assert row.final_target == ("large" if model == "gpt-4o" else "small")
        assert row.cost_usd == cost  # exactly the logged (or import-priced) cost, not re-priced
        assert (score is None and math.isnan(row.quality)) or row.quality == score
    assert summary["cost_usd"] == pytest.approx(math.fsum(r[2] for r in logged), rel=1e-12, abs=0)


def test_fields_read_per_format():
    _import("litellm")
    with OutcomeStore("log-litellm") as ds:
        row = ds.con.execute("SELECT o.prompt_tokens, o.completion_tokens, o.cost_usd, o.latency_s, o.score, "
                             "o.propensity, o.feedback, p.metadata, p.category, p.arrived_at FROM outcomes o JOIN "
                             "prompts p USING (prompt_key) WHERE p.prompt_id = 'chatcmpl-l1'").fetchone()
    meta = json.loads(row[7])
    assert row[:6] == (39, 12, 0.00231, pytest.approx(0.85), 0.0, 0.5) and json.loads(row[6]) == {"score": 0}
    assert (meta["user"], meta["session"], meta["tags"], meta["model_group"]) == (
        "customer-1", "sess-0", ["prod", "support"], "support-large")
    assert meta["ttft_s"] == pytest.approx(0.3) and row[8] == "billing" and row[9] == 1764583201.0

    _import("langfuse")
    with OutcomeStore("log-langfuse") as ds:
        scores = ds.con.execute("SELECT p.prompt_id, o.score, o.cost_usd, o.prompt_tokens FROM outcomes o "
                                "JOIN prompts p USING (prompt_key) ORDER BY p.seq").fetchall()
    assert scores == [("gen-0", 1.0, 0.00009, 31), ("gen-1", 0.0, 0.0021, 32), ("gen-2", 1.0, 0.00011, 33),
                      ("gen-3", 0.5, 0.0019, 34)]

    _import("otel")
    req = load_dataset_traffic("log-otel").requests[1]  # content captured on an event
    assert req.messages is not None and req.messages[0]["role"] == "system"
    assert req.prompt == "Why was I charged twice this month?" and req.metadata["session"] == "conv-0"


def test_openai_prices_what_it_did_not_log_and_keeps_the_propensity():
    report = _import("openai")
    assert report.repeats == 1 and report.costs_priced == 5
    with OutcomeStore("log-openai") as ds:
        rows = ds.con.execute("SELECT o.model, o.prompt_tokens, o.completion_tokens, o.cost_usd, o.propensity "
                              "FROM outcomes o JOIN prompts p USING (prompt_key) ORDER BY p.seq").fetchall()
        prices = ds.meta()["prices"]
    model, ptok, ctok, cost, propensity = rows[0]
    p = prices[model]
    assert (model, ptok, ctok, propensity) == ("gpt-4o-mini", 30, 12, 0.75)
    assert cost == pytest.approx((ptok * p["input_per_mtok"] + ctok * p["output_per_mtok"]) / 1e6, rel=1e-9)


def _nothing_written(data_dir: Path) -> bool:
    folder = data_dir / "datasets"
    return not folder.exists() or not any(folder.iterdir())


def test_truncated_json_line_names_file_and_line(tmp_path, data_dir):
    lines = (FIX / "openai.jsonl").read_text().splitlines()
    bad = tmp_path / "cut.jsonl"
    bad.write_text("\n".join(lines[:2] + [lines[2][:57]] + lines[3:]) + "\n")
    with pytest.raises(InputError) as err:
        import_log("openai", [bad], "cut")
    assert (err.value.file, err.value.line) == (str(bad), 3) and "invalid JSON" in str(err.value)
    assert _nothing_written(data_dir)


def test_span_without_a_model_names_line_and_attribute(tmp_path, data_dir):
    lines = (FIX / "otel_spans.jsonl").read_text().splitlines()
    rec = json.loads(lines[2])
    span = rec["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"] = [a for a in span["attributes"] if not a["key"].endswith(".model")]
    bad = tmp_path / "spans.jsonl"
    bad.write_text("\n".join(lines[:2] + [json.dumps(rec)] + lines[3:]) + "\n")
    with pytest.raises(InputError) as err:
        import_log("otel", [bad], "spans")
    assert (err.value.file, err.value.line, err.value.field) == (str(bad), 3, "gen_ai.request.model")
    assert "span 0000000000000003" in str(err.value)
    assert _nothing_written(data_dir)


def test_csv_mapping_to_a_missing_column(data_dir):
    with pytest.raises(InputError) as err:
        import_log("table", [FIX / "custom_log.csv"], "t", mapping={**TABLE_MAP, "query_text": "prompt"})
    assert (err.value.line, err.value.field) == (1, "query_text") and "custom_log.csv" in str(err.value)
    assert _nothing_written(data_dir)


def test_unknown_format_and_a_bad_row_late_in_the_file(tmp_path, data_dir):
    with pytest.raises(InputError) as err:
        import_log("splunk", [FIX / "custom_log.csv"], "t")
    assert err.value.field == "FORMAT" and "openai-batch" in str(err.value)
    rows = list(csv.reader((FIX / "custom_log.csv").read_text().splitlines()))
    rows[3][7] = "-1"
    bad = tmp_path / "late.csv"
    with bad.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(InputError) as err:
        import_log("table", [bad], "late", mapping=TABLE_MAP)
    assert (err.value.line, err.value.field) == (4, "usd")
    assert _nothing_written(data_dir) and not dataset_path("late").exists()


def test_a_failed_import_keeps_the_older_dataset(data_dir, tmp_path):
    _import("litellm", "keep")
    before = dataset_path("keep").read_bytes()
    bad = tmp_path / "bad.jsonl"
    bad.write_text((FIX / "litellm_spendlogs.jsonl").read_text() + '{"request_id": "x", "messages": [{"role"\n')
    with pytest.raises(InputError):
        import_log("litellm", [bad], "keep")
    assert dataset_path("keep").read_bytes() == before
    assert sorted(p.name for p in (data_dir / "datasets").iterdir()) == ["keep.duckdb"]


def test_litellm_csv_and_parquet_exports_read_the_same(tmp_path):
    rows = [json.loads(x) for x in (FIX / "litellm_spendlogs.jsonl").read_text().splitlines()]
    cols = list(rows[0])
    csv_path = tmp_path / "spend.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([json.dumps(r[c]) if isinstance(r[c], (dict, list)) else ("" if r[c] is None else r[c])
                        for c in cols])
    pq = tmp_path / "spend.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM read_csv(?, all_varchar=true)) TO '{pq}' (FORMAT parquet)", [str(csv_path)])
    a, b, c = (import_log("litellm", [p], n) for p, n in ((FIX / "litellm_spendlogs.jsonl", "j"), (csv_path, "c"),
                                                         (pq, "p")))
    assert (a.prompts, a.outcomes, a.skipped) == (b.prompts, b.outcomes, b.skipped) == (c.prompts, c.outcomes,
                                                                                         c.skipped)
    matrices = []
    for n in "jcp":
        with OutcomeStore(n) as ds:
            m = ds.matrix()
            matrices.append(m[["prompt_id", "model", "cost_usd", "prompt_tokens", "latency_s"]].values.tolist())
    assert matrices[0] == matrices[1] == matrices[2]


def test_one_request_id_for_two_prompts_is_an_error(tmp_path, data_dir):
    rows = list(csv.reader((FIX / "custom_log.csv").read_text().splitlines()))
    rows[3][1] = rows[1][1]  # the third ticket reuses the first one's id, with another question
    bad = tmp_path / "ids.csv"
    with bad.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(InputError) as err:
        import_log("table", [bad], "ids", mapping=TABLE_MAP)
    assert (err.value.file, err.value.line, err.value.field) == (str(bad), 4, "id")
    assert "'T-100' already names a different prompt (line 2)" in str(err.value)
    assert _nothing_written(data_dir)


def test_datasets_info_of_a_log_without_scores():
    from workbench.datasets import describe, format_info

    _import("openai")
    d = describe("log-openai")
    assert [(m["model"], m["answers"], m["scored"], m["quality"]) for m in d["models"]] == [
        ("gpt-4o", 2, 0, None), ("gpt-4o-mini", 2, 0, None)]
    assert "logged: openai log" in format_info(d)
    _import("langfuse")
    assert [m["quality"] for m in describe("log-langfuse")["models"]] == [0.25, 1.0]


def test_the_command_prints_the_report_or_one_error_line(tmp_path, capsys, data_dir):
    from workbench.cli import main

    rc = main(["traffic", "import", "litellm", str(FIX / "litellm_spendlogs.jsonl"), "--out", "cli", "--no-progress"])
    out = capsys.readouterr()
    assert rc == 0 and out.out.startswith("cli: 6 records read from 1 file(s) (litellm), 4 prompts (traffic), 4 logged")
    assert "skipped 1: failed call (status)" in out.out
    bad = tmp_path / "cut.jsonl"
    bad.write_text((FIX / "otel_spans.jsonl").read_text()[:-30] + "\n")
    rc = main(["traffic", "import", "otel", str(bad), "--out", "cut"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and err.startswith(f"error: {bad}:4: invalid JSON")
    assert not dataset_path("cut").exists()


def test_a_dataset_written_before_the_new_columns_still_loads_and_takes_new_answers(data_dir):
    import pandas as pd

    (data_dir / "datasets").mkdir(parents=True)
    with duckdb.connect(str(data_dir / "datasets" / "old.duckdb")) as con:  # the schema before log imports
        con.execute("""
            CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
            CREATE TABLE prompts (prompt_key VARCHAR PRIMARY KEY, seq INTEGER, prompt_id VARCHAR, prompt VARCHAR,
                messages VARCHAR, category VARCHAR, difficulty DOUBLE, expected VARCHAR, metadata VARCHAR);
            CREATE TABLE outcomes (prompt_key VARCHAR, model VARCHAR, response VARCHAR, prompt_tokens INTEGER,
                completion_tokens INTEGER, latency_s DOUBLE, cost_usd DOUBLE, score DOUBLE, source VARCHAR,
                PRIMARY KEY (prompt_key, model));
            INSERT INTO prompts VALUES ('k1', 0, 'a', 'x', NULL, NULL, NULL, NULL, NULL)""")
    assert [(r.id, r.arrived_at) for r in load_dataset_traffic("old").requests] == [("a", None)]
    with OutcomeStore("old", create=True) as ds:  # recording into it adds the columns, empty
        ds.write(pd.DataFrame([{"prompt_key": "k2", "seq": 1, "prompt_id": "b", "prompt": "y"}]),
                 pd.DataFrame([{"prompt_key": "k2", "model": "m", "cost_usd": 0.1, "score": 1.0, "source": "live"}]))
        row = ds.con.execute("SELECT model, cost_usd, source, propensity, feedback FROM outcomes").fetchall()
    assert row == [("m", 0.1, "live", None, None)]
