"""Off-policy estimators against the truth: a randomized router's synthetic log drawn from the simulator.

The coverage test runs 200 seeds (600 logged rows each, 400 bootstrap resamples): every estimator's
95% interval must contain the target policy's true mean quality and mean cost in at least 90% of them.
"""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_log import ACTIONS, build_fleet, draw_log, skewed_logging, target_policy, true_value, uniform_logging

from workbench.analysis.offpolicy import (
    ESTIMATORS,
    MIN_ESS_SHARE,
    LoggedBandit,
    kish_ess,
    off_policy_estimates,
)

SEEDS = 200
ROWS = 600


@pytest.fixture(scope="module")
def fleet():
    return build_fleet()


def test_intervals_cover_the_true_value_in_at_least_90_percent_of_200_seeds(fleet):
    target_pool = target_policy(fleet)
    truth_q, truth_c = true_value(fleet, target_pool)
    hits = {(m, e): 0 for m in ("quality", "cost_usd") for e in ESTIMATORS}
    ess = []
    for seed in range(SEEDS):
        log, rows = draw_log(fleet, uniform_logging(fleet), ROWS, seed)
        res = off_policy_estimates(log, target_pool[rows], n_boot=400, seed=seed)
        ess.append(res.ess)
        for e in ESTIMATORS:
            hits["quality", e] += getattr(res.quality, e).contains(truth_q)
            hits["cost_usd", e] += getattr(res.cost_usd, e).contains(truth_c)
    coverage = {k: v / SEEDS for k, v in hits.items()}
    print(f"truth quality {truth_q:.4f} cost {truth_c:.3e}; coverage {coverage}; ESS median {np.median(ess):.1f}")
    assert all(c >= 0.90 for c in coverage.values()), coverage
    # the target differs from the logging router, so the weights are not all 1, yet overlap is fine
    assert 0.2 * ROWS < np.median(ess) < 0.6 * ROWS


def test_the_logging_policy_itself_has_weights_one_and_full_ess(fleet):
    log, rows = draw_log(fleet, uniform_logging(fleet), 300, seed=1)
    res = off_policy_estimates(log, uniform_logging(fleet)[rows], n_boot=200)
    assert res.ess == pytest.approx(300) and res.max_weight == pytest.approx(1.0)
    # w = 1: IPS and SNIPS are the plain mean of the logged rewards
    assert res.quality.ips.value == pytest.approx(log.quality.mean())
    assert res.quality.snips.value == pytest.approx(log.quality.mean())
    assert res.trusted and res.reasons == []


def test_poor_overlap_is_flagged(fleet):
    log, rows = draw_log(fleet, skewed_logging(fleet), ROWS, seed=3)
    always_local = np.eye(len(ACTIONS))[np.full(ROWS, 2)]
    res = off_policy_estimates(log, always_local, n_boot=200)
    assert not res.trusted
    assert res.ess < MIN_ESS_SHARE * ROWS
    assert any("effective sample size" in r for r in res.reasons)
    # the good log with the same target is trusted
    good, rows = draw_log(fleet, uniform_logging(fleet), ROWS, seed=3)
    assert off_policy_estimates(good, always_local, n_boot=200).trusted


def test_a_model_the_log_never_shows_is_unsupported():
    log = LoggedBandit(("a", "b"), ("x",), np.zeros(200, int), np.full(200, 0.5), np.zeros(200, int),
                       np.ones(200), np.ones(200))
    res = off_policy_estimates(log, np.tile([0.0, 1.0], (200, 1)), n_boot=50)
    assert res.unsupported_share == 1.0 and res.ess == 0.0 and not res.trusted
    assert res.quality.ips.value == 0.0  # IPS sees nothing of model b
    assert np.isnan(res.quality.snips.value)  # no weight at all: SNIPS is undefined, not 0


def test_estimators_by_hand_on_a_tiny_log():
    # two actions, one category; propensities 0.5 / 0.25; target: always action 1
    log = LoggedBandit(("a", "b"), ("x",), np.array([0, 1, 1, 0]), np.array([0.5, 0.25, 0.5, 0.5]),
                       np.zeros(4, int), np.array([1.0, 1.0, 0.0, 0.0]), np.array([1.0, 3.0, 5.0, 1.0]))
    target = np.tile([0.0, 1.0], (4, 1))
    res = off_policy_estimates(log, target, n_boot=10)
    w = np.array([0, 4, 2, 0])
    assert res.quality.ips.value == pytest.approx(np.mean(w * log.quality))         # 1.0
    assert res.quality.snips.value == pytest.approx((w * log.quality).sum() / w.sum())  # 4/6
    # DR: q(x, b) = mean of b's rewards = 0.5; DR = mean(0.5 + w (r - 0.5) [a = b])
    q_b = 0.5
    assert res.quality.dr.value == pytest.approx(np.mean(q_b + w * (log.quality - q_b) * (log.action == 1)))
    assert kish_ess(w) == pytest.approx(36 / 20)
    # a fixed reward model is used as given
    fixed = np.tile([0.3, 0.9], (4, 1))
    dr = off_policy_estimates(log, target, n_boot=10, quality_model=fixed).quality.dr.value
    assert dr == pytest.approx(np.mean(0.9 + w * (log.quality - fixed[np.arange(4), log.action])))


def test_bootstrap_is_seeded_and_missing_rewards_are_left_out():
    log = LoggedBandit(("a", "b"), ("x", "y"), np.array([0, 1] * 50), np.full(100, 0.5),
                       np.array([0, 0, 1, 1] * 25), np.r_[np.full(50, np.nan), np.ones(50)], np.ones(100))
    target = np.tile([0.5, 0.5], (100, 1))
    a = off_policy_estimates(log, target, n_boot=100, seed=7)
    b = off_policy_estimates(log, target, n_boot=100, seed=7)
    assert a.as_dict() == b.as_dict()
    assert a.quality.rows == 50 and a.cost_usd.rows == 100
    with pytest.raises(ValueError, match="propensities"):
        LoggedBandit(("a",), ("x",), np.zeros(1, int), np.zeros(1), np.zeros(1, int), np.ones(1), np.ones(1))
