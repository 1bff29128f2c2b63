"""Off-policy estimates: what a new router would score on traffic that an old, randomized router logged.

Why: a production log holds one answer per prompt, from the model the old router chose. When the old
router drew its choice at random and logged the probability of what it drew (the *propensity*), the
log is an unbiased sample of every model it could have chosen, reweighted: the new policy's mean
quality and cost can be estimated from it without asking any model again. The price is variance,
large when the new policy goes where the old one rarely went; so every estimate comes with a
bootstrap interval, the effective sample size of its weights and a verdict on the overlap.

Estimators (Dudik, Erhan, Langford, Li, "Doubly Robust Policy Evaluation and Optimization", 2014; the
forms Open Bandit Pipeline's ``obp.ope`` implements, checked against its docs), for logged rows
``(x_i, a_i, p_i, y_i)``, the new policy's probabilities ``pi(a | x_i)`` and weights
``w_i = pi(a_i | x_i) / p_i``:

* IPS   = mean(w_i y_i)
* SNIPS = sum(w_i y_i) / sum(w_i)  (self-normalized: bounded by the observed y; slightly biased)
* DR    = mean(sum_a pi(a | x_i) q(x_i, a) + w_i (y_i - q(x_i, a_i)))

``y`` is the quality score, then again the cost in USD. The reward model ``q`` of DR is, by default,
the mean of the logged ``y`` per (model, category), falling back to the model's mean over all
categories, then to the overall mean, fitted on the same log (so it is refitted in every bootstrap
resample, and its error is part of the interval). A caller may pass another ``q`` instead (a
simulated profile's expected quality, say): it is then held fixed.

Intervals: percentile bootstrap over logged rows (``n_boot`` resamples, seeded), vectorised as a
matrix of resample counts times per-row statistics, in batches so memory stays bounded.

Overlap: Kish's effective sample size ESS = (sum w)^2 / sum w^2 (equal to n when the new policy is the
old one). The estimates are flagged *too poor to trust* when ESS < :data:`MIN_ESS`, or ESS < n x
:data:`MIN_ESS_SHARE`, or the new policy puts more than :data:`MAX_UNSUPPORTED` of its choices on a
(category, model) pair the log never shows (there IPS is blind, and DR rests on its reward model's
fallback alone). These thresholds are this project's choice, not a theorem: a rule of thumb that an
importance-weighted mean resting on fewer than 100 effective rows, or on a tenth of the log, is too
noisy to act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = ["LoggedBandit", "Interval", "MetricEstimate", "OffPolicyResult", "off_policy_estimates", "kish_ess",
           "MIN_ESS", "MIN_ESS_SHARE", "MAX_UNSUPPORTED", "ESTIMATORS"]

#: Fewer effective rows than this: the overlap is too poor to trust the estimates.
MIN_ESS = 100.0
#: An effective sample under this share of the logged rows: too poor to trust.
MIN_ESS_SHARE = 0.10
#: More of the new policy's choices than this on (category, model) pairs the log never shows: too poor.
MAX_UNSUPPORTED = 0.05
#: The estimators, in the order they are reported.
ESTIMATORS = ("ips", "snips", "dr")
_BATCH_CELLS = 4_000_000  # resamples x rows per batch of the bootstrap (32 MB of float64)


@dataclass(frozen=True)
class LoggedBandit:
    """A log as arrays: per row the logged action (index into ``actions``), its propensity, the category
    (index into ``categories``), the quality score and the cost (NaN where the log has none)."""

    actions: tuple[str, ...]
    categories: tuple[str, ...]
    action: np.ndarray
    propensity: np.ndarray
    category: np.ndarray
    quality: np.ndarray
    cost: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.action)
        for name in ("propensity", "category", "quality", "cost"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"LoggedBandit.{name} has {len(getattr(self, name))} rows, action has {n}")
        p = np.asarray(self.propensity, dtype=float)
        if n and not (np.all(p > 0) and np.all(p <= 1)):
            raise ValueError("propensities must be in (0, 1]")


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval."""

    value: float
    lo: float
    hi: float

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies in [lo, hi]."""
        return self.lo <= x <= self.hi


@dataclass(frozen=True)
class MetricEstimate:
    """IPS, SNIPS and DR of one metric (quality or cost), over the ``rows`` logged rows that have it."""

    rows: int
    ips: Interval
    snips: Interval
    dr: Interval

    def as_dict(self) -> dict:
        """JSON-ready: per estimator ``value``, ``lo``, ``hi``."""
        return {"rows": self.rows, **{k: vars(getattr(self, k)) for k in ESTIMATORS}}


@dataclass(frozen=True)
class OffPolicyResult:
    """Estimates of mean quality and mean cost per request, with the overlap diagnostics."""

    rows: int
    ess: float
    max_weight: float
    unsupported_share: float
    quality: MetricEstimate | None
    cost_usd: MetricEstimate | None
    trusted: bool
    reasons: list[str] = field(default_factory=list)
    level: float = 0.95
    n_boot: int = 0

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"rows": self.rows, "ess": self.ess, "ess_share": self.ess / self.rows if self.rows else 0.0,
                "max_weight": self.max_weight, "unsupported_share": self.unsupported_share,
                "trusted": self.trusted, "reasons": list(self.reasons), "level": self.level, "n_boot": self.n_boot,
                "quality": None if self.quality is None else self.quality.as_dict(),
                "cost_usd": None if self.cost_usd is None else self.cost_usd.as_dict()}


def kish_ess(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 (0 when every weight is 0)."""
    w = np.asarray(weights, dtype=float)
    sq = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / sq if sq > 0 else 0.0


def off_policy_estimates(log: LoggedBandit, target: np.ndarray, *, n_boot: int = 1000, seed: int = 0,
                         level: float = 0.95, quality_model: np.ndarray | None = None,
                         cost_model: np.ndarray | None = None) -> OffPolicyResult:
    """IPS, SNIPS and DR of the new policy's mean quality and cost per request, with intervals.

    ``target[i, a]`` is the new policy's probability of ``log.actions[a]`` on logged row ``i`` (one-hot
    for a deterministic policy). ``quality_model``/``cost_model`` (rows x actions) replace DR's
    default reward model (per-category, per-model means of the log) and are held fixed.
    """
    n, k = len(log.action), len(log.actions)
    pi = np.asarray(target, dtype=float)
    if pi.shape != (n, k):
        raise ValueError(f"target must be rows x actions = {(n, k)}, got {pi.shape}")
    if n_boot < 1 or not 0 < level < 1:
        raise ValueError(f"n_boot must be >= 1 and level in (0, 1), got {n_boot}, {level}")
    a = np.asarray(log.action, dtype=np.int64)
    w = pi[np.arange(n), a] / np.asarray(log.propensity, dtype=float)
    ess = kish_ess(w)
    unsupported = _unsupported_share(log, pi)
    cat = np.asarray(log.category, dtype=np.int64)
    metrics: dict[str, MetricEstimate | None] = {}
    stats: dict[str, _RowStats] = {}
    for name, y, model in (("quality", log.quality, quality_model), ("cost_usd", log.cost, cost_model)):
        y = np.asarray(y, dtype=float)
        if np.isfinite(y).any():
            stats[name] = _RowStats(y, w, a, cat, pi, len(log.categories),
                                    None if model is None else np.asarray(model, float))
        else:
            metrics[name] = None
    metrics.update(_bootstrap(stats, n, n_boot, seed, level))
    reasons = _overlap_reasons(n, ess, unsupported)
    return OffPolicyResult(n, ess, float(w.max()) if n else 0.0, unsupported, metrics["quality"],
                           metrics["cost_usd"], not reasons, reasons, level, n_boot)


def _overlap_reasons(n: int, ess: float, unsupported: float) -> list[str]:
    out = []
    if ess < MIN_ESS:
        out.append(f"effective sample size {ess:,.1f} < {MIN_ESS:g}")
    if n and ess < MIN_ESS_SHARE * n:
        out.append(f"effective sample size is {ess / n:.1%} of {n:,} logged rows (< {MIN_ESS_SHARE:.0%})")
    if unsupported > MAX_UNSUPPORTED:
        out.append(f"{unsupported:.1%} of the new policy's choices go to a (category, model) the log never shows "
                   f"(> {MAX_UNSUPPORTED:.0%})")
    return out


def _unsupported_share(log: LoggedBandit, pi: np.ndarray) -> float:
    """Mean probability the new policy puts on (category, action) pairs with no logged row."""
    n, k = pi.shape
    if n == 0:
        return 0.0
    cat = np.asarray(log.category, dtype=np.int64)
    seen = np.zeros((len(log.categories), k), dtype=bool)
    seen[cat, np.asarray(log.action, dtype=np.int64)] = True
    return float(np.mean(np.sum(pi * ~seen[cat], axis=1)))


def _bootstrap(stats: dict[str, _RowStats], n: int, n_boot: int, seed: int, level: float) -> dict[str, MetricEstimate]:
    """Point estimates and percentile intervals of every metric; all metrics share each resample."""
    if not stats:
        return {}
    cols = np.concatenate([s.cols for s in stats.values()], axis=1)
    edges = np.cumsum([0] + [s.cols.shape[1] for s in stats.values()])
    rng = np.random.default_rng(seed)
    batch = max(1, _BATCH_CELLS // max(n, 1))
    sums = [np.ones((1, n)) @ cols]
    with threadpool_limits(limits=1, user_api="blas"):  # small products: one thread is faster on a busy machine
        for start in range(0, n_boot, batch):
            b = min(batch, n_boot - start)
            idx = rng.integers(0, n, size=(b, n)) + n * np.arange(b)[:, None]
            sums.append(np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(float) @ cols)
    every = np.concatenate(sums, axis=0)
    tail = (1 - level) / 2 * 100
    out = {}
    for (name, st), lo_col, hi_col in zip(stats.items(), edges[:-1], edges[1:], strict=True):
        est = st.estimates(every[:, lo_col:hi_col])
        ivs = []
        for j in range(3):
            col = est[1:, j][np.isfinite(est[1:, j])]  # SNIPS is undefined on a resample without weight
            lo, hi = np.percentile(col, [tail, 100 - tail]) if len(col) else (np.nan, np.nan)
            ivs.append(Interval(float(est[0, j]), float(lo), float(hi)))
        out[name] = MetricEstimate(st.rows, *ivs)
    return out


class _RowStats:
    """Per-row statistics whose count-weighted sums give every estimator on a resample.

    A resample is a vector of counts ``c`` (how often each row was drawn); with it IPS = c.(w y) / n,
    SNIPS = c.(w y) / c.w, and DR needs the reward model refitted on the resample: its per-(category,
    action) sums and counts are sums over one-hot columns. All columns sit in one matrix ``cols``, so a
    batch of resamples is one matrix product.
    """

    def __init__(self, y, w, a, cat, pi, n_cat: int, model: np.ndarray | None):
        n, k = pi.shape
        self.n_cat, self.k, self.fixed = n_cat, k, model is not None
        m = np.isfinite(y).astype(float)  # a row without y is in every resample's draw, but not in this metric
        self.rows = int(m.sum())
        y = np.where(m > 0, y, 0.0)
        w = w * m
        if model is not None:  # a fixed reward model: DR is a plain mean of per-row terms
            dr_rows = (np.sum(pi * model, axis=1) + w * (y - model[np.arange(n), a])) * m
            self.cols = np.stack([m, w * y, w, dr_rows], axis=1)
            return
        groups = n_cat * k
        onehot = np.zeros((n, groups))
        onehot[np.arange(n), cat * k + a] = m
        # p_group[i, g] = pi(a_g | x_i) [cat_i = cat_g]: the new policy's mass on group g in row i's category
        p_group = np.zeros((n, groups))
        p_group[np.arange(n)[:, None], cat[:, None] * k + np.arange(k)[None, :]] = pi * m[:, None]
        # columns: 1, w y, w, then per group: count, sum of y, sum of w (W[i, g] = w_i [g_i = g]), policy mass
        self.cols = np.concatenate([np.stack([m, w * y, w], axis=1), onehot, onehot * y[:, None],
                                    onehot * w[:, None], p_group], axis=1)

    def estimates(self, s: np.ndarray) -> np.ndarray:
        """(resamples x 3): IPS, SNIPS, DR from each resample's count-weighted column sums ``s``."""
        total, swy, sw = s[:, 0], s[:, 1], s[:, 2]
        ips = swy / total
        with np.errstate(invalid="ignore", divide="ignore"):
            snips = np.where(sw > 0, swy / sw, np.nan)
        if self.fixed:
            dr = s[:, 3] / total
        else:
            g = self.n_cat * self.k
            cnt, tot, sw_g, mass = (s[:, 3 + j * g:3 + (j + 1) * g] for j in range(4))
            q = self._reward_model(cnt, tot)
            dr = (np.sum(q * mass, axis=1) + swy - np.sum(q * sw_g, axis=1)) / total
        return np.stack([ips, snips, dr], axis=1)

    def _reward_model(self, cnt: np.ndarray, tot: np.ndarray) -> np.ndarray:
        """Per resample and (category, action) group: the mean logged y, else the action's mean, else all."""
        b = cnt.shape[0]
        cnt3, tot3 = cnt.reshape(b, self.n_cat, self.k), tot.reshape(b, self.n_cat, self.k)
        a_cnt, a_tot = cnt3.sum(axis=1), tot3.sum(axis=1)
        overall = tot.sum(axis=1) / cnt.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            by_action = np.where(a_cnt > 0, a_tot / a_cnt, overall[:, None])
            q = np.where(cnt3 > 0, tot3 / cnt3, by_action[:, None, :])
        return q.reshape(b, -1)
