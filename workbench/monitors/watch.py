"""A run's monitors at work: each finished attempt or request feeds the streams that watch it.

Why here and not in the engine: the engine only calls :meth:`Monitors.on_attempt` and
:meth:`Monitors.on_request` (in virtual-time order, as the clock runs them); turning a row into a
metric value, feeding the detector, writing the alert and asking the engine to act (through the small
:class:`Actuator` protocol) all live here. A monitor fires once: its action holds for the rest of the
run, and the alert row says when (virtual seconds), what the detector read and what was done.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Protocol

from workbench.monitors.detectors import Detector, make_detector
from workbench.monitors.spec import MonitorSpec, SwitchFallback
from workbench.store.alerts import AlertRow
from workbench.store.rows import AttemptRow, RequestRow

__all__ = ["Actuator", "Monitors", "Watch"]

#: An answer that opens like a refusal counts as one (with a ``content_policy`` error).
_REFUSAL = re.compile(r"^\s*(I'm sorry|I am sorry|I can(?:no|')t|I won't|I will not|As an AI)", re.IGNORECASE)
_WATCHED = frozenset({"answer", "escalation"})  # a router's or a judge's call is not the target's answer


class Actuator(Protocol):
    """What an alarm may ask of the engine."""

    def pin_previous(self, target: str, now: float) -> str | None:
        """Pin ``target``'s previous timeline version; the label pinned, or None."""
        ...  # pragma: no cover

    def remove(self, target: str) -> None:
        """Take ``target`` out of routing."""
        ...  # pragma: no cover

    def switch_fallback(self, target: str, to: str) -> None:
        """Send ``target``'s traffic to ``to``."""
        ...  # pragma: no cover


class Watch:
    """One monitor's stream and detector."""

    def __init__(self, spec: MonitorSpec):
        self.spec = spec
        self.metric, self.grader = spec.metric, spec.grader
        self.detector: Detector = make_detector(spec.detector, spec.direction)
        self.block: list[float] = []
        self.fired = False
        self.seen = 0  # observations fed to the detector

    def value(self, ok: bool, error_kind: str | None, latency: float, cost: float, score: float | None,
              text: str | None, verdicts: str | None) -> float | None:
        """The metric of one finished attempt or request (None: this one says nothing about it)."""
        m = self.metric
        if m == "error_rate":
            return 0.0 if ok else 1.0
        if m == "refusal_rate":
            return 1.0 if error_kind == "content_policy" or (ok and text and _REFUSAL.match(text)) else 0.0
        if not ok:
            return None
        if m in ("latency", "p95_latency"):
            return latency
        if m == "cost":
            return cost
        if self.grader is not None:
            verdict = json.loads(verdicts).get(self.grader) if verdicts else None
            if verdict is None:
                return None
            return (1.0 if verdict < 1.0 else 0.0) if m == "format_failure_rate" else float(verdict)
        return score

    def feed(self, x: float) -> bool:
        """Fold one value in (a block's p95 for ``p95_latency``); True on an alarm."""
        if self.metric == "p95_latency":
            self.block.append(x)
            if len(self.block) < self.spec.window:
                return False
            ordered = sorted(self.block)
            self.block = []
            x = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        self.seen += 1
        return self.detector.update(x)


class Monitors:
    """Every monitor of a run, keyed by the stream it watches; alerts collect in :attr:`alerts`."""

    def __init__(self, specs: Sequence[MonitorSpec], actuator: Actuator, run_id: str):
        self.actuator, self.run_id = actuator, run_id
        self.by_target: dict[str, list[Watch]] = {}
        self.design: list[Watch] = []
        for spec in specs:
            w = Watch(spec)
            (self.design if spec.target is None else self.by_target.setdefault(spec.target, [])).append(w)
        self.alerts: list[AlertRow] = []

    def on_attempt(self, row: AttemptRow, now: float) -> None:
        """A call to ``row.target`` ended at ``now``."""
        watches = self.by_target.get(row.target)
        if not watches or row.purpose not in _WATCHED:
            return
        for w in watches:
            if w.fired:
                continue
            x = w.value(row.ok, row.error_kind, row.end_s - row.start_s, row.cost_usd, row.score, row.response,
                        row.verdicts)
            if x is not None and w.feed(x):
                self.fire(w, row.target, now)

    def on_request(self, row: RequestRow, now: float) -> None:
        """A request finished at ``now`` (design-wide monitors)."""
        for w in self.design:
            if w.fired:
                continue
            x = w.value(row.status == "ok", row.error_kind, row.latency_s, row.cost_usd, row.quality,
                        row.response, row.verdicts)
            if x is not None and w.feed(x):
                self.fire(w, None, now)

    def fire(self, w: Watch, target: str | None, now: float) -> None:
        """Record ``w``'s alarm and carry out its action."""
        w.fired = True
        spec, det = w.spec, w.detector
        action = spec.action
        what = "notified"
        if target is not None and action == "pin_previous":
            label = self.actuator.pin_previous(target, now)
            what = f"pinned {target} to version {label}" if label else f"nothing to pin on {target}"
        elif target is not None and action == "remove":
            self.actuator.remove(target)
            what = f"took {target} out of routing"
        elif target is not None and isinstance(action, SwitchFallback):
            self.actuator.switch_fallback(target, action.switch_fallback)
            what = f"sent {target}'s traffic to {action.switch_fallback}"
        name = action if isinstance(action, str) else f"switch_fallback:{action.switch_fallback}"
        msg = (f"{spec.detector.type} on {spec.metric} of {target or 'the design'} after {w.seen} values: "
               f"statistic {det.statistic:.3g} (threshold {det.threshold:.3g}); {what}")
        self.alerts.append(AlertRow(self.run_id, now, spec.name, target, float(det.statistic),
                                    float(det.threshold), msg, name))
