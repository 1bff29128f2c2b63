"""Routing quality on RouteLLM's real outcomes (GSM8K, MMLU): sweep, oracle, random, APGR, CPT, learned.

The matrices are built straight from RouteLLM's CSVs: prompt_key = SHA-256 of the prompt, score = the
model's True/False, cost = the model's price x (characters / 4) for the prompt and, on GSM8K, for the
recorded answer (MMLU answers one letter: 1 token). A rough token estimate is enough here: the tests
compare routes over the same costs, they do not quote prices.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
import pytest
from conftest import routellm_dir

from workbench.analysis.routing import (apgr, cpt, model_cost, model_quality, oracle, random_apgr_sd, random_curve,
                                        random_route, routing_curve, routing_metrics)
from workbench.errors import InputError
from workbench.policies.learned import cross_fitted_scores

WEAK, STRONG = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
PRICE = {WEAK: (0.60, 0.60), STRONG: (10.0, 30.0)}  # $ per million tokens, in / out


def _wide(name: str) -> pd.DataFrame:
    root = routellm_dir()
    if name == "gsm8k":
        return pd.read_csv(root / "gsm8k" / "gsm8k_responses.csv")
    files = sorted((root / "mmlu").glob("mmlu_*.csv"))
    assert len(files) == 57
    # 105 of MMLU's 14,042 questions repeat one another (same text, so the same prompt_key): keep the
    # first of each. A repeat in another fold would also hand the learned scorer its own label.
    return pd.concat([pd.read_csv(f) for f in files]).drop_duplicates("prompt").reset_index(drop=True)


def _matrix(wide: pd.DataFrame) -> pd.DataFrame:
    keys = [hashlib.sha256(p.encode("utf-8")).hexdigest() for p in wide["prompt"]]
    prompt_tokens = wide["prompt"].str.len() / 4
    parts = []
    for model, (p_in, p_out) in PRICE.items():
        answer = f"{model}_response"
        out_tokens = wide[answer].fillna("").str.len() / 4 if answer in wide else 1.0
        parts.append(pd.DataFrame({"prompt_key": keys, "model": model, "score": wide[model].astype(float),
                                   "cost_usd": (p_in * prompt_tokens + p_out * out_tokens) / 1e6}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module", params=["gsm8k", "mmlu"])
def data(request):
    """(name, wide CSV rows, long matrix, prompt keys in row order) for one benchmark."""
    wide = _wide(request.param)
    keys = pd.Index([hashlib.sha256(p.encode("utf-8")).hexdigest() for p in wide["prompt"]])
    return request.param, wide, _matrix(wide), keys


def _by_key(keys: pd.Index, values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=keys)


# Known counts (read off the CSVs): prompts, weak correct, strong correct, either correct, strong only.
COUNTS = {"gsm8k": (1319, 842, 1130, 1225, 383), "mmlu": (13937, 9479, 11230, 11967, 2488)}


def test_curve_endpoints_are_the_two_models_exactly(data):
    name, wide, matrix, keys = data
    n, weak_ok, strong_ok, _, _ = COUNTS[name]
    q, c = model_quality(matrix), model_cost(matrix)
    assert (q[WEAK], q[STRONG]) == (weak_ok / n, strong_ok / n)
    curve = routing_curve(matrix, STRONG, WEAK, _by_key(keys, wide["prompt"].str.len()))
    assert len(curve) == 101 and curve["strong_share"].iloc[50] == 0.5
    first, last = curve.iloc[0], curve.iloc[-1]
    assert (first["quality"], last["quality"]) == (q[WEAK], q[STRONG])
    assert (first["pgr"], last["pgr"]) == (0.0, 1.0)
    assert first["cost_usd"] == pytest.approx(c[WEAK], rel=1e-12)
    assert last["cost_usd"] == pytest.approx(c[STRONG], rel=1e-12)


def test_each_share_sends_exactly_round_s_n_prompts_strong_ties_by_key(data):
    name, wide, matrix, keys = data
    n = COUNTS[name][0]
    # A scorer with only 5 distinct values: almost every cut falls inside a tie.
    scores = _by_key(keys, wide["prompt"].str.len() // 200)
    curve = routing_curve(matrix, STRONG, WEAK, scores, shares=[0.0, 0.3, 0.55, 1.0]).set_index("strong_share")
    table = pd.DataFrame({"key": keys, "score": scores.to_numpy(), "w": wide[WEAK].astype(float),
                          "s": wide[STRONG].astype(float)}).sort_values(["score", "key"], ascending=[False, True])
    for share, k in ((0.3, round(0.3 * n)), (0.55, math.floor(0.55 * n + 0.5))):
        by_hand = (table["s"].iloc[:k].sum() + table["w"].iloc[k:].sum()) / n
        assert curve.at[share, "quality"] == pytest.approx(by_hand, abs=1e-15)


def test_oracle_is_the_limit_and_counts_any_correct_model(data):
    name, wide, matrix, _ = data
    n, weak_ok, strong_ok, either_ok, strong_only = COUNTS[name]
    best = oracle(matrix)
    assert best["n"] == n
    assert best["quality"] == either_ok / n == (wide[WEAK] | wide[STRONG]).mean()
    assert best["quality"] >= model_quality(matrix).max()
    assert best["quality"] - strong_ok / n == pytest.approx((either_ok - strong_ok) / n)
    # The weak model is cheaper on every prompt here, so the strong one gets exactly the prompts that
    # only it answers right, and costs only for those.
    costs = matrix.pivot(index="prompt_key", columns="model", values="cost_usd")
    assert (costs[WEAK] < costs[STRONG]).all()
    assert best["share"] == {STRONG: strong_only / n, WEAK: 1 - strong_only / n}
    assert best["cost_usd"] < model_cost(matrix)[STRONG]
    only_strong = wide[STRONG] & ~wide[WEAK]
    keys = [hashlib.sha256(p.encode("utf-8")).hexdigest() for p in wide["prompt"]]
    expected = np.where(only_strong, costs[STRONG].reindex(keys), costs[WEAK].reindex(keys)).sum()
    assert best["cost_usd"] == pytest.approx(expected, rel=1e-12)


def test_random_expectation_recovers_half_the_gap(data):
    _, _, matrix, _ = data
    curve = random_curve(matrix, STRONG, WEAK)
    q = model_quality(matrix)
    # 0.5 up to float rounding (seen: 3e-16 and 4e-16 off): the curve's qualities are rounded floats, so
    # even exact arithmetic on them can miss 0.5 by an ulp. CPT compares the same expression, so it is exact.
    assert apgr(curve, q[WEAK], q[STRONG]) == pytest.approx(0.5, abs=1e-12)
    assert cpt(curve, q[WEAK], q[STRONG], 0.5) == 0.5
    assert cpt(curve, q[WEAK], q[STRONG], 0.8) == 0.8
    assert curve["quality"].iloc[0] == q[WEAK] and curve["quality"].iloc[-1] == q[STRONG]
    cost = model_cost(matrix)
    assert curve["cost_usd"].iloc[30] == pytest.approx(0.7 * cost[WEAK] + 0.3 * cost[STRONG])


def test_one_realised_random_route_recovers_about_p_of_the_gap(data):
    name, wide, matrix, _ = data
    n, weak_ok, strong_ok, _, _ = COUNTS[name]
    p = 0.3
    got = random_route(matrix, STRONG, WEAK, p, seed=7)
    # Each prompt goes strong with probability p; only prompts where the models disagree (d = +-1)
    # move quality, so sd(quality) = sqrt(p (1 - p) * #disagreeing) / n, and sd(pgr) = that / gap.
    disagree = int((wide[WEAK] != wide[STRONG]).sum())
    gap = (strong_ok - weak_ok) / n
    sd_pgr = math.sqrt(p * (1 - p) * disagree) / n / gap  # GSM8K 0.035, MMLU 0.015 (seed 7: 0.330, 0.303)
    assert abs(got["pgr"] - p) < 3 * sd_pgr
    assert abs(got["strong_share"] - p) < 3 * math.sqrt(p * (1 - p) / n)
    assert got["pgr"] == pytest.approx((got["quality"] - weak_ok / n) / gap)


def test_cpt_is_the_first_crossing_interpolated_not_np_interp():
    # A curve that overshoots, dips back, then rises again (q_weak 0.5, q_strong 0.9).
    curve = pd.DataFrame({"strong_share": [0.0, 0.2, 0.4, 0.6, 1.0], "quality": [0.5, 0.8, 0.6, 0.7, 0.9]})
    assert cpt(curve, 0.5, 0.9, 0.25) == pytest.approx(0.2 / 3)  # target 0.6: a third of the way to 0.2
    assert cpt(curve, 0.5, 0.9, 0.75) == 0.2                      # target 0.8: reached at a grid point
    assert cpt(curve.iloc[[0, 2]], 0.5, 0.9, 0.75) is None
    # RouteLLM's np.interp assumes quality rises with the share; on this curve it answers 0.8, not 0.2:
    assert np.interp(0.8, curve["quality"], curve["strong_share"]) == pytest.approx(0.8)
    # APGR: the mean PGR over the span by trapezoids; PGR 0, 0.75, 0.25, 0.5, 1 gives
    # 0.075 + 0.1 + 0.075 + 0.3.
    assert apgr(curve, 0.5, 0.9) == pytest.approx(0.55)


def test_bad_matrices_and_scores_get_one_clear_error():
    m = pd.DataFrame({"prompt_key": ["a", "a", "b", "b"], "model": ["s", "w", "s", "w"],
                      "score": [1.0, 0.0, 1.0, 1.0], "cost_usd": [2.0, 1.0, 2.0, 1.0]})
    scores = pd.Series([1.0, 0.0], index=["a", "b"])
    with pytest.raises(InputError, match="prompt b has a second row for model w"):
        routing_curve(pd.concat([m, m.iloc[[3]]]), "s", "w", scores)
    with pytest.raises(InputError, match="model 'x' is not in the outcome matrix"):
        oracle(m, ["s", "x"])
    with pytest.raises(InputError, match="1 prompt.* e.g. prompt b has none for w"):
        random_curve(m.iloc[:3], "s", "w")
    with pytest.raises(InputError, match="1 prompt.* no finite score, e.g. b"):
        routing_curve(m, "s", "w", scores.iloc[:1])
    with pytest.raises(InputError, match="score must be in 0..1"):
        model_quality(m.assign(score=[1.0, 0.0, 2.0, 1.0]))
    with pytest.raises(InputError, match="lacks column.*cost_usd"):
        model_cost(m.drop(columns="cost_usd"))
    with pytest.raises(InputError, match="model 's' is not in the outcome matrix"):
        oracle(m.iloc[:0], ["s", "w"])
    with pytest.raises(ValueError, match="strictly increasing"):
        routing_curve(m, "s", "w", scores, shares=[0.0, 0.5, 0.5, 1.0])


# -- a learned scorer, out of sample -------------------------------------------------------------------

#: APGR of the cross-fitted TF-IDF + logistic regression scorer, measured when written (seed 0, 5 folds):
#: GSM8K 0.5514, MMLU 0.5952 (RouteLLM reports about 0.5-0.6 for its learned routers on these). The
#: floors sit just below. "Above random" is measured in standard deviations of a random ranking's APGR
#: (``random_apgr_sd``: GSM8K 0.0204, MMLU 0.0090): z = 2.5 on GSM8K (modest: p about 0.006) and
#: 10.5 on MMLU.
LEARNED_FLOOR = {"gsm8k": 0.545, "mmlu": 0.585}
LEARNED_MIN_Z = {"gsm8k": 2.0, "mmlu": 8.0}
#: The prompt-length scorer, for comparison (deterministic, so pinned): on GSM8K it beats the learned one.
LENGTH_APGR = {"gsm8k": 0.600868, "mmlu": 0.585691}


@pytest.fixture(scope="module")
def learned(data):
    """Cross-fitted P(weak model fails) per prompt, by prompt_key."""
    _, wide, _, keys = data
    return _by_key(keys, cross_fitted_scores(wide["prompt"].tolist(), wide[WEAK].astype(float)))


def test_learned_scorer_out_of_sample_against_random(data, learned):
    name, wide, matrix, keys = data
    n, weak_ok, _, either_ok, _ = COUNTS[name]
    got = routing_metrics(matrix, STRONG, WEAK, learned)
    assert got["n"] == n and got["q_weak"] == weak_ok / n and got["oracle"]["quality"] == either_ok / n
    assert got["apgr"] > LEARNED_FLOOR[name]
    assert (got["apgr"] - 0.5) / got["random_apgr_sd"] > LEARNED_MIN_Z[name]
    assert 0 < got["cpt50"] < 0.5 and got["cpt50"] < got["cpt80"] < 0.8
    length = routing_metrics(matrix, STRONG, WEAK, _by_key(keys, wide["prompt"].str.len()))
    assert length["apgr"] == pytest.approx(LENGTH_APGR[name], abs=1e-6)


def test_random_apgr_sd_matches_shuffled_rankings():
    wide = _wide("gsm8k")
    matrix, keys = _matrix(wide), pd.Index([hashlib.sha256(p.encode()).hexdigest() for p in wide["prompt"]])
    sd = random_apgr_sd(matrix, STRONG, WEAK)
    assert sd == pytest.approx(0.0205, abs=0.001)  # 200 shuffles gave 0.0205 when this was written
    rng = np.random.default_rng(3)
    q = model_quality(matrix)
    draws = [apgr(routing_curve(matrix, STRONG, WEAK, _by_key(keys, rng.random(len(keys)))), q[WEAK], q[STRONG])
             for _ in range(30)]
    # 30 draws: the sample sd is within 3 x 13% of the true one, the mean within 3 sd / sqrt(30).
    assert np.std(draws, ddof=1) == pytest.approx(sd, rel=0.4)
    assert abs(np.mean(draws) - 0.5) < 3 * sd / math.sqrt(30)
