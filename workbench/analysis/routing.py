"""Routing quality over an outcome matrix: the threshold sweep, APGR, CPT, random routing, the oracle.

Why over an outcome matrix and not over runs: when every model's score and cost for every prompt is
known (``matrix``: one row per prompt x model, columns ``prompt_key, model, score, cost_usd``), the
result of *any* router that sends each prompt to one model is a sum over that matrix. A whole sweep of
thresholds is then one sort and two cumulative sums, exact and free, instead of one replay per
threshold. Replays stay the place for latency, errors and budgets; this module answers only "how much
of the strong model's quality does this scorer buy per strong call?".

Definitions (RouteLLM's, ``routellm/evals/evaluate.py``; where this differs, it says why):

* ``strong_share`` x: the share of prompts sent to the strong model. For each x on a grid,
  ``round(x * n)`` prompts go strong (half up): the highest-scored ones, ties broken by ``prompt_key``.
  RouteLLM sweeps thresholds instead, so its x is whatever share a threshold happened to give; an
  exact count puts every router on the same grid and makes the endpoints the two models exactly.
* ``quality``: mean score over the prompts; ``cost_usd``: total cost of the routed calls.
* PGR(x) = (quality(x) - q_weak) / (q_strong - q_weak): the share of the quality gap recovered.
* APGR = (AUC - weak_auc) / (strong_auc - weak_auc), trapezoids over the swept x range (RouteLLM's
  formula; on the default grid x spans [0, 1] and APGR is the mean PGR). Random routing scores 0.5.
* CPT(p): the strong share at which quality *first* reaches (1 - p) * q_weak + p * q_strong, linearly
  interpolated between the grid point before and the one at the crossing. RouteLLM uses
  ``np.interp(target, accuracy, share)``, which assumes quality only rises with the share; a real
  curve wiggles, and ``np.interp`` then answers silently from the wrong segment.
* Random routing is given as its expectation (quality and cost linear in x), not as a sampled run,
  so its APGR is 0.5 and CPT(p) is p up to float rounding, with no sampling noise to explain.
  ``random_route`` draws one realised random assignment, to show how far a single one strays, and
  ``random_apgr_sd`` is the spread of a random ranking's APGR: the yardstick for "better than random".
* The oracle sends each prompt to the cheapest of the models with its best score: the limit no router
  choosing among those models can beat, in quality and, at that quality, in cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench.errors import InputError

__all__ = ["model_quality", "model_cost", "oracle", "routing_curve", "random_curve", "random_route",
           "random_apgr_sd", "apgr", "cpt", "routing_metrics", "DEFAULT_SHARES"]

_COLUMNS = ("prompt_key", "model", "score", "cost_usd")

#: The default sweep: strong shares 0, 0.01, ..., 1 (i / 100, so 0.5 is exactly 0.5).
DEFAULT_SHARES = np.arange(101) / 100


def _checked(matrix: pd.DataFrame) -> pd.DataFrame:
    """The matrix's four columns, typed; one clear error for a missing column, a gap or a duplicate."""
    missing = [c for c in _COLUMNS if c not in matrix.columns]
    if missing:
        raise InputError(f"outcome matrix lacks column(s) {', '.join(missing)}; it needs "
                         f"{', '.join(_COLUMNS)}", field=missing[0])
    m = matrix.loc[:, list(_COLUMNS)].reset_index(drop=True)  # "row i" below: the i-th row, from 0
    m["prompt_key"] = m["prompt_key"].astype(str)
    m["model"] = m["model"].astype(str)
    for col in ("score", "cost_usd"):
        m[col] = pd.to_numeric(m[col], errors="coerce").astype(float)
        bad = ~np.isfinite(m[col].to_numpy())
        if bad.any():
            row = m.index[bad][0]
            raise InputError(f"outcome matrix row {row}: {col} is not a finite number", field=col)
    out = (m["score"] < 0) | (m["score"] > 1) | (m["cost_usd"] < 0)
    if out.any():
        row = m.index[out.to_numpy()][0]
        raise InputError(f"outcome matrix row {row}: score must be in 0..1 and cost_usd >= 0 "
                         f"(got {m['score'].loc[row]}, {m['cost_usd'].loc[row]})", field="score")
    dup = m.duplicated(["prompt_key", "model"])
    if dup.any():
        row = m.index[dup.to_numpy()][0]
        raise InputError(f"outcome matrix row {row}: prompt {m['prompt_key'].loc[row]} has a second row "
                         f"for model {m['model'].loc[row]}", field="prompt_key")
    return m


def _wide(matrix: pd.DataFrame, models: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score and cost tables (prompts sorted by key x ``models``); every prompt must have every model."""
    m = _checked(matrix)
    known = set(m["model"])
    for name in models:
        if name not in known:
            raise InputError(f"model {name!r} is not in the outcome matrix (it has "
                             f"{', '.join(sorted(known))})", field="model")
    m = m[m["model"].isin(list(models))]
    if m.empty:
        raise InputError("outcome matrix has no rows", field="prompt_key")
    scores = m.pivot(index="prompt_key", columns="model", values="score").sort_index()
    costs = m.pivot(index="prompt_key", columns="model", values="cost_usd").sort_index()
    scores, costs = scores.loc[:, list(models)], costs.loc[:, list(models)]
    gaps = scores.isna().any(axis=1)
    if gaps.any():
        # A router over an incomplete matrix would be scored on different prompts per model.
        key = scores.index[gaps.to_numpy()][0]
        lacking = [name for name in models if pd.isna(scores[name].loc[key])]
        raise InputError(f"outcome matrix: {int(gaps.sum())} prompt(s) lack an outcome for some model, "
                         f"e.g. prompt {key} has none for {', '.join(lacking)}", field="model")
    return scores, costs


def model_quality(matrix: pd.DataFrame) -> pd.Series:
    """Mean score per model (index: model)."""
    return _checked(matrix).groupby("model")["score"].mean().rename("quality")


def model_cost(matrix: pd.DataFrame) -> pd.Series:
    """Total cost per model of answering every prompt it has (index: model)."""
    return _checked(matrix).groupby("model")["cost_usd"].sum().rename("cost_usd")


def oracle(matrix: pd.DataFrame, models: Sequence[str] | None = None) -> dict:
    """Per prompt, the cheapest model with the best score: ``quality``, total ``cost_usd``,
    ``share`` per model, ``n``; the limit no router choosing among ``models`` can beat."""
    names = sorted(set(_checked(matrix)["model"])) if models is None else list(models)
    scores, costs = _wide(matrix, names)
    s, c = scores.to_numpy(), costs.to_numpy()
    best = s.max(axis=1)
    # Among the best-scored models, the cheapest; among equally cheap ones, the first in ``names``.
    price = np.where(s == best[:, None], c, np.inf)
    return {**_outcome(s, c, price.argmin(axis=1), names), "n": len(s)}


def _outcome(s: np.ndarray, c: np.ndarray, pick: np.ndarray, names: Sequence[str]) -> dict:
    """Mean ``quality``, total ``cost_usd`` and ``share`` per model when prompt i goes to column pick[i]."""
    rows = np.arange(len(s))
    counts = np.bincount(pick, minlength=len(names))
    return {"quality": float(s[rows, pick].mean()), "cost_usd": float(c[rows, pick].sum()),
            "share": {name: float(counts[i] / len(s)) for i, name in enumerate(names)}}


def _shares(shares: Sequence[float] | None) -> np.ndarray:
    x = DEFAULT_SHARES if shares is None else np.asarray(shares, dtype=float)
    if x.ndim != 1 or len(x) < 2 or not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ValueError("shares must be at least two strong shares in [0, 1]")
    if np.any(np.diff(x) <= 0):
        raise ValueError("shares must be strictly increasing")
    return x


def _pair(matrix: pd.DataFrame, strong: str, weak: str) -> pd.DataFrame:
    if strong == weak:
        raise ValueError(f"strong and weak are the same model ({strong!r})")
    scores, costs = _wide(matrix, [strong, weak])
    return pd.DataFrame({"q_s": scores[strong], "q_w": scores[weak],
                         "c_s": costs[strong], "c_w": costs[weak]})


def _gap_frame(x: np.ndarray, quality: np.ndarray, cost: np.ndarray, qw: float, qs: float) -> pd.DataFrame:
    pgr = (quality - qw) / (qs - qw) if qs != qw else np.full(len(x), math.nan)
    return pd.DataFrame({"strong_share": x, "quality": quality, "cost_usd": cost, "pgr": pgr})


def routing_curve(matrix: pd.DataFrame, strong: str, weak: str, scores: pd.Series,
                  shares: Sequence[float] | None = None) -> pd.DataFrame:
    """Sweep the strong share: at each x, the ``round(x * n)`` highest ``scores`` (Series by
    prompt_key; ties by key) go strong. Columns strong_share, quality, cost_usd, pgr."""
    return _sweep(_pair(matrix, strong, weak), scores, _shares(shares))


def _sweep(pair: pd.DataFrame, scores: pd.Series, x: np.ndarray) -> pd.DataFrame:
    if not scores.index.is_unique:
        raise InputError("scores: a prompt_key appears twice", field="scores")
    s = scores.reindex(pair.index).to_numpy(dtype=float)
    if not np.all(np.isfinite(s)):
        lacking = pair.index[~np.isfinite(s)]
        raise InputError(f"scores: {len(lacking)} prompt(s) of the matrix have no finite score, "
                         f"e.g. {lacking[0]}", field="scores")
    n = len(pair)
    order = np.argsort(-s, kind="stable")  # pair is sorted by key, so stable = ties by key
    p = pair.iloc[order]
    k = _counts(x, n)
    # Top k strong, the rest weak: a prefix sum of the strong column plus a suffix sum of the weak one.
    strong_q = np.concatenate([[0.0], np.cumsum(p["q_s"].to_numpy())])
    weak_q = np.concatenate([np.cumsum(p["q_w"].to_numpy()[::-1])[::-1], [0.0]])
    strong_c = np.concatenate([[0.0], np.cumsum(p["c_s"].to_numpy())])
    weak_c = np.concatenate([np.cumsum(p["c_w"].to_numpy()[::-1])[::-1], [0.0]])
    quality = (strong_q[k] + weak_q[k]) / n
    cost = strong_c[k] + weak_c[k]
    qw, qs = float(pair["q_w"].mean()), float(pair["q_s"].mean())
    # All-weak and all-strong are the two models by definition; taking them as the column means keeps
    # PGR exactly 0 and 1 there, whatever order the sums above added in.
    quality = np.where(k == 0, qw, np.where(k == n, qs, quality))
    return _gap_frame(x, quality, cost, qw, qs)


def _counts(x: np.ndarray, n: int) -> np.ndarray:
    # round(x * n) half up; rounding x * n to 9 places first so 0.35 * 10 counts as 3.5, not 3.4999...
    return np.floor(np.round(x * n, 9) + 0.5).astype(int)


def random_curve(matrix: pd.DataFrame, strong: str, weak: str,
                 shares: Sequence[float] | None = None) -> pd.DataFrame:
    """The expectation of random routing: quality and cost linear in the strong share (exact, no draw)."""
    x = _shares(shares)
    pair = _pair(matrix, strong, weak)
    qw, qs = float(pair["q_w"].mean()), float(pair["q_s"].mean())
    cw, cs = float(pair["c_w"].sum()), float(pair["c_s"].sum())
    # The same expression as cpt()'s target, so CPT(p) of this curve is p exactly on a grid point.
    quality = (1 - x) * qw + x * qs
    frame = _gap_frame(x, quality, (1 - x) * cw + x * cs, qw, qs)
    if qs != qw:
        frame["pgr"] = x  # by definition; (quality - qw) / gap would add a rounding error
    return frame


def random_apgr_sd(matrix: pd.DataFrame, strong: str, weak: str, shares: Sequence[float] | None = None) -> float:
    """Standard deviation of the APGR of a uniformly random ranking (exact, no draws): a scorer whose
    APGR is within about two of these of 0.5 is not distinguishable from random on this data."""
    return _random_sd(_pair(matrix, strong, weak), _shares(shares))


def _random_sd(pair: pd.DataFrame, x: np.ndarray) -> float:
    d = (pair["q_s"] - pair["q_w"]).to_numpy()
    n, gap = len(d), float(d.mean())
    if n < 2 or gap == 0:
        return math.nan
    # APGR = sum_i w_i S(k_i) / (n gap span), S(k) = sum of d over the first k prompts of the ranking
    # (trapezoid weights w). Drawing k of n without replacement, Cov(S(a), S(b)) = a (n - b) var / (n - 1)
    # for a <= b, with var the population variance of d.
    k = _counts(x, n)
    w = np.zeros(len(x))
    w[:-1] += np.diff(x) / 2
    w[1:] += np.diff(x) / 2
    lo, hi = np.minimum.outer(k, k), np.maximum.outer(k, k)
    cov = lo * (n - hi) * float(d.var()) / (n - 1)
    return float(math.sqrt(max(w @ cov @ w, 0.0)) / (n * gap * (x[-1] - x[0])))


def random_route(matrix: pd.DataFrame, strong: str, weak: str, share: float, seed: int) -> dict:
    """One realised random routing: each prompt goes strong with probability ``share`` (seeded draw
    per prompt in key order). Returns the realised strong_share, quality, cost_usd and pgr."""
    if not 0 <= share <= 1:
        raise ValueError(f"share must be in [0, 1], got {share}")
    pair = _pair(matrix, strong, weak)
    go = np.random.default_rng(seed).random(len(pair)) < share
    quality = float(np.where(go, pair["q_s"], pair["q_w"]).mean())
    qw, qs = float(pair["q_w"].mean()), float(pair["q_s"].mean())
    return {"strong_share": float(go.mean()), "quality": quality,
            "cost_usd": float(np.where(go, pair["c_s"], pair["c_w"]).sum()),
            "pgr": (quality - qw) / (qs - qw) if qs != qw else math.nan}


def _sorted_curve(curve: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    c = curve.sort_values("strong_share")
    x, y = c["strong_share"].to_numpy(dtype=float), c["quality"].to_numpy(dtype=float)
    if len(x) < 2 or x[-1] <= x[0]:
        raise ValueError("a routing curve needs at least two distinct strong shares")
    return x, y


def apgr(curve: pd.DataFrame, q_weak: float, q_strong: float) -> float:
    """Average performance gap recovered: (AUC - weak_auc) / (strong_auc - weak_auc), trapezoids over
    the curve's strong_share range (RouteLLM's formula); NaN when the two models score the same."""
    x, y = _sorted_curve(curve)
    if q_strong == q_weak:
        return math.nan
    span = x[-1] - x[0]
    auc = math.fsum(np.diff(x) * (y[:-1] + y[1:])) / 2  # fsum: no drift over a fine grid
    return float((auc - q_weak * span) / ((q_strong - q_weak) * span))


def cpt(curve: pd.DataFrame, q_weak: float, q_strong: float, level: float) -> float | None:
    """Call-performance threshold: the strong share at which quality first reaches
    ``(1 - level) * q_weak + level * q_strong`` (linear between grid points); None if never."""
    x, y = _sorted_curve(curve)
    target = (1 - level) * q_weak + level * q_strong
    up = q_strong >= q_weak  # a "strong" model scoring lower than the weak one: reaching means falling
    reached = y >= target if up else y <= target
    if not reached.any():
        return None
    i = int(np.argmax(reached))
    if i == 0 or y[i] == target:
        return float(x[i])
    return float(x[i - 1] + (target - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1]))


def routing_metrics(matrix: pd.DataFrame, strong: str, weak: str, scores: pd.Series) -> dict:
    """APGR, CPT(50%), CPT(80%) of a scorer on the default sweep, with ``random_apgr_sd``, both
    models' quality and cost, the number of prompts and the oracle over the pair."""
    pair = _pair(matrix, strong, weak)
    curve = _sweep(pair, scores, DEFAULT_SHARES)
    best = oracle(matrix, [strong, weak])  # over the same prompts as the curve (both need all of them)
    first, last = curve.iloc[0], curve.iloc[-1]
    qw, qs = float(first["quality"]), float(last["quality"])
    return {"apgr": apgr(curve, qw, qs), "cpt50": cpt(curve, qw, qs, 0.5), "cpt80": cpt(curve, qw, qs, 0.8),
            "q_weak": qw, "q_strong": qs, "cost_weak_usd": float(first["cost_usd"]),
            "cost_strong_usd": float(last["cost_usd"]), "random_apgr_sd": _random_sd(pair, DEFAULT_SHARES),
            "n": best["n"], "oracle": best}
