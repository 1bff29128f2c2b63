"""Guardrails: compare candidate and baseline as the rollout goes, with tests that allow looking often.

Why an always-valid test: a rollout looks at its guardrails every few dozen requests and acts on the
first bad look. A fixed-sample test (a t-test at 5%) checked at every look would roll back a candidate
identical to the baseline far more often than 5% of the time. Each guardrail is therefore a mixture
sequential probability ratio test (mSPRT; Robbins 1970, Johari, Pekelis & Walsh, "Always valid
inference", 2017/2022), the test behind commercial A/B platforms' "always valid p-values":

    Lambda_t = sqrt(V / (V + tau^2)) * exp(tau^2 * (d - margin)^2 / (2 V (V + tau^2)))

where ``d`` is how much worse the candidate's mean is than the baseline's (both arms over the same
window: from the rollout's start to the look), ``V`` the variance of that difference (the sum of each
arm's sample variance over its count) and ``tau`` the scale of the normal mixture over effect sizes.
Lambda_t is (asymptotically, by the normal approximation of each mean) a nonnegative martingale under
"the candidate is worse by exactly ``margin``", so Ville's inequality bounds the chance it EVER crosses
``1 / alpha_g`` by ``alpha_g``, whatever the number of looks. A guardrail rolls back only when the
candidate is worse (``d > margin``) and Lambda crosses. With ``k`` guardrails each gets
``alpha / k`` (Bonferroni), so the rollout's false rollback rate is at most ``alpha``. The bound is
asymptotic; ``tests/test_rollout.py`` measures the real rate on 100 seeds.

Metrics per request: quality (grader score of answered requests), error (failed or rejected: 0/1),
cost (USD; guarded per 1,000 requests, its margin and tau relative to the baseline's mean), and slow
(0/1: latency above the baseline arm's p95, frozen at the first look where the baseline has
``min_samples`` requests: a p95 is not a mean, the share above a fixed line is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from workbench.rollout.plan import DEFAULT_TAU, Guardrail, RolloutPlan

__all__ = ["msprt", "Arm", "Guardrails", "ARMS"]

ARMS = ("baseline", "candidate")


def msprt(d: float, var: float, tau: float) -> float:
    """The normal-mixture SPRT statistic for an observed difference ``d`` (already minus the margin)
    with variance ``var`` and mixture scale ``tau`` (see the module docstring)."""
    var = max(var, 1e-18)
    t2 = tau * tau
    z = t2 * d * d / (2.0 * var * (var + t2))
    return math.sqrt(var / (var + t2)) * math.exp(min(z, 700.0))


@dataclass(slots=True)
class _Sum:
    """Count, sum and sum of squares of one arm's values of one metric."""

    n: int = 0
    s: float = 0.0
    ss: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        self.s += x
        self.ss += x * x

    @property
    def mean(self) -> float:
        return self.s / self.n if self.n else math.nan

    @property
    def var(self) -> float:
        """Sample variance (0 with fewer than two values)."""
        if self.n < 2:
            return 0.0
        return max(0.0, (self.ss - self.s * self.s / self.n) / (self.n - 1))


@dataclass(slots=True)
class Arm:
    """One arm's running sums, fed by its finished request rows."""

    quality: _Sum = field(default_factory=_Sum)
    error: _Sum = field(default_factory=_Sum)
    cost: _Sum = field(default_factory=_Sum)
    slow: _Sum = field(default_factory=_Sum)
    latencies: list[float] = field(default_factory=list)

    def add(self, status: str, quality: float | None, cost: float, latency: float, line: float | None) -> None:
        """Count one finished request."""
        self.error.add(0.0 if status == "ok" else 1.0)
        self.cost.add(cost)
        if quality is not None:
            self.quality.add(quality)
        self.latencies.append(latency)
        if line is not None:
            self.slow.add(1.0 if latency > line else 0.0)

    def p95(self) -> float | None:
        """The arm's p95 latency so far (None before any request)."""
        if not self.latencies:
            return None
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, math.ceil(0.95 * len(xs)) - 1)]


class Guardrails:
    """Both arms' running sums and each guardrail's sequential test."""

    def __init__(self, plan: RolloutPlan):
        self.plan = plan
        self.arms = {a: Arm() for a in ARMS}
        self.line: float | None = None  # the baseline's p95 latency, frozen once known
        # the largest Lambda seen per guardrail (its always-valid p-value is 1 / that)
        self.best: dict[str, float] = {g.metric: 0.0 for g in plan.guardrails}

    def add(self, arm: str, status: str, quality: float | None, cost: float, latency: float) -> None:
        """Count one finished request of ``arm``."""
        self.arms[arm].add(status, quality, cost, latency, self.line)

    def _freeze_line(self) -> None:
        base = self.arms["baseline"]
        if self.line is not None or len(base.latencies) < self.plan.min_samples:
            return
        line = self.line = base.p95()
        assert line is not None  # the baseline has min_samples latencies
        for arm in self.arms.values():  # count the requests seen before the line existed
            for x in arm.latencies:
                arm.slow.add(1.0 if x > line else 0.0)

    def evaluate(self, full: bool = False) -> dict[str, dict]:
        """Each guardrail's evidence now: means, counts, difference, Lambda, always-valid p, verdict
        (``fail``: roll back; ``insufficient``: too few samples; ``worse``: worse than the margin but not
        significantly; ``pass``). ``full`` adds each arm's p95 latency (a sort: at decisions only)."""
        self._freeze_line()
        out: dict[str, dict] = {g.metric: self._one(g) for g in self.plan.guardrails}
        if full and "p95_latency" in out:
            out["p95_latency"].update(line_s=self.line, baseline_p95_s=self.arms["baseline"].p95(),
                                      candidate_p95_s=self.arms["candidate"].p95())
        return out

    def _one(self, g: Guardrail) -> dict:
        key = {"quality": "quality", "error_rate": "error", "p95_latency": "slow", "cost_per_1k": "cost"}[g.metric]
        b: _Sum = getattr(self.arms["baseline"], key)
        c: _Sum = getattr(self.arms["candidate"], key)
        alpha = self.plan.alpha_each
        out: dict = {"n_baseline": b.n, "n_candidate": c.n, "margin": g.margin, "alpha": alpha}
        if min(b.n, c.n) < self.plan.min_samples:
            out.update(verdict="insufficient", p_value=self._p(g.metric))
            return out
        worse = (b.mean - c.mean) if g.metric == "quality" else (c.mean - b.mean)
        margin, tau = g.margin, g.tau if g.tau is not None else DEFAULT_TAU[g.metric]
        scale = 1000.0 if g.metric == "cost_per_1k" else 1.0
        if g.metric == "cost_per_1k":  # margin and tau are shares of the baseline's cost
            margin, tau = margin * abs(b.mean), tau * max(abs(b.mean), 1e-12)
        var = b.var / b.n + c.var / c.n
        lam = msprt(worse - margin, var, tau) if worse > margin else 0.0
        self.best[g.metric] = max(self.best[g.metric], lam)
        p = self._p(g.metric)
        verdict = "fail" if p <= alpha else ("worse" if worse > margin else "pass")
        out.update(baseline=b.mean * scale, candidate=c.mean * scale, worse_by=worse * scale, lam=lam, p_value=p,
                   verdict=verdict)
        return out

    def _p(self, metric: str) -> float:
        best = self.best[metric]
        return 1.0 if best <= 1.0 else 1.0 / best
