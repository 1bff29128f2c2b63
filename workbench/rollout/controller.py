"""The rollout's decisions: which arm a request goes to, and when a stage is promoted, held or rolled back.

Why decisions at arrivals: a real canary controller acts on what it has observed, so the controller
looks at the guardrails when a request arrives (every ``look_every`` arrivals, and when a stage's
minimum is reached), using the requests finished by then. Any look may roll back (the tests stay valid
under repeated looks); a stage is decided only once its minimum (arrivals and/or virtual seconds) is
met: promote when every guardrail passes; hold (the stage runs again for its minimum) while a guardrail
has too few samples or the candidate looks worse than its margin without significance, at most
``max_holds`` times, then promote. After a rollback every request goes to the baseline.

Assignment is sticky: a request's key (the first of the plan's ``key`` fields present in its traffic
record, else its id) hashes to a uniform ``u`` in [0, 1) under the run's seed, and the request goes to
the candidate when ``u < share``: a user on the candidate stays there as the share grows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.rollout.guardrails import Guardrails
from workbench.rollout.plan import RolloutPlan
from workbench.seeds import key64, unit
from workbench.traffic import Request

__all__ = ["StageRecord", "Controller", "sticky_units"]

_INF = 1 << 62


def sticky_units(requests: list[Request], keys: list[str], seed: int) -> list[float]:
    """Each request's assignment draw: the hash of its first present key field (else its id) under ``seed``."""
    out = []
    for r in requests:
        meta = r.metadata
        value = next((meta[k] for k in keys if meta.get(k) not in (None, "")), None)
        out.append(unit(key64(seed, "rollout", "id" if value is None else "key", r.id if value is None else value), 0))
    return out


@dataclass
class StageRecord:
    """One decision: the stage, its share, the window it covers, the decision and its evidence."""

    stage: int
    share: float
    started_at_s: float
    ended_at_s: float
    decision: str  # promote, hold, rollback, complete, ended
    evidence: dict[str, Any] = field(default_factory=dict)


class Controller:
    """Stage state, looks and decisions of one rollout."""

    def __init__(self, plan: RolloutPlan, guard: Guardrails, units: list[float],
                 before_look: Callable[[], None] | None = None):
        self.plan, self.guard, self.units, self.before_look = plan, guard, units, before_look
        self.stage, self.holds = 0, 0
        self.share = plan.stages[0].share
        self.records: list[StageRecord] = []
        self.rolled_back_at: float | None = None
        self.arrived = [0, 0]  # arrivals per arm in the current window
        self.finished = False  # rolled back: no more decisions
        self._window(0, 0.0)

    def _window(self, i: int, t: float) -> None:
        st = self.plan.stages[self.stage]
        self.start_i, self.start_t = i, t
        self.arrived = [0, 0]
        self.end_i = i + st.min_requests if st.min_requests is not None else None
        self.due_s = t + st.min_time_s if st.min_time_s is not None else None
        self._next(i)

    def _next(self, i: int) -> None:
        look = i + self.plan.look_every if self.plan.guardrails else _INF
        self.next_look = min(look, self.end_i if self.end_i is not None and self.end_i > i else _INF)

    def pick(self, i: int, now: float) -> int:
        """The arm (0 baseline, 1 candidate) of arrival ``i`` at ``now``, looking first when one is due."""
        if i >= self.next_look or (self.due_s is not None and now >= self.due_s):
            self.look(i, now)
        arm = 1 if self.units[i] < self.share else 0
        self.arrived[arm] += 1
        return arm

    def look(self, i: int, now: float) -> None:
        """Check the guardrails; roll back on a failed one; decide the stage once its minimum is met."""
        if self.finished:
            self.next_look, self.due_s = _INF, None
            return
        if self.before_look is not None:  # the engines hand over the rows finished so far
            self.before_look()
        ev = self.guard.evaluate()
        if any(g["verdict"] == "fail" for g in ev.values()):
            self._record("rollback", now, self.guard.evaluate(full=True))
            self.share, self.finished, self.rolled_back_at = 0.0, True, now
            self.next_look, self.due_s = _INF, None
            return
        time_met = self.due_s is None or now >= self.due_s
        if time_met:
            self.due_s = None
        last = self.stage == len(self.plan.stages) - 1
        if last or not time_met or (self.end_i is not None and i < self.end_i):
            self._next(i)
            return
        unsure = [m for m, g in ev.items() if g["verdict"] in ("insufficient", "worse")]
        if unsure and self.holds < self.plan.max_holds:
            self._record("hold", now, self.guard.evaluate(full=True), unsure=unsure)
            self.holds += 1
        else:
            self._record("promote", now, self.guard.evaluate(full=True), unsure=unsure)
            self.stage, self.holds = self.stage + 1, 0
            self.share = self.plan.stages[self.stage].share
        self._window(i, now)

    def end(self, now: float) -> None:
        """The traffic ended: the last window's record (``complete`` at the last stage, else ``ended``)."""
        if self.finished:
            return
        last = self.stage == len(self.plan.stages) - 1
        self._record("complete" if last else "ended", now, self.guard.evaluate(full=True))

    def _record(self, decision: str, now: float, ev: dict, unsure: list[str] | None = None) -> None:
        evidence: dict[str, Any] = {"guardrails": ev, "arrivals": {"baseline": self.arrived[0],
                                                                   "candidate": self.arrived[1]},
                                    "regression_start_s": self.plan.regression_start_s or 0.0}
        if self.holds:
            evidence["holds_before"] = self.holds
        if unsure:
            evidence["unsure"] = unsure
        self.records.append(StageRecord(self.stage, self.share, self.start_t, now, decision, evidence))
