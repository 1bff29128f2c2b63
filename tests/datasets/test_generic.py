"""The generic outcome format: a CSV or Parquet round trip, counted tokens and prices, and one error
naming the file, line and field for each kind of bad row, with nothing written."""

from __future__ import annotations

import csv

import duckdb
import pytest

from workbench.datasets import import_outcomes
from workbench.errors import InputError
from workbench.store.outcomes import OUTCOME_COLUMNS, AnswerRow, OutcomeStore, dataset_path
from workbench.traffic import load_dataset_traffic, prompt_key

HEADER = ["prompt_id", "prompt", "model", "response", "score", "prompt_tokens", "completion_tokens", "latency_s",
          "category", "expected", "cost_usd"]
ROWS = [
    ["q1", "What is 2 + 2?", "gpt-4o", "4", "1", "", "", "0.8", "math", "4", ""],
    ["q1", "What is 2 + 2?", "gpt-4o-mini", "5", "0", "12", "3", "", "math", "4", ""],
    ["q2", "Name a prime above 10.", "gpt-4o", "11 is prime.", "true", "20", "", "1.25", "", "", "0.5"],
    ["q2", "Name a prime above 10.", "gpt-4o-mini", "", "0.5", "", "7", "0.3", "", "", ""],
]


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def write(path, rows, header=HEADER):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def test_csv_round_trip_counts_missing_tokens_and_prices_missing_costs(tmp_path):
    import litellm

    assert import_outcomes(write(tmp_path / "o.csv", ROWS), "mine") == "mine"
    with OutcomeStore("mine") as ds:
        p = ds.prompts()
        meta = ds.meta()
        key1, key2 = p.prompt_key
        a = ds.answers("gpt-4o")
        b = ds.answers("gpt-4o-mini")
    assert list(p.prompt_id) == ["q1", "q2"] and list(p.category.fillna("-")) == ["math", "-"]
    assert list(p.expected.fillna("-")) == ["4", "-"]
    assert key1 == prompt_key(load_dataset_traffic("mine").requests[0])
    ptok = litellm.token_counter(model="gpt-4o", messages=[{"role": "user", "content": "What is 2 + 2?"}])
    ctok = litellm.token_counter(model="gpt-4o", text="4")
    assert a[key1] == ("4", ptok, ctok, 0.8, pytest.approx(ptok * 2.5e-6 + ctok * 10e-6, rel=1e-12), 1.0, "imported")
    # given tokens kept, cost from litellm's gpt-4o-mini price ($0.15 / $0.60)
    assert b[key1] == ("5", 12, 3, None, pytest.approx(12 * 0.15e-6 + 3 * 0.6e-6, rel=1e-12), 0.0, "imported")
    # given cost kept as it is; "true" is a score of 1
    ctok2 = litellm.token_counter(model="gpt-4o", text="11 is prime.")
    assert a[key2] == ("11 is prime.", 20, ctok2, 1.25, 0.5, 1.0, "imported")
    # empty response with given completion tokens: prompt tokens counted
    ptok2 = litellm.token_counter(model="gpt-4o-mini", messages=[{"role": "user", "content": "Name a prime above 10."}])
    assert b[key2] == (None, ptok2, 7, 0.3, pytest.approx(ptok2 * 0.15e-6 + 7 * 0.6e-6, rel=1e-12), 0.5, "imported")
    assert meta["source"].endswith("o.csv (generic outcome format)") and len(meta["files"]["o.csv"]) == 64
    notes = " ".join(meta["notes"])
    assert "4 outcome rows over 2 prompts" in notes and "prompt tokens of 2 rows" in notes
    assert "completion tokens of 2 rows" in notes and "cost of 3 rows" in notes


def test_parquet_round_trip_equals_the_csv_one(tmp_path):
    src = write(tmp_path / "o.csv", ROWS)
    pq = tmp_path / "o.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{src}', all_varchar=true)) TO '{pq}' (FORMAT parquet)")
    import_outcomes(src, "from-csv")
    import_outcomes(pq, "from-parquet")
    with OutcomeStore("from-csv") as a, OutcomeStore("from-parquet") as b:
        assert a.matrix().equals(b.matrix()) and a.prompts().equals(b.prompts())


def test_parquet_with_typed_columns(tmp_path):
    pq = tmp_path / "typed.parquet"
    duckdb.sql(f"""COPY (SELECT 'p1' AS prompt_id, 'Hello?' AS prompt, 'gpt-4o' AS model, 'Hi' AS response,
        0.75::DOUBLE AS score, 5::INTEGER AS prompt_tokens, 2::INTEGER AS completion_tokens,
        NULL::DOUBLE AS latency_s) TO '{pq}' (FORMAT parquet)""")
    import_outcomes(pq, "typed")
    with OutcomeStore("typed") as ds:
        (row,) = ds.answers("gpt-4o").values()
    assert row == ("Hi", 5, 2, None, pytest.approx(5 * 2.5e-6 + 2 * 10e-6, rel=1e-12), 0.75, "imported")
    # a named row, its fields the outcomes table's own columns (after the key: prompt_key, model), up to
    # `source`: a log's extra columns (propensity, feedback) are not part of an answer
    assert isinstance(row, AnswerRow) and AnswerRow._fields == OUTCOME_COLUMNS[2:OUTCOME_COLUMNS.index("source") + 1]
    assert (row.response, row.completion_tokens, row.latency_s, row.score) == ("Hi", 2, None, 0.75)


def bad(tmp_path, rows, header=HEADER, **kw) -> str:
    path = write(tmp_path / "bad.csv", rows, header)
    with pytest.raises(InputError) as err:
        import_outcomes(path, "bad", **kw)
    assert not dataset_path("bad").exists() and not list(dataset_path("bad").parent.glob("*"))
    return str(err.value).replace(str(path), "bad.csv")


def test_each_bad_row_is_one_error_naming_file_line_and_field(tmp_path):
    r = [list(x) for x in ROWS]
    assert bad(tmp_path, r[:1] + [r[1][:4] + ["1.5"] + r[1][5:]]) == \
        "bad.csv:3, field 'score': must be in [0, 1], got '1.5'"
    assert bad(tmp_path, r[:1] + [r[1][:4] + ["-0.1"] + r[1][5:]]).startswith("bad.csv:3, field 'score': must be")
    assert bad(tmp_path, r[:2] + [["q1", "What is 3 + 3?"] + r[2][2:]]) == (
        "bad.csv:4, field 'prompt': prompt_id 'q1' has a different prompt than on line 2: a prompt_id always "
        "carries the same prompt")
    assert bad(tmp_path, r[:2] + [["q9"] + r[0][1:]]).startswith(
        "bad.csv:4, field 'prompt': prompt_id 'q9' repeats the text of prompt_id 'q1' (line 2)")
    assert bad(tmp_path, r + [r[3]]) == "bad.csv:6, field 'model': prompt_id 'q2' and model 'gpt-4o-mini' already " \
        "appear on line 5"
    assert bad(tmp_path, [r[0], r[1][:3] + [""] + r[1][4:6] + [""] + r[1][7:]]) == (
        "bad.csv:3, field 'completion_tokens': is empty and there is no response to count it from")
    assert bad(tmp_path, [r[0][:5] + ["2.5"] + r[0][6:]]) == \
        "bad.csv:2, field 'prompt_tokens': must be a whole number, got '2.5'"
    assert bad(tmp_path, [[""] + r[0][1:]]) == "bad.csv:2, field 'prompt_id': is empty"
    assert bad(tmp_path, [r[0][:7] + ["fast"] + r[0][8:]]) == \
        "bad.csv:2, field 'latency_s': must be a number, got 'fast'"
    assert bad(tmp_path, [r[0], r[1] + ["extra"]]) == "bad.csv:3: 12 values for 11 header columns"


def test_a_model_without_a_price_is_one_error_unless_priced(tmp_path):
    rows = [list(ROWS[0]), ["q1", "What is 2 + 2?", "acme/brain-7b", "4", "1", "", "", "", "math", "4", ""]]
    msg = bad(tmp_path, rows)
    assert msg.startswith("bad.csv:3, field 'model': model 'acme/brain-7b' has no price in litellm's map")
    assert "--price 'acme/brain-7b=IN,OUT'" in msg
    import_outcomes(write(tmp_path / "ok.csv", rows), "priced", prices={"acme/brain-7b": (1.0, 3.0)})
    rows[1][-1] = "0.002"
    import_outcomes(write(tmp_path / "ok2.csv", rows), "costed")
    with OutcomeStore("priced") as a, OutcomeStore("costed") as b:
        (pa,) = a.answers("acme/brain-7b").values()
        (pb,) = b.answers("acme/brain-7b").values()
        assert a.meta()["prices"]["acme/brain-7b"] == {"input_per_mtok": 1.0, "output_per_mtok": 3.0,
                                                       "source": "override"}
    assert pa.cost_usd == pytest.approx((pa.prompt_tokens * 1.0 + pa.completion_tokens * 3.0) / 1e6)
    assert pb.cost_usd == 0.002


def test_header_errors_and_files_that_are_not_outcomes(tmp_path):
    assert bad(tmp_path, [], header=HEADER[:4]).startswith(
        "bad.csv:1: missing column(s) score, prompt_tokens, completion_tokens, latency_s")
    assert bad(tmp_path, [], header=HEADER + ["latency"]).startswith("bad.csv:1: unknown column(s) 'latency'")
    assert bad(tmp_path, []) == "bad.csv: the file holds no outcome rows"
    with pytest.raises(InputError, match="outcome files are CSV"):
        import_outcomes(write(tmp_path / "o.txt", ROWS), "x")
    with pytest.raises(InputError, match="no such file"):
        import_outcomes(tmp_path / "missing.csv", "x")
    with pytest.raises(InputError, match="invalid dataset name"):
        import_outcomes(write(tmp_path / "o.csv", ROWS), "../escape")


def test_a_failed_import_leaves_the_older_dataset_as_it_was(tmp_path):
    import_outcomes(write(tmp_path / "o.csv", ROWS), "mine")
    before = dataset_path("mine").read_bytes()
    with pytest.raises(InputError):
        import_outcomes(write(tmp_path / "b.csv", [ROWS[0][:4] + ["x"] + ROWS[0][5:]]), "mine")
    assert dataset_path("mine").read_bytes() == before


def test_a_file_that_is_not_parquet_is_one_error(tmp_path):
    f = tmp_path / "o.parquet"
    f.write_bytes(b"prompt_id,prompt\n")
    with pytest.raises(InputError) as err:
        import_outcomes(f, "x")
    assert str(err.value).startswith(f"{f}: unreadable Parquet: ")
