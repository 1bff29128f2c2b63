"""RouteLLM's real outcome files imported: counts, exact accuracies, litellm's tokens and prices,
repeated MMLU questions, and malformed copies that name the file and line and write nothing."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil

import pytest
from conftest import routellm_dir

from workbench.datasets import import_routellm
from workbench.errors import InputError
from workbench.store.outcomes import OutcomeStore, list_datasets
from workbench.traffic import load_dataset_traffic, prompt_key

MIX_COL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
MIX = "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1"
GPT = "gpt-4-1106-preview"
SRC = routellm_dir()
csv.field_size_limit(1 << 30)


def csv_rows(paths) -> list[dict]:
    rows = []
    for p in paths:
        with p.open(newline="", encoding="utf-8") as f:
            rows.extend(csv.DictReader(f))
    return rows


GSM_ROWS = csv_rows([SRC / "gsm8k" / "gsm8k_responses.csv"])
MMLU_FILES = sorted((SRC / "mmlu").glob("mmlu_*.csv"))
MMLU_ROWS = csv_rows(MMLU_FILES)


def test_counts_and_exact_accuracies_of_both_models_on_both_benchmarks(routellm_env):
    assert {d["name"]: d["prompts"] for d in list_datasets()} == {"routellm-gsm8k": 1319, "routellm-mmlu": 14042}
    for name, rows in (("routellm-gsm8k", GSM_ROWS), ("routellm-mmlu", MMLU_ROWS)):
        with OutcomeStore(name) as ds:
            m = ds.matrix()
        assert len(m) == 2 * len(rows) and set(m.model) == {GPT, MIX}
        quality = m.groupby("model")["score"].mean()
        for col, model in ((GPT, GPT), (MIX_COL, MIX)):
            share = sum(r[col] == "True" for r in rows) / len(rows)
            assert quality[model] == share  # exactly, not approximately
    # the counts behind those shares (RouteLLM's published 85.7% / 63.8% on GSM8K)
    assert sum(r[GPT] == "True" for r in GSM_ROWS) == 1130 and sum(r[MIX_COL] == "True" for r in GSM_ROWS) == 842
    assert sum(r[GPT] == "True" for r in MMLU_ROWS) == 11315 and sum(r[MIX_COL] == "True" for r in MMLU_ROWS) == 9560


def test_tokens_and_costs_are_litellms(routellm_env):
    import litellm

    with OutcomeStore("routellm-gsm8k") as ds:
        prompts = ds.prompts().set_index("prompt_id")
        for pid, row in ((0, GSM_ROWS[0]), (700, GSM_ROWS[700]), (1318, GSM_ROWS[1318])):
            key = prompts.loc[f"gsm8k-{pid:04d}", "prompt_key"]
            for col, model in ((GPT, GPT), (MIX_COL, MIX)):
                resp, ptok, ctok, lat, cost, score, source = ds.answers(model, [key])[key]
                assert resp == row[f"{col}_response"] and lat is None and source == "imported"
                assert ptok == litellm.token_counter(model=model, messages=[{"role": "user", "content": row["prompt"]}])
                assert ctok == litellm.token_counter(model=model, text=resp)
                assert cost == pytest.approx(sum(litellm.cost_per_token(model=model, prompt_tokens=ptok,
                                                                        completion_tokens=ctok)), rel=1e-12)
        key = prompts.loc["gsm8k-0000", "prompt_key"]
        # Janet's ducks: 71 prompt tokens, GPT-4's answer 82 tokens at $10 / $30 per million tokens
        ducks = ds.answers(GPT, [key])[key]
        assert (ducks.prompt_tokens, ducks.completion_tokens, ducks.latency_s) == (71, 82, None)
        assert ducks.cost_usd == pytest.approx(0.00317, rel=1e-12)
        assert ds.meta()["prices"] == {GPT: {"input_per_mtok": 10.0, "output_per_mtok": 30.0, "source": "litellm"},
                                       MIX: {"input_per_mtok": 0.6, "output_per_mtok": 0.6, "source": "litellm"}}
    with OutcomeStore("routellm-mmlu") as ds:
        m = ds.matrix()
        p = ds.prompts()
    assert (m.completion_tokens == 1).all() and m.latency_s.isna().all()
    first = p.iloc[0]
    assert first.prompt_id == "mmlu-abstract_algebra-0000" and first.category == "abstract_algebra"
    assert first.prompt == MMLU_ROWS[0]["prompt"] and first.expected is None
    row = m[(m.prompt_key == first.prompt_key) & (m.model == GPT)].iloc[0]
    assert row.prompt_tokens == litellm.token_counter(model=GPT, messages=[{"role": "user", "content": first.prompt}])
    assert row.cost_usd == pytest.approx(row.prompt_tokens * 10e-6 + 30e-6, rel=1e-12)


def test_gsm8k_prompts_ids_expected_answers_and_provenance(routellm_env):
    with OutcomeStore("routellm-gsm8k") as ds:
        p = ds.prompts()
        meta = ds.meta()
    assert list(p.prompt_id[:2]) == ["gsm8k-0000", "gsm8k-0001"] and list(p.prompt) == [r["prompt"] for r in GSM_ROWS]
    assert p.expected.iloc[0] == "18" and p.expected.notna().all() and meta["expected_matched"] == 1319
    assert json.loads(p.metadata.iloc[5]) == {"row": 5} and set(p.category) == {"gsm8k"}
    assert meta["source"] == f"RouteLLM (lm-sys/RouteLLM, Apache-2.0), {SRC.resolve()}"
    assert meta["files"] == {
        "gsm8k/gsm8k_responses.csv": hashlib.sha256((SRC / "gsm8k/gsm8k_responses.csv").read_bytes()).hexdigest(),
        "gsm8k/test.jsonl": hashlib.sha256((SRC / "gsm8k/test.jsonl").read_bytes()).hexdigest()}
    assert any("1,319 of 1,319" in n for n in meta["notes"]) and any("no latencies" in n for n in meta["notes"])
    assert meta["imported_at"].endswith("+00:00")
    # the replay finds every answer under the key it computes for the request
    traffic = load_dataset_traffic("routellm-gsm8k")
    assert [prompt_key(r) for r in traffic.requests] == list(p.prompt_key)


def test_mmlu_keeps_every_row_and_marks_the_105_repeats(routellm_env):
    with OutcomeStore("routellm-mmlu") as ds:
        p = ds.prompts()
        meta = ds.meta()
        m = ds.matrix()
    assert len(p) == 14042 and p.prompt_key.is_unique and p.category.nunique() == 57
    repeats = p[p.metadata.str.contains("repeat_of")]
    assert len(repeats) == 105 == meta["repeated_rows"] and repeats.messages.notna().all()
    assert p.messages.notna().sum() == 105
    notes = " ".join(meta["notes"])
    assert "ASSUMED to be 1" in notes and "78 across subjects, 27 within one subject" in notes
    assert "on 4 repeats" in notes
    # each row keeps its own verdicts, the ones where a repeat disagrees with the first row included
    by_id = {f"mmlu-{f.stem[5:]}-{i:04d}": r for f in MMLU_FILES for i, r in enumerate(csv_rows([f]))}
    scores = m.pivot(index="prompt_id", columns="model", values="score")
    expected = {pid: (float(r[GPT] == "True"), float(r[MIX_COL] == "True")) for pid, r in by_id.items()}
    assert {pid: (s[GPT], s[MIX]) for pid, s in scores.iterrows()} == expected
    traffic = load_dataset_traffic("routellm-mmlu")
    assert [prompt_key(r) for r in traffic.requests] == list(p.prompt_key)


# --- malformed copies ------------------------------------------------------------------------------
def gsm8k_copy(tmp_path, rows: list[dict], header=None):
    """A gsm8k folder holding ``rows`` (dicts by column); returns (folder, text written)."""
    folder = tmp_path / "rl" / "gsm8k"
    folder.mkdir(parents=True)
    header = header or list(GSM_ROWS[0])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (folder / "gsm8k_responses.csv").write_text(buf.getvalue(), encoding="utf-8")
    shutil.copy(SRC / "gsm8k" / "test.jsonl", folder / "test.jsonl")
    return folder, buf.getvalue()


def assert_nothing_written(tmp_path):
    folder = tmp_path / "data" / "datasets"
    assert not folder.exists() or not any(folder.iterdir())


def start_line(text: str, prompt: str) -> int:
    """1-based line on which the CSV record holding ``prompt`` starts."""
    return text[: text.index(prompt)].count("\n") + 1


@pytest.mark.parametrize("column,value,message", [
    (GPT, "Maybe", "expected True or False, got 'Maybe'"),
    (MIX_COL, "", "expected True or False, got ''"),
    ("prompt", "   ", "empty prompt"),
])
def test_a_bad_value_names_the_file_line_and_column_and_writes_nothing(tmp_path, monkeypatch, column, value, message):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    rows = [dict(r) for r in GSM_ROWS[:6]]
    rows[4][column] = value
    folder, text = gsm8k_copy(tmp_path, rows)
    with pytest.raises(InputError) as err:
        import_routellm(folder.parent)
    # row 4 starts where row 3's last response ends: after the header and four multi-line records
    line = 2 + sum(sum(v.count("\n") for v in r.values()) + 1 for r in rows[:4])
    assert line == start_line(text, rows[3]["prompt"]) + 1 + sum(v.count("\n") for v in rows[3].values())
    assert str(err.value).startswith(f"{folder / 'gsm8k_responses.csv'}:{line}, field '{column}': {message}")
    assert line > 20  # GSM8K answers span several lines: a row number would not find the line
    assert_nothing_written(tmp_path)


def test_a_missing_column_or_a_repeated_question_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    header = [c for c in GSM_ROWS[0] if c != f"{GPT}_response"]
    gsm8k_copy(tmp_path / "a", GSM_ROWS[:3], header=header)
    with pytest.raises(InputError, match=rf"gsm8k_responses.csv:1: missing column '{GPT}_response'"):
        import_routellm(tmp_path / "a" / "rl")
    _, text = gsm8k_copy(tmp_path / "b", [*GSM_ROWS[:3], GSM_ROWS[1]])
    with pytest.raises(InputError) as err:
        import_routellm(tmp_path / "b" / "rl" / "gsm8k")  # a subfolder works too
    second = text.rindex(GSM_ROWS[1]["prompt"])
    assert f"gsm8k_responses.csv:{text[:second].count(chr(10)) + 1}" in str(err.value)
    assert f"the question on line {start_line(text, GSM_ROWS[1]['prompt'])} appears again" in str(err.value)
    assert_nothing_written(tmp_path)


def test_a_bad_mmlu_file_stops_the_gsm8k_import_too(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    gsm8k_copy(tmp_path, GSM_ROWS[:3])
    mmlu = tmp_path / "rl" / "mmlu"
    mmlu.mkdir()
    shutil.copy(SRC / "mmlu" / "mmlu_anatomy.csv", mmlu)
    rows = csv_rows([SRC / "mmlu" / "mmlu_virology.csv"])[:3]
    rows[2][GPT] = "TRUE"
    with (mmlu / "mmlu_virology.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    text = (mmlu / "mmlu_virology.csv").read_text()
    with pytest.raises(InputError) as err:
        import_routellm(tmp_path / "rl")
    line = start_line(text, rows[2]["prompt"])
    assert line == 2 + sum(r["prompt"].count("\n") + 1 for r in rows[:2])
    assert str(err.value).startswith(f"{mmlu / 'mmlu_virology.csv'}:{line}, field '{GPT}': expected True or False")
    assert_nothing_written(tmp_path)


def test_model_and_price_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    gsm8k_copy(tmp_path, GSM_ROWS[:4])
    names = import_routellm(tmp_path / "rl", models={MIX_COL: "my-mixtral"}, prices={"my-mixtral": (1.0, 2.0),
                                                                                      GPT: (3.0, 4.0)})
    assert names == ["routellm-gsm8k"]
    with OutcomeStore("routellm-gsm8k") as ds:
        m = ds.matrix()
        meta = ds.meta()
    assert set(m.model) == {GPT, "my-mixtral"} and meta["columns"] == {MIX_COL: "my-mixtral", GPT: GPT}
    for model, (inp, out) in (("my-mixtral", (1.0, 2.0)), (GPT, (3.0, 4.0))):
        rows = m[m.model == model]
        assert list(rows.cost_usd) == pytest.approx(list((rows.prompt_tokens * inp + rows.completion_tokens * out) / 1e6))
        assert meta["prices"][model] == {"input_per_mtok": inp, "output_per_mtok": out, "source": "override"}
    with pytest.raises(InputError, match="model 'my-mixtral' .* has no price in litellm's map"):
        import_routellm(tmp_path / "rl", models={MIX_COL: "my-mixtral"})
    with pytest.raises(InputError, match="--model names column 'nope'"):
        import_routellm(tmp_path / "rl", models={"nope": "gpt-4o"})


def test_a_folder_without_routellm_files_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="neither gsm8k/gsm8k_responses.csv nor mmlu"):
        import_routellm(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        import_routellm(tmp_path / "missing")


def test_a_question_three_times_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    mmlu = tmp_path / "mmlu"
    mmlu.mkdir()
    (mmlu / "mmlu_x.csv").write_text(f"prompt,{MIX_COL},{GPT}\nQ?,True,True\nR?,True,False\nQ?,False,True\n"
                                     "Q?,True,True\n")
    with pytest.raises(InputError) as err:
        import_routellm(mmlu)
    assert str(err.value) == f"{mmlu / 'mmlu_x.csv'}:5, field 'prompt': this question appears a third time " \
        "(first as mmlu-x-0000)"
    assert_nothing_written(tmp_path)
