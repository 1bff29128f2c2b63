"""The learned scorer: out of sample by construction, the same model as scikit-learn's TfidfVectorizer
pipeline, deterministic. On RouteLLM's GSM8K outcomes (the weak model: Mixtral; label = it was right).
Its routing quality (APGR against random) is measured in tests/analysis/test_routing.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import routellm_dir

from workbench.policies.learned import LEARNED_NOTE, assign_folds, cross_fitted_scores, learned_note

WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"


@pytest.fixture(scope="module")
def gsm8k():
    """(prompts, weak model's 0/1 scores, cross-fitted scores with seed 0)."""
    wide = pd.read_csv(routellm_dir() / "gsm8k" / "gsm8k_responses.csv")
    texts, labels = wide["prompt"].tolist(), wide[WEAK].to_numpy(dtype=float)
    return texts, labels, cross_fitted_scores(texts, labels)


def test_a_prompts_score_ignores_its_own_label(gsm8k):
    texts, labels, scores = gsm8k
    fold = assign_folds(texts)
    assert np.bincount(fold).tolist() == [264, 264, 264, 264, 263]
    flipped = labels.copy()
    flipped[fold == 2] = 1 - flipped[fold == 2]
    again = cross_fitted_scores(texts, flipped)
    # Fold 2's scores come from a model that never saw fold 2's labels: bit for bit the same.
    assert np.array_equal(again[fold == 2], scores[fold == 2])
    # Every other fold's model trained on the flipped labels, so those scores do move (not a no-op test).
    assert np.abs(again[fold != 2] - scores[fold != 2]).min() > 0
    assert np.abs(again[fold != 2] - scores[fold != 2]).mean() > 0.01


def test_a_repeated_prompt_shares_its_fold_so_its_copy_cannot_leak_its_label(gsm8k):
    texts, labels, _ = gsm8k
    # GSM8K with its first 100 questions asked again (as MMLU repeats 105 of its own).
    doubled, doubled_labels = texts + texts[:100], np.concatenate([labels, labels[:100]])
    fold = assign_folds(doubled)
    assert np.array_equal(fold[1319:], fold[:100])
    assert np.array_equal(fold[:1319], assign_folds(texts))  # distinct texts: plain KFold, unchanged
    scores = cross_fitted_scores(doubled, doubled_labels)
    assert np.array_equal(scores[1319:], scores[:100])


def test_in_sample_scores_would_overstate_the_router(gsm8k):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline

    texts, labels, scores = gsm8k
    failed = labels < 0.5
    out_of_fold = roc_auc_score(failed, scores)
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                          LogisticRegression(solver="liblinear", dual=True, random_state=0)).fit(texts, failed)
    in_sample = roc_auc_score(failed, model.predict_proba(texts)[:, 1])
    # ROC AUC for "the weak model fails", measured when written: 0.547 out of fold (weak but real;
    # prompt length alone gets 0.599), 0.9996 in sample, where the model has memorised the failures.
    assert 0.535 < out_of_fold < 0.56
    assert in_sample > 0.99


def test_same_model_as_a_tfidfvectorizer_pipeline_fitted_on_the_other_folds(gsm8k):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels, scores = gsm8k
    fold, docs = assign_folds(texts), np.array(texts, dtype=object)
    for k in (0, 4):
        model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                              LogisticRegression(solver="liblinear", dual=True, random_state=0))
        model.fit(docs[fold != k], labels[fold != k] < 0.5)
        assert np.abs(model.predict_proba(docs[fold == k])[:, 1] - scores[fold == k]).max() < 1e-12


def test_scores_are_probabilities_and_fixed_by_the_seed(gsm8k):
    texts, labels, scores = gsm8k
    assert scores.shape == (1319,) and 0 < scores.min() and scores.max() < 1
    # The weak model fails 477 of 1319 prompts; a calibrated-ish model's mean is near that base rate.
    assert scores.mean() == pytest.approx(477 / 1319, abs=0.02)
    other = cross_fitted_scores(texts[:400], labels[:400], seed=1)
    assert np.array_equal(other, cross_fitted_scores(texts[:400], labels[:400], seed=1))
    assert not np.array_equal(other, cross_fitted_scores(texts[:400], labels[:400], seed=2))


def test_a_training_fold_with_one_class_scores_its_base_rate():
    texts = [f"question number {i} about apples" for i in range(10)]
    assert cross_fitted_scores(texts, [0.0] * 10).tolist() == [1.0] * 10
    assert cross_fitted_scores(texts, [1.0] * 10, folds=2).tolist() == [0.0] * 10


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="3 texts but 2 labels"):
        cross_fitted_scores(["a", "b", "c"], [1.0, 0.0])
    with pytest.raises(ValueError, match="cross-fitting 3 distinct prompt.* in 5 folds"):
        cross_fitted_scores(["a", "b", "c", "a", "b", "c"], [1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="at least 2 folds"):
        cross_fitted_scores(["a", "b", "c"], [1.0, 0.0, 1.0], folds=1)
    with pytest.raises(ValueError, match="finite"):
        cross_fitted_scores(["a", "b"], [1.0, float("nan")], folds=2)


def test_the_note_says_how_the_scores_were_made():
    assert LEARNED_NOTE.startswith("learned scorer: out-of-fold predictions, 5-fold cross-fitting; every score "
                                   "comes from a model that never saw that prompt")
    assert "10-fold" in learned_note(10)
