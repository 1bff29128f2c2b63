"""Monitors: drift detectors watching a run's streams, raising alerts and acting on them.

Why a package of its own: the scenario layer needs only the specs (:mod:`workbench.monitors.spec`),
the detectors (:mod:`workbench.monitors.detectors`) are reusable on any stream (a rollout's guardrails
may use them), and the replay engine drives :class:`workbench.monitors.watch.Monitors` through one
small hook per finished attempt and request. This module imports neither river nor the store.
"""

from __future__ import annotations

from workbench.monitors.detectors import Detector, make_detector
from workbench.monitors.spec import METRICS, DetectorSpec, MonitorSpec

__all__ = ["Detector", "make_detector", "METRICS", "DetectorSpec", "MonitorSpec"]
