"""Prompt features for learned routers: what a deployment can compute from the prompt's text alone.

Why these: a router decides before any model answers, so it may read the prompt and nothing else (no
answer, no grade, no benchmark category). What makes a prompt hard for a small model and not for a
large one shows in its text: how long it is and how many steps it chains (sentences, numbers,
operators), whether it asks a multiple-choice question and how long its options are, whether it
negates ("NOT", "EXCEPT") or holds code or non-English text. Those are the dense features below; the
words and character n-grams of the text (hashed, so no vocabulary is learned from any prompt, held
out or not) carry the rest: the topic, the kind of task.

Why hashing: a vocabulary built on all prompts would let held-out prompts shape the features. A
hashed count is a fact about one prompt alone, so counts are computed once for every prompt and each
fold's model learns idf weights and coefficients from its own training rows only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

__all__ = ["dense_features", "DENSE_NAMES", "hashed_counts"]

_WORD = re.compile(r"\b\w+\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\$?\d[\d,]*(?:\.\d+)?%?")
_OPERATOR = re.compile(r"[+\-*/=^<>×÷]")
_OPTION = re.compile(r"(?m)^\s*\(?[A-J][.)]\s")
_WH = re.compile(r"(?i)^\s*(what|how|which|why|who|whom|whose|when|where|is|are|does|do|can|find|calculate)\b")
_NEGATION = re.compile(r"\b(NOT|EXCEPT|LEAST|never|false)\b")
_CODE = re.compile(r"```|\bdef |\breturn\b|[{};]|\bimport |==|\bprint\(|\bfunction\b")
_SENTENCE = re.compile(r"[.!?](?:\s|$)")
_FRACTION = re.compile(r"\d+/\d+")
_UNITS = re.compile(r"(?i)\b(percent|%|per|each|every|times|twice|half|third|quarter|average|total|remaining|left)\b")
_STATEMENT = re.compile(r"(?i)\bstatement\s*\d|\b(I|II|III|IV)\b[.)]?\s")

#: Names of :func:`dense_features`' columns, in order.
DENSE_NAMES = (
    "log_chars", "log_words", "sentences", "mean_word_len", "long_word_share", "newlines",
    "numbers", "distinct_numbers", "log_max_number", "decimals", "fractions", "percents", "money",
    "operators", "unit_words", "questions", "ends_with_question", "wh_start", "options",
    "mean_option_chars", "max_option_chars", "numeric_options", "negations", "statements", "code_marks",
    "non_ascii_share", "upper_share", "capitalised_words", "quotes", "question_chars",
)


def _numbers(text: str) -> list[float]:
    out = []
    for tok in _NUMBER.findall(text):
        try:
            out.append(abs(float(tok.replace(",", "").replace("$", "").rstrip("%"))))
        except ValueError:
            continue
    return out


def _options(text: str) -> list[str]:
    """The text of each multiple-choice option (lines starting ``A.``, ``B)``...)."""
    lines = text.splitlines()
    return [ln.strip()[2:].strip() for ln in lines if _OPTION.match(ln)]


def _row(text: str) -> list[float]:
    words = _WORD.findall(text)
    nums = _numbers(text)
    opts = _options(text)
    stem = text.split("\nA.")[0] if opts else text  # the question before its options
    n_chars = max(len(text), 1)
    opt_len = [len(o) for o in opts] or [0]
    numeric_opts = sum(1 for o in opts if _numbers(o) and len(o) < 25)
    return [
        math.log1p(len(text)), math.log1p(len(words)), len(_SENTENCE.findall(text)),
        float(np.mean([len(w) for w in words])) if words else 0.0,
        sum(len(w) >= 9 for w in words) / max(len(words), 1), text.count("\n"),
        len(nums), len(set(nums)), math.log10(1 + max(nums)) if nums else 0.0,
        sum("." in t for t in _NUMBER.findall(text)), len(_FRACTION.findall(text)), text.count("%"),
        text.count("$"), len(_OPERATOR.findall(stem)), len(_UNITS.findall(text)), text.count("?"),
        float(stem.rstrip().endswith("?")), float(bool(_WH.match(text))), len(opts),
        float(np.mean(opt_len)), float(max(opt_len)), numeric_opts, len(_NEGATION.findall(text)),
        len(_STATEMENT.findall(text)), len(_CODE.findall(text)),
        sum(ord(c) > 127 for c in text) / n_chars, sum(c.isupper() for c in text) / n_chars,
        sum(w[:1].isupper() for w in words[1:]) / max(len(words), 1), text.count('"') + text.count("'"),
        math.log1p(len(stem)),
    ]


def dense_features(texts: Sequence[str]) -> np.ndarray:
    """One row of :data:`DENSE_NAMES` features per text (float64)."""
    return np.array([_row(str(t)) for t in texts], dtype=float).reshape(len(texts), len(DENSE_NAMES))


def hashed_counts(texts: Sequence[str], kind: str, n_features: int = 2 ** 20):
    """Sparse n-gram counts of each text, hashed (stateless: no vocabulary is learned).

    ``kind``: ``words`` (word 1-2 grams, scikit-learn's default tokens, lower-cased) or ``chars``
    (character 3-5 grams within word boundaries)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    if kind == "words":
        vec = HashingVectorizer(ngram_range=(1, 2), n_features=n_features, alternate_sign=False, norm=None)
    elif kind == "chars":
        vec = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), n_features=n_features,
                                alternate_sign=False, norm=None)
    else:
        raise ValueError(f"kind must be 'words' or 'chars', got {kind!r}")
    return vec.transform([str(t) for t in texts]).tocsr()
