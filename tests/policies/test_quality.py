"""Per-model quality prediction: out of sample by construction (nested CV inside the outer folds),
calibrated, deterministic; and the prompt features it reads. On a 300-prompt slice of RouteLLM's GSM8K
outcomes (wiring only: the headline figures on the full sets are in tests/datasets/test_cli.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import routellm_dir

from workbench.policies.features import DENSE_NAMES, dense_features, hashed_counts
from workbench.policies.learned import assign_folds
from workbench.policies.quality import (CANDIDATES, brier_selector, cross_fitted_quality, expected_gain,
                                        gain_selector, prompt_features)

WEAK, STRONG = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"


@pytest.fixture(scope="module")
def gsm():
    """(texts, {model: 0/1 scores}, features, predictions with seed 0) for GSM8K's first 300 questions."""
    wide = pd.read_csv(routellm_dir() / "gsm8k" / "gsm8k_responses.csv").head(300)
    texts = wide["prompt"].tolist()
    scores = {m: wide[m].to_numpy(dtype=float) for m in (STRONG, WEAK)}
    feats = prompt_features(texts)
    pred = cross_fitted_quality(texts, scores, select=gain_selector(STRONG, WEAK), features=feats)
    return texts, scores, feats, pred


def test_dense_features_of_a_multiple_choice_prompt():
    text = ("Which of the following is NOT a prime number?\nA. 2\nB. 3\nC. 9\nD. 11\nAnswer:")
    row = dict(zip(DENSE_NAMES, dense_features([text])[0]))
    assert row["options"] == 4 and row["numeric_options"] == 4 and row["negations"] == 1
    assert row["ends_with_question"] == 1 and row["wh_start"] == 1 and row["numbers"] == 4
    assert row["distinct_numbers"] == 4 and row["log_max_number"] == pytest.approx(np.log10(12))
    code = dense_features(["def f(x):\n    return x == 1;"])[0]
    assert code[DENSE_NAMES.index("code_marks")] == 4  # def, return, ==, ;
    assert dense_features([])[:].shape == (0, len(DENSE_NAMES))


def test_hashed_counts_need_no_vocabulary():
    a = hashed_counts(["the cat sat", "a dog"], "words")
    b = hashed_counts(["the cat sat"], "words")  # a text's counts do not depend on the other texts
    assert (a[0] != b[0]).nnz == 0 and a[0].sum() == 5  # the, cat, sat, the cat, cat sat
    with pytest.raises(ValueError, match="words' or 'chars'"):
        hashed_counts(["x"], "bytes")


def test_a_prompts_prediction_ignores_its_own_label(gsm):
    texts, scores, feats, pred = gsm
    fold = assign_folds(texts)
    flipped = {m: s.copy() for m, s in scores.items()}
    for s in flipped.values():
        s[fold == 1] = 1 - s[fold == 1]
    again = cross_fitted_quality(texts, flipped, select=gain_selector(STRONG, WEAK), features=feats)
    for m in scores:
        # fold 1's predictions come from models (and a choice) that never saw fold 1's labels: bit for bit
        assert np.array_equal(again.selected[m][fold == 1], pred.selected[m][fold == 1])
        for c in CANDIDATES:
            assert np.array_equal(again.candidates[c][m][fold == 1], pred.candidates[c][m][fold == 1])
        # the other folds trained on flipped labels, so they move (not a no-op test)
        assert np.abs(again.selected[m][fold != 1] - pred.selected[m][fold != 1]).mean() > 0.01


def test_calibrated_deterministic_and_chosen_per_fold(gsm):
    texts, scores, feats, pred = gsm
    assert len(pred.chosen) == 5 and set(pred.chosen) <= set(CANDIDATES)
    for m, s in scores.items():
        p = pred.selected[m]
        assert np.all((p > 0) & (p < 1))
        # Platt-calibrated: the mean prediction lands near the base rate out of sample
        assert p.mean() == pytest.approx(s.mean(), abs=0.04)
    again = cross_fitted_quality(texts, scores, select=gain_selector(STRONG, WEAK), features=feats)
    assert all(np.array_equal(again.selected[m], pred.selected[m]) for m in scores) and again.chosen == pred.chosen
    gain = expected_gain(pred.selected, STRONG, WEAK)
    assert np.array_equal(gain, pred.selected[STRONG] - pred.selected[WEAK])


def test_a_learnable_signal_is_learned_and_selected_by_brier():
    rng = np.random.default_rng(0)
    texts = [f"{'hard integral' if i % 2 else 'easy hello'} question {i} {rng.integers(1000)}" for i in range(200)]
    hard = np.array([i % 2 for i in range(200)])
    weak = np.where(hard == 1, rng.random(200) < 0.1, rng.random(200) < 0.9).astype(float)
    pred = cross_fitted_quality(texts, {"weak": weak}, select=brier_selector)
    p = pred.selected["weak"]
    assert p[hard == 1].mean() < 0.3 < 0.7 < p[hard == 0].mean()


def test_bad_inputs():
    with pytest.raises(ValueError, match="2 texts but 1 scores"):
        cross_fitted_quality(["a", "b"], {"m": [1.0]})
    with pytest.raises(ValueError, match="finite"):
        cross_fitted_quality(["a", "b"], {"m": [1.0, float("nan")]})
    with pytest.raises(ValueError, match="at least 2 inner folds"):
        cross_fitted_quality(["a", "b"], {"m": [1.0, 0.0]}, inner=1)
