"""``numeric``: reading final numbers, and agreement with RouteLLM's recorded GSM8K verdicts."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from conftest import routellm_dir

from workbench.errors import ScenarioError
from workbench.graders.numeric import final_number
from workbench.traffic import Request

MODELS = {"mistralai/Mixtral-8x7B-Instruct-v0.1": 0.991, "gpt-4-1106-preview": 0.967}


@pytest.mark.parametrize("text, number", [
    ("He makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", 18.0),
    ("So he made a profit of 200,000-130,000=$<<200000-130000=70000>>70,000\n#### 70,000", 70000.0),
    ("The total is $1,234.50.", 1234.5),
    ("He is 90 - 144 = -54 miles away.", -54.0),
    ("puts $90 - $105 = $-15 ahead", -15.0),
    ("16-3", 3.0),                       # subtraction, not a negative number
    ("The answer is 18.", 18.0),         # the full stop ends the sentence
    ("She drinks 3/4 of it.", 0.75),
    ("It is 3 / 4", 0.75),
    ("the numbers 3,4,5", 5.0),          # commas only in groups of three
    ("#### 7 packs and 2 extra glue sticks", 7.0),  # first number after the last ####
    ("#### 1\n#### 2 (corrected)", 2.0),
    ("x = .5", 0.5),
    ("version 1.2.3", 1.2),
    ("no number here", None),
    ("#### none", None),
])
def test_final_number(text, number):
    assert final_number(text) == number


def test_scores_numerically_with_the_tolerance(make_graders):
    exact, loose = make_graders("""
        - type: numeric
        - type: numeric
          params: {abs_tol: 0.01}
    """)
    gsm8k = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n#### 18"
    for text, strict, tolerant in [("#### $18.00", 1.0, 1.0), ("She makes 18 dollars.", 1.0, 1.0),
                                   ("It is 18.005", 0.0, 1.0), ("It is 18.02", 0.0, 0.0),
                                   ("I cannot tell.", 0.0, 0.0)]:
        req = Request(id="r", prompt="q", expected=gsm8k)
        assert (exact.score(req, text, None), loose.score(req, text, None)) == (strict, tolerant), text
    assert exact.score(Request(id="r", prompt="q", expected="-3/4"), "It is -0.75", None) == 1.0
    assert exact.score(Request(id="r", prompt="q"), "18", None) is None
    assert exact.score(Request(id="r", prompt="q", expected="eighteen"), "18", None) is None
    assert exact.score(Request(id="r", prompt="q", expected="18"), None, None) is None


@pytest.mark.parametrize("params, message", [
    ("{abs_tol: -1}", "greater than or equal to 0"),
    ("{abs_tol: .nan}", "finite number"),
    ("{rel_tol: 0.1}", "unknown param"),
])
def test_bad_params_name_the_field_and_line(make_graders, params, message):
    with pytest.raises(ScenarioError) as info:
        make_graders(f"- type: exact\n- type: numeric\n  params: {params}\n")
    err = info.value
    assert err.line == 10 and err.field and err.field.startswith("graders[1].params."), str(err)
    assert message in str(err)


@pytest.fixture(scope="module")
def gsm8k() -> pd.DataFrame:
    """RouteLLM's GSM8K outcomes joined with the test set's reference solutions (1,319 questions)."""
    root = routellm_dir() / "gsm8k"
    outcomes = pd.read_csv(root / "gsm8k_responses.csv")
    with (root / "test.jsonl").open(encoding="utf-8") as f:
        reference = pd.DataFrame([json.loads(line) for line in f])
    joined = outcomes.merge(reference, left_on="prompt", right_on="question", how="inner", validate="1:1")
    assert len(joined) == len(outcomes) == 1319
    return joined


@pytest.mark.parametrize("model", MODELS)
def test_agrees_with_routellm_recorded_verdicts(make_graders, gsm8k, model):
    (grader,) = make_graders("- type: numeric")
    rows = zip(gsm8k.prompt, gsm8k.answer, gsm8k[f"{model}_response"])
    ours = pd.Series([grader.score(Request(id=str(i), prompt=q, expected=a), text, None)
                      for i, (q, a, text) in enumerate(rows)])
    assert ours.notna().all()  # every reference solution ends in a number
    recorded = gsm8k[model].astype(float)
    agree = (ours == recorded).mean()
    we_pass = gsm8k[(ours == 1.0) & (recorded == 0.0)]
    they_pass = gsm8k[(ours == 0.0) & (recorded == 1.0)]
    print(f"\n{model}: agreement {agree:.4f} on {len(gsm8k)}; accuracy ours {ours.mean():.4f}, "
          f"recorded {recorded.mean():.4f}; we pass / they fail {len(we_pass)}, they pass / we fail "
          f"{len(they_pass)}")
    assert agree >= MODELS[model]
    # Where we pass and they fail, the answer's number is right but not written as a bare integer
    # ("$20.00", "#### 7 packs and 2 extra"): the recorded verdicts demand one.
    assert not any(map(_bare_integer, we_pass[f"{model}_response"])), "a disagreement left unexplained"
    assert len(they_pass) <= 5  # Mixtral: 0.5 for 5, 0.84 for 84, -54 for 54...; GPT-4: 1


def _bare_integer(text: str) -> bool:
    """Whether the final answer is written as an integer alone (``#### 18``, ``... is $18.``)."""
    if "####" in text:
        return re.fullmatch(r"-?\$?\d+", text.rsplit("####", 1)[1].strip()) is not None
    return "." not in re.findall(r"\d[\d,]*(?:\.\d+)?", text)[-1]
