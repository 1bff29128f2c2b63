"""``workbench datasets import routerbench FILE``: RouterBench's wide pickle, written here in its format
(columns as RouterBench's own code names them), imported end to end; bad files get one error naming the
file, row and column, and nothing is written. Never downloads anything."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from workbench.cli import main

GPT, MIX, LLAMA = "gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat", "meta/llama-2-70b-chat"


def routerbench_frame() -> pd.DataFrame:
    """Five rows in RouterBench's wide format: sample_id, prompt, eval_name, and per model M the score
    column M, M|model_response, M|total_cost, plus the oracle column RouterBench adds."""
    rows = [
        ("mmlu-anatomy.val.1", "Which bone is the longest?\nA. femur\nB. tibia\nAnswer:", "mmlu-anatomy",
         (1.0, 0.0, 1.0), ("A", "B", "A"), (2.1e-4, 1.0e-5, 3.0e-5)),
        ("gsm8k.test.7", "Tom has 3 apples and buys 4 more. How many now?", "gsm8k",
         (1.0, 1.0, 0.0), ("7", "7", "6"), (3.5e-4, 2.0e-5, 4.0e-5)),
        # a multi-turn MT-Bench row: prompt and answers stored as the text of a Python list
        ("mt-bench.81", "['Write a haiku about rain.', 'Now make it rhyme.']", "mtbench",
         (0.9, 0.7, 0.5), ("['Soft rain falls', 'Rain again']", "['Drops', 'Plops']", "['r', 'r']"),
         (9.0e-4, 5.0e-5, 6.0e-5)),
        # a score RouterBench did not compute (NaN) for one model
        ("arc.3", "What gas do plants absorb?", "arc-challenge", (1.0, math.nan, 1.0), ("CO2", "", "CO2"),
         (1.5e-4, math.nan, 2.5e-5)),
        # the same prompt text again under another id: left out, counted in the notes
        ("gsm8k.test.7b", "Tom has 3 apples and buys 4 more. How many now?", "gsm8k",
         (1.0, 1.0, 1.0), ("7", "7", "7"), (3.5e-4, 2.0e-5, 4.0e-5)),
    ]
    data = []
    for sid, prompt, ev, scores, responses, costs in rows:
        rec = {"sample_id": sid, "prompt": prompt, "eval_name": ev}
        for m, s, r, c in zip((GPT, MIX, LLAMA), scores, responses, costs):
            rec[m], rec[f"{m}|model_response"], rec[f"{m}|total_cost"] = s, r, c
        rec["oracle_model_to_route_to"] = MIX
        data.append(rec)
    return pd.DataFrame(data)


def test_import_routerbench_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    f = tmp_path / "routerbench_0shot.pkl"
    routerbench_frame().to_pickle(f)
    assert main(["datasets", "import", "routerbench", str(f), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("routerbench: 4 prompts in 4 categories, 3 models")
    assert "1 rows repeat an earlier row's exact prompt" in text and "1 answers have no score" in text
    assert "1 multi-turn prompts" in text
    assert main(["datasets", "info", "routerbench", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    per = {m["model"]: m for m in info["models"]}
    assert per[GPT]["answers"] == 4 and per[MIX]["answers"] == 3  # the NaN score is left out
    assert per[GPT]["quality"] == pytest.approx((1 + 1 + 0.9 + 1) / 4)
    assert per[MIX]["quality"] == pytest.approx((0 + 1 + 0.7) / 3)
    # costs are RouterBench's own '<model>|total_cost', summed over the imported rows
    assert per[GPT]["cost_usd"] == pytest.approx(2.1e-4 + 3.5e-4 + 9.0e-4 + 1.5e-4)
    from workbench.store.outcomes import OutcomeStore

    with OutcomeStore("routerbench") as ds:
        prompts = ds.prompts().set_index("prompt_id")
        answers = ds.answers(GPT)
    assert prompts.loc["mt-bench.81", "prompt"] == "Write a haiku about rain.\n\nNow make it rhyme."
    assert prompts.loc["mt-bench.81", "category"] == "mtbench"
    assert "gsm8k.test.7b" not in prompts.index
    haiku = answers[prompts.loc["mt-bench.81", "prompt_key"]]
    assert haiku.response == "Soft rain falls\n\nRain again"
    assert haiku.prompt_tokens > 0 and haiku.completion_tokens > 0  # tokens counted


def test_model_names_can_be_mapped_to_litellm_names(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    f = tmp_path / "rb.pkl"
    routerbench_frame().to_pickle(f)
    assert main(["datasets", "import", "routerbench", str(f), "--name", "rb", "--no-progress",
                 "--model", f"{MIX}=together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1"]) == 0
    assert "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1" in capsys.readouterr().out


@pytest.mark.parametrize("break_it, message", [
    (lambda df: df.drop(columns=[f"{MIX}|total_cost"]), f"model '{MIX}' has a '{MIX}|model_response' column "
                                                          f"but no '{MIX}|total_cost' column"),
    (lambda df: df.drop(columns=["eval_name"]), "missing column 'eval_name'"),
    (lambda df: df.assign(**{GPT: [1.0, 1.0, 1.5, 1.0, 1.0]}), "field 'gpt-4-1106-preview': row 3: must be in [0, 1]"),
    (lambda df: df.assign(sample_id=["a", "b", "a", "c", "d"]), "field 'sample_id': row 3: sample_id 'a' already on row 1"),
    (lambda df: df.drop(columns=[c for c in df.columns if "|model_response" in c]), "no column ends in '|model_response'"),
])
def test_a_bad_file_is_one_clear_error_and_nothing_is_written(tmp_path, monkeypatch, capsys, break_it, message):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    f = tmp_path / "bad.pkl"
    break_it(routerbench_frame()).to_pickle(f)
    assert main(["datasets", "import", "routerbench", str(f), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(f) in err and message in err, err
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_not_a_dataframe(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    f = tmp_path / "list.pkl"
    pd.to_pickle([1, 2, 3], f)
    assert main(["datasets", "import", "routerbench", str(f)]) == 2
    assert "expected a pandas DataFrame" in capsys.readouterr().err
