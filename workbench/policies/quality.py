"""Out-of-sample quality prediction per model: P(model answers a prompt well), from the prompt alone.

Why predict each model's quality, not "will the weak model fail": routing to the strong model pays
off only where the weak model fails *and the strong one succeeds*. A prompt both models fail is the
hardest-looking of all, and a "weak fails" scorer sends it strong first, for nothing. RouteLLM learns
that gap from preference data (which answer won); an outcome matrix gives each model's own score, so
here one model per fleet model predicts P(score >= 0.5), and a two-model router ranks prompts by
P(strong right) - P(weak right), the expected gain of a strong call. In an exploratory run on MMLU
(one logistic regression, not nested) that target took APGR from 0.58 ("weak fails", same features)
to 0.69. The same predictions drive the N-model ``utility`` policy.

Why nested cross-validation: the outer folds are the cross-fitting of :mod:`workbench.policies.learned`
(identical texts share a fold; every prompt's prediction comes from models that never saw its label).
Inside each outer training set, inner folds (again grouped by text) give out-of-fold predictions of
two base learners, and those alone choose the candidate, fit the calibration and fit the stack:

* ``logreg``: logistic regression on TF-IDF word 1-2 grams and character 3-5 grams (hashed, see
  :mod:`workbench.policies.features`) plus the standardised hand-made features;
* ``hgb``: scikit-learn's HistGradientBoosting on the hand-made features;
* ``stack``: per model, a logistic regression on the two base learners' logits.

Each base learner's inner models predict the held-out outer fold and their predictions are averaged
(a cross-validation ensemble: no refit on the whole training set, half the cost); Platt scaling fitted
on the inner out-of-fold predictions calibrates them, so a probability of 0.7 means about 70% right.
The candidate with the best inner score (``select``: gain ranking for a pair of models, Brier score
for a fleet) predicts that outer fold; the choice is recorded per fold. idf weights and the scaling of
the hand-made features are fitted per outer fold on its training rows (they use no label).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from workbench.policies.features import dense_features, hashed_counts
from workbench.policies.learned import assign_folds

__all__ = ["CANDIDATES", "QualityPredictions", "cross_fitted_quality", "gain_selector", "brier_selector",
           "quality_note", "expected_gain", "prompt_features"]

#: The candidate learners, in the order they are reported.
CANDIDATES = ("logreg", "hgb", "stack")
_BASES = ("logreg", "hgb")
_EPS = 1e-6

#: ``select(probabilities {model: array}, labels {model: 0/1 array}) -> score``, higher is better.
Selector = Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray]], float]


def quality_note(folds: int = 5, inner: int = 3) -> str:
    """The method note shown next to figures routed by these predictions."""
    return (f"quality predictions: out of fold ({folds}-fold cross-fitting, identical texts share a fold); "
            f"the learner (logistic regression on TF-IDF words + characters + prompt features, gradient "
            f"boosting on prompt features, or their stack) chosen per fold by {inner}-fold inner CV on the "
            f"training folds only; Platt-calibrated")


@dataclass
class QualityPredictions:
    """Calibrated out-of-fold P(score >= 0.5) per model (arrays in text order), per candidate and
    for the candidate the inner CV selected in each outer fold (``chosen``: one name per fold)."""

    models: list[str]
    candidates: dict[str, dict[str, np.ndarray]]
    selected: dict[str, np.ndarray]
    chosen: list[str] = field(default_factory=list)


def gain_selector(strong: str, weak: str) -> Selector:
    """Inner score for a two-model router: area under the cumulative gain curve of ranking by
    P(strong) - P(weak) (APGR up to an affine map, so the same ordering of candidates)."""
    def score(p: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray]) -> float:
        gain = (y[strong] - y[weak]).astype(float)
        order = np.argsort(-(p[strong] - p[weak]), kind="stable")
        return float(np.cumsum(gain[order]).mean())
    return score


def brier_selector(p: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray]) -> float:
    """Inner score for a fleet: minus the mean Brier score over its models."""
    return -float(np.mean([np.mean((p[m] - y[m]) ** 2) for m in p]))


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


def _fit_predict(kind: str, x_fit, y: np.ndarray, x_out, seed: int) -> np.ndarray:
    """P(label 1) for ``x_out`` from a ``kind`` learner fitted on ``(x_fit, y)``; one class: its rate."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():
        return np.full(x_out.shape[0], float(y[0]))
    if kind == "logreg":  # dual: one variable per prompt, far fewer than hashed n-grams
        model = LogisticRegression(solver="liblinear", dual=True, C=0.3, max_iter=1000, random_state=seed)
    elif kind == "hgb":
        # Shallow, slow and with large leaves: a few thousand noisy 0/1 labels overfit anything deeper.
        model = HistGradientBoostingClassifier(max_iter=60, learning_rate=0.05, max_depth=3,
                                               min_samples_leaf=max(40, len(y) // 40), l2_regularization=3.0,
                                               early_stopping=False, random_state=seed)
    else:  # the stack and Platt scaling: a logistic regression on one or two columns
        model = LogisticRegression(solver="liblinear", C=100.0, max_iter=1000, random_state=seed)
    model.fit(x_fit, y)
    return model.predict_proba(x_out)[:, 1]


class _Design:
    """The features of one outer fold: idf and scaling fitted on its training rows only."""

    def __init__(self, feats: dict, train: np.ndarray):
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.preprocessing import StandardScaler

        parts = [TfidfTransformer(sublinear_tf=True).fit(feats[k][train]).transform(feats[k])
                 for k in ("words", "chars")]
        dense = StandardScaler().fit(feats["dense"][train]).transform(feats["dense"])
        # The hand-made features are few against ~10^5 n-grams; 0.3 keeps them from dominating the penalty.
        self.sparse = sp.hstack(parts + [sp.csr_matrix(dense * 0.3)]).tocsr()
        self.dense = feats["dense"]

    def rows(self, kind: str, idx: np.ndarray):
        """The ``kind`` learner's input rows."""
        return self.sparse[idx] if kind == "logreg" else self.dense[idx]


def _inner(design: _Design, fold: np.ndarray, labels: dict, train: np.ndarray, test: np.ndarray,
           inner: int, seed: int) -> tuple[dict, dict]:
    """Per base learner and model: inner out-of-fold P over ``train`` (inner fold of each: ``fold``),
    and the inner models' mean P over ``test``."""
    oof = {b: {m: np.empty(len(train)) for m in labels} for b in _BASES}
    out = {b: {m: np.zeros(len(test)) for m in labels} for b in _BASES}
    for j in range(inner):
        fit, held = train[fold != j], np.flatnonzero(fold == j)
        for b in _BASES:
            x_fit = design.rows(b, fit)
            x_out = design.rows(b, np.concatenate([train[held], test]))
            for m, y in labels.items():
                p = _fit_predict(b, x_fit, y[fit], x_out, seed)
                oof[b][m][held] = p[:len(held)]
                out[b][m] += p[len(held):] / inner
    return oof, out


def _calibrated(oof: np.ndarray, y: np.ndarray, out: np.ndarray, fold: np.ndarray, seed: int):
    """Platt scaling: the held-out ``out`` mapped by a fit on all of ``oof``; ``oof`` itself mapped
    by fits on the other inner folds (so the inner score judges a calibration it did not fit)."""
    z, z_out = _logit(oof)[:, None], _logit(out)[:, None]
    inner_cal = np.empty(len(oof))
    for j in np.unique(fold):
        held = fold == j
        inner_cal[held] = _fit_predict("platt", z[~held], y[~held], z[held], seed)
    return inner_cal, _fit_predict("platt", z, y, z_out, seed)


def _candidates(oof: dict, out: dict, labels_tr: dict, fold: np.ndarray, seed: int) -> tuple[dict, dict]:
    """Every candidate's calibrated inner out-of-fold P and held-out P, per model."""
    inner_p: dict = {c: {} for c in CANDIDATES}
    test_p: dict = {c: {} for c in CANDIDATES}
    for m, y in labels_tr.items():
        for b in _BASES:
            inner_p[b][m], test_p[b][m] = _calibrated(oof[b][m], y, out[b][m], fold, seed)
        z = np.column_stack([_logit(oof[b][m]) for b in _BASES])
        z_out = np.column_stack([_logit(out[b][m]) for b in _BASES])
        stack_inner = np.empty(len(y))
        for j in np.unique(fold):
            held = fold == j
            stack_inner[held] = _fit_predict("stack", z[~held], y[~held], z[held], seed)
        inner_p["stack"][m], test_p["stack"][m] = stack_inner, _fit_predict("stack", z, y, z_out, seed)
    return inner_p, test_p


def prompt_features(texts: Sequence[str]) -> dict:
    """Hashed word and character n-gram counts and the hand-made features of every text."""
    return {"words": hashed_counts(texts, "words"), "chars": hashed_counts(texts, "chars"),
            "dense": dense_features(texts)}


def cross_fitted_quality(texts: Sequence[str], scores: Mapping[str, Sequence[float]], *, folds: int = 5,
                         inner: int = 3, seed: int = 0, select: Selector = brier_selector,
                         features: dict | None = None) -> QualityPredictions:
    """Calibrated out-of-fold P(score >= 0.5) of every model in ``scores`` (``{model: score per
    text}``), per candidate and as chosen by nested CV with ``select`` (see the module docstring)."""
    from threadpoolctl import threadpool_limits

    # One OpenMP thread for gradient boosting: its fits here are small and many, and threads spinning
    # on a shared machine made them 20x slower (a 450-prompt fit took 200 s of wall time with 2).
    with threadpool_limits(limits=1, user_api="openmp"):
        return _cross_fitted_quality(texts, scores, folds, inner, seed, select, features)


def _cross_fitted_quality(texts, scores, folds, inner, seed, select, features) -> QualityPredictions:
    n = len(texts)
    labels = {}
    for m, s in scores.items():
        y = np.asarray(s, dtype=float)
        if len(y) != n:
            raise ValueError(f"{n} texts but {len(y)} scores of {m}")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"scores of {m} must be finite numbers in 0..1")
        labels[m] = (y >= 0.5).astype(int)
    if inner < 2:
        raise ValueError(f"nested cross-validation needs at least 2 inner folds, got {inner}")
    outer = assign_folds(texts, folds, seed)
    feats = features if features is not None else prompt_features(texts)
    docs = np.array([str(t) for t in texts], dtype=object)
    cand = {c: {m: np.empty(n) for m in labels} for c in CANDIDATES}
    selected = {m: np.empty(n) for m in labels}
    chosen = []
    for k in range(folds):
        train, test = np.flatnonzero(outer != k), np.flatnonzero(outer == k)
        design = _Design(feats, train)
        fold = assign_folds(docs[train], inner, seed + 1 + k)  # grouped by text, like the outer folds
        oof, out = _inner(design, fold, labels, train, test, inner, seed + 1 + k)
        labels_tr = {m: y[train] for m, y in labels.items()}
        inner_p, test_p = _candidates(oof, out, labels_tr, fold, seed)
        judged = {c: select(inner_p[c], labels_tr) for c in CANDIDATES}
        best = max(CANDIDATES, key=lambda c: (judged[c], -CANDIDATES.index(c)))
        chosen.append(best)
        for c in CANDIDATES:
            for m in labels:
                cand[c][m][test] = test_p[c][m]
        for m in labels:
            selected[m][test] = test_p[best][m]
    return QualityPredictions(list(labels), cand, selected, chosen)


def expected_gain(pred: Mapping[str, np.ndarray], strong: str, weak: str) -> np.ndarray:
    """P(strong right) - P(weak right): the expected gain of a strong call (the two-model score)."""
    return np.asarray(pred[strong]) - np.asarray(pred[weak])

