"""A learned scorer for the ``threshold`` policy: "will the weak model fail this prompt?", out of sample.

Why cross-fitting: a scorer trained on the very prompts it then scores has seen their labels. A
TF-IDF model with tens of thousands of n-gram weights can nearly memorise which prompts the weak model
failed (on GSM8K its in-sample ROC AUC for "Mixtral fails" is 0.9996; out of fold it is 0.547), so
the routing curve, APGR and CPT computed from in-sample scores would describe a router far better than
any deployable one. Here the prompts are split into
``folds`` (shuffled, seeded), and every prompt's score comes from a model fitted on the *other* folds
only: each score is an honest prediction for a prompt the model never saw, while every prompt still
gets one (no held-out set wasted). The fold models differ slightly; that is the price. Identical texts
always share a fold: a copy of a prompt in another fold would hand the model that prompt's label (MMLU
repeats 105 of its questions word for word).

Why this model: TF-IDF over word 1-2 grams and a logistic regression is the smallest learned router
that reads the prompt: it fits in seconds on a CPU, needs no download, and is deterministic. RouteLLM's
learned routers (matrix factorisation, BERT, a causal LLM) need preference data and GPUs; this one is a
baseline to compare them and the hand-made scorers against, not a claim to match them.

Why the n-grams are counted once: tokenising into 1-2 grams and building a vocabulary is most of the
cost, and a pipeline refitted per fold pays it once per fold. Counting an n-gram in a prompt is a fact
about that prompt alone, so the counts are made once for all prompts; per fold, only the n-grams that
occur in the training folds are kept and ``TfidfTransformer`` + ``LogisticRegression`` are fitted on
the training rows. That is the same model as ``TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)``
+ ``LogisticRegression`` fitted on the training folds: same tokens, vocabulary and idf, scores equal
to 1e-15 (``tests/policies/test_learned.py`` checks it). On MMLU's 14k prompts it took 2.7 s of CPU
against 23 s for that pipeline refitted per fold. No held-out label, and no held-out n-gram, shapes
any fold's model.

Labels are the weak model's scores (0..1); a score below 0.5 counts as a failure. scikit-learn is
imported when scores are computed, never at package import.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

import numpy as np

__all__ = ["cross_fitted_scores", "assign_folds", "learned_note", "LEARNED_NOTE"]

def learned_note(folds: int = 5) -> str:
    """The method note a run or report shows next to results routed by this scorer."""
    return (f"learned scorer: out-of-fold predictions, {folds}-fold cross-fitting; every score comes "
            f"from a model that never saw that prompt (TF-IDF word 1-2 grams + logistic regression)")


#: :func:`learned_note` for the default 5 folds.
LEARNED_NOTE = learned_note()

# scikit-learn's default token pattern, lower-cased first: the same tokens TfidfVectorizer would use.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def assign_folds(texts: Sequence[str] | np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number (0..folds-1) of each text: scikit-learn's KFold over the distinct texts, shuffled
    with ``seed``; identical texts share a fold."""
    import pandas as pd
    from sklearn.model_selection import KFold

    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    codes, distinct = pd.factorize(pd.Series(list(texts), dtype=object).astype(str))
    if len(distinct) < folds:
        raise ValueError(f"cross-fitting {len(distinct)} distinct prompt(s) in {folds} folds: "
                         f"need at least one per fold")
    fold_of = np.empty(len(distinct), dtype=int)
    for i, (_, held_out) in enumerate(KFold(folds, shuffle=True, random_state=seed).split(distinct)):
        fold_of[held_out] = i
    return fold_of[codes]


def _ngrams(doc: str) -> list[str]:
    toks = _TOKEN.findall(doc.lower())
    return toks + [f"{a} {b}" for a, b in itertools.pairwise(toks)]


def _counts(texts: Sequence[str]):
    """Sparse n-gram counts (prompts x distinct 1-2 grams); column order is first appearance."""
    import pandas as pd
    import scipy.sparse as sp

    grams = [_ngrams(str(t)) for t in texts]
    lengths = np.fromiter((len(g) for g in grams), dtype=np.int64, count=len(grams))
    codes, vocab = pd.factorize(np.array([g for doc in grams for g in doc], dtype=object))
    rows = np.repeat(np.arange(len(grams)), lengths)
    counts = sp.csr_matrix((np.ones(len(codes)), (rows, codes)), shape=(len(grams), max(len(vocab), 1)))
    counts.sum_duplicates()
    return counts


def _fold_scores(counts, failed: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    """P(failure) for the ``test`` rows from a model fitted on the ``train`` rows only."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    y = failed[train]
    if y.min() == y.max():  # one class only: logistic regression cannot fit; the base rate is the answer
        return np.full(len(test), float(y[0]))
    x_train = counts[train]
    seen = np.flatnonzero(x_train.getnnz(axis=0) > 0)  # the vocabulary of the training folds
    # The dual problem has one variable per prompt, the primal one per n-gram: with far more n-grams
    # than prompts (MMLU: 320k vs 11k) the dual is ~8x faster, for the same optimum.
    model = make_pipeline(TfidfTransformer(sublinear_tf=True),
                          LogisticRegression(solver="liblinear", dual=True, random_state=seed))
    model.fit(x_train[:, seen], y)
    return model.predict_proba(counts[test][:, seen])[:, 1]


def cross_fitted_scores(texts: Sequence[str], labels: Sequence[float], folds: int = 5,
                        seed: int = 0) -> np.ndarray:
    """P(weak model fails) per text (label < 0.5), each predicted by a model fitted on the other
    folds only (KFold shuffled with ``seed``); higher = send it to the strong model."""
    y = np.asarray(labels, dtype=float)
    if len(y) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(y)} labels")
    if not np.all(np.isfinite(y)):
        raise ValueError("labels must be finite scores in 0..1")
    fold = assign_folds(texts, folds, seed)
    counts = _counts(texts)
    failed = (y < 0.5).astype(int)
    out = np.empty(len(y))
    for k in range(folds):
        test = np.flatnonzero(fold == k)
        out[test] = _fold_scores(counts, failed, np.flatnonzero(fold != k), test, seed)
    return out
