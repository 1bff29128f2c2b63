"""Drift detectors behind one small API: ``make_detector(spec)`` then ``update(x) -> bool`` (an alarm).

Why river where it fits: ``river.drift`` maintains ADWIN and Page-Hinkley (tested, with their papers'
parameters), so those two wrap it. river has no CUSUM nor EWMA control chart on a numeric stream (its
``drift.binary`` detectors, DDM/EDDM/HDDM, watch a classifier's error bit), so those two are written
here, in a few lines each, from their textbook definitions (Page 1954; Roberts 1959, limits with the
exact variance of the EWMA). Both standardise the stream by the mean and standard deviation of their
first ``warmup`` values, so ``k``, ``h`` and ``width`` are in standard deviations whatever the metric.

Every detector reads out ``statistic`` and ``threshold`` (what an alert stores) and is one-sided unless
told ``both``: a score that improves is not an incident.
"""

from __future__ import annotations

import math
from typing import Protocol

from workbench.monitors.spec import AdwinSpec, CusumSpec, DetectorSpec, Direction, EwmaSpec, PageHinkleySpec

__all__ = ["Detector", "make_detector", "Cusum", "Ewma", "RiverPageHinkley", "RiverAdwin"]


class Detector(Protocol):
    """A sequential change detector over one numeric stream."""

    statistic: float
    threshold: float

    def update(self, x: float) -> bool:
        """Take one value; True when it raises an alarm."""
        ...  # pragma: no cover


class _Warmup:
    """Mean and standard deviation of the first ``n`` values (Welford), then frozen."""

    __slots__ = ("n", "count", "mean", "m2", "sd")

    def __init__(self, n: int):
        self.n, self.count, self.mean, self.m2, self.sd = n, 0, 0.0, 0.0, 0.0

    def learn(self, x: float) -> bool:
        """Fold ``x`` in while warming up; True once warm (``x`` was not folded in then)."""
        if self.count >= self.n:
            return True
        self.count += 1
        d = x - self.mean
        self.mean += d / self.count
        self.m2 += d * (x - self.mean)
        if self.count == self.n:
            # a constant warm-up (every answer right) still needs a scale: a Bernoulli floor of 1/n
            var = self.m2 / (self.n - 1)
            self.sd = math.sqrt(max(var, 1.0 / self.n * (1.0 - 1.0 / self.n)))
        return False


class Cusum:
    """Tabular CUSUM: S+ = max(0, S+ + z - k), S- = max(0, S- - z - k); alarm above ``h``."""

    def __init__(self, spec: CusumSpec, direction: Direction):
        self.k, self.threshold, self.direction = spec.k, spec.h, direction
        self.warm = _Warmup(spec.warmup)
        self.up = self.down = self.statistic = 0.0

    def update(self, x: float) -> bool:
        """Take one value; True when a side's cumulative sum passes ``h``."""
        w = self.warm
        if not w.learn(x):
            return False
        z = (x - w.mean) / w.sd
        self.up = max(0.0, self.up + z - self.k)
        self.down = max(0.0, self.down - z - self.k)
        d = self.direction
        self.statistic = self.up if d == "up" else self.down if d == "down" else max(self.up, self.down)
        return self.statistic > self.threshold


class Ewma:
    """EWMA chart: z = w x + (1 - w) z; alarm when |z - mean| passes ``width`` sds of z."""

    def __init__(self, spec: EwmaSpec, direction: Direction):
        self.w, self.threshold, self.direction = spec.weight, spec.width, direction
        self.warm = _Warmup(spec.warmup)
        self.z = self.statistic = 0.0
        self.t = 0

    def update(self, x: float) -> bool:
        """Take one value; True when the EWMA leaves its control limits on the watched side."""
        warm = self.warm
        if not warm.learn(x):
            self.z = warm.mean
            return False
        w = self.w
        self.t += 1
        self.z = w * x + (1.0 - w) * self.z
        sd_z = warm.sd * math.sqrt(w / (2.0 - w) * (1.0 - (1.0 - w) ** (2 * self.t)))
        dev = (self.z - warm.mean) / sd_z
        d = self.direction
        self.statistic = dev if d == "up" else -dev if d == "down" else abs(dev)
        return self.statistic > self.threshold


class RiverPageHinkley:
    """``river.drift.PageHinkley`` (mode from ``direction``); the statistic is its larger test value."""

    def __init__(self, spec: PageHinkleySpec, direction: Direction):
        from river.drift import PageHinkley  # river imports numpy and scipy: only when a run monitors

        self.ph = PageHinkley(min_instances=spec.min_instances, delta=spec.delta, threshold=spec.threshold,
                              alpha=spec.alpha, mode=direction)
        self.threshold, self.statistic = spec.threshold, 0.0

    def update(self, x: float) -> bool:
        """Take one value; True when river's test passes its threshold."""
        ph = self.ph
        ph.update(x)
        # river keeps the two test values internal; read them for the alert (0 when its layout changes)
        up = getattr(ph, "_sum_increase", 0.0) - getattr(ph, "_min_increase", 0.0)
        down = getattr(ph, "_max_decrease", 0.0) - getattr(ph, "_sum_decrease", 0.0)
        self.statistic = max(up, down) if math.isfinite(up) and math.isfinite(down) else 0.0
        return bool(ph.drift_detected)


class RiverAdwin:
    """``river.drift.ADWIN``; an alarm counts when the window's mean moved in ``direction``. The
    statistic is that move (new mean minus old), the threshold ADWIN's confidence ``delta``."""

    def __init__(self, spec: AdwinSpec, direction: Direction):
        from river.drift import ADWIN

        self.adwin = ADWIN(delta=spec.delta, clock=spec.clock, grace_period=spec.grace_period,
                           min_window_length=spec.min_window_length)
        self.direction, self.threshold, self.statistic = direction, spec.delta, 0.0

    def update(self, x: float) -> bool:
        """Take one value; True when ADWIN cuts its window and the mean moved the watched way."""
        a = self.adwin
        before = a.estimation
        a.update(x)
        if not a.drift_detected:
            return False
        self.statistic = a.estimation - before
        d = self.direction
        return d == "both" or (self.statistic > 0) == (d == "up")


def make_detector(spec: DetectorSpec, direction: Direction | None = None) -> Detector:
    """A fresh detector for ``spec``; ``direction`` (else the spec's, else both) picks the watched side."""
    side: Direction = direction or spec.direction or "both"
    if isinstance(spec, CusumSpec):
        return Cusum(spec, side)
    if isinstance(spec, EwmaSpec):
        return Ewma(spec, side)
    if isinstance(spec, PageHinkleySpec):
        return RiverPageHinkley(spec, side)
    return RiverAdwin(spec, side)
