"""Models that change over time: a fleet model's ``timeline:`` of steps and ramps, and its state at a time.

Why: a provider updates a model mid-day, a model slows down under load over weeks; a design that looked
right on Monday is wrong on Friday. A timeline entry changes the simulated profile from a time on (a
step, ``at_s``) or linearly between two times (a ramp, ``from_s``/``to_s``): quality (overall or per
category, added to the probability of a correct answer), latency and output length (factors), error
rates (added per kind), and the version label. A recorded model's entry may switch to another
dataset's answers (``dataset:``/``model:``, steps only). Changes add up in the order written.

Why the schema and the arithmetic in one module: the scenario layer validates the entries, the
simulated and recorded providers evaluate them per call (:class:`Timeline`), and the runner checks them
against the traffic (:func:`check_timelines`: a change after the last arrival never happens, a category
the traffic has not is a typo) before anything is written. ``pin`` freezes a model at its previous
version (a monitor's ``pin_previous`` action).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench.errors import ErrorKind

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Scenario
    from workbench.traffic import Request

__all__ = ["TimelineEntry", "Timeline", "TimelineState", "check_timelines", "BASE_VERSION"]

#: The version label of a model with a timeline before its first labelled change (``version:`` overrides).
BASE_VERSION = "base"
Delta = Annotated[float, Field(ge=-1, le=1)]
Factor = Annotated[float, Field(gt=0, le=1000)]


class TimelineEntry(BaseModel):
    """One change of a fleet model: a step at ``at_s`` or a linear ramp from ``from_s`` to ``to_s``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    at_s: Annotated[float, Field(ge=0)] | None = None
    from_s: Annotated[float, Field(ge=0)] | None = None
    to_s: Annotated[float, Field(ge=0)] | None = None
    version: Annotated[str, Field(min_length=1)] | None = None
    quality: Delta | None = None
    category_quality: dict[str, Delta] | None = None
    latency_x: Factor | None = None
    output_tokens_x: Factor | None = None
    error_rates: dict[ErrorKind, Delta] | None = None
    dataset: Annotated[str, Field(min_length=1)] | None = None
    model: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _when(self) -> TimelineEntry:
        if self.at_s is not None:
            if self.from_s is not None or self.to_s is not None:
                raise ValueError("give at_s (a step) or from_s and to_s (a ramp), not both")
        elif self.from_s is None or self.to_s is None:
            raise ValueError("give at_s (a step) or both from_s and to_s (a ramp)")
        elif self.to_s <= self.from_s:
            raise ValueError(f"to_s ({self.to_s:g}) must be after from_s ({self.from_s:g})")
        elif self.dataset is not None or self.model is not None:
            raise ValueError("a switch to another dataset's answers is a step (at_s), not a ramp")
        return self

    @property
    def start(self) -> float:
        """When the change begins."""
        return self.at_s if self.at_s is not None else self.from_s  # type: ignore[return-value]  # one is set

    def share(self, t: float) -> float:
        """How much of the change applies at ``t``: 0 before, 1 after, linear along a ramp."""
        if self.at_s is not None:
            return 1.0 if t >= self.at_s else 0.0
        lo, hi = self.from_s, self.to_s
        assert lo is not None and hi is not None
        return 0.0 if t < lo else 1.0 if t >= hi else (t - lo) / (hi - lo)


@dataclass(slots=True)
class TimelineState:
    """A model's changes at one time, relative to its base profile."""

    version: str | None
    quality: float = 0.0
    category_quality: dict[str, float] = field(default_factory=dict)
    latency_x: float = 1.0
    output_tokens_x: float = 1.0
    error_rates: dict[ErrorKind, float] = field(default_factory=dict)
    source: int = -1  # the index of the entry whose answers a recorded model gives (-1: its own)


class Timeline:
    """Evaluates a model's entries at a virtual time; ``pin`` freezes it at its previous version."""

    def __init__(self, entries: Sequence[TimelineEntry], base_version: str | None):
        self.entries = sorted(entries, key=lambda e: e.start)  # stable: equal starts keep their order
        self.starts = [e.start for e in self.entries]
        self.base = base_version or BASE_VERSION
        self.pinned: TimelineState | None = None

    def at(self, t: float) -> TimelineState:
        """The state at virtual time ``t`` (the pinned one once pinned)."""
        if self.pinned is not None:
            return self.pinned
        return self._state(bisect_right(self.starts, t), t)

    def _state(self, n: int, t: float) -> TimelineState:
        st = TimelineState(self.base)
        for idx, e in enumerate(self.entries[:n]):
            w = e.share(t)
            if e.version is not None:
                st.version = e.version
            if e.dataset is not None or e.model is not None:
                st.source = idx
            if e.quality is not None:
                st.quality += w * e.quality
            for cat, d in (e.category_quality or {}).items():
                st.category_quality[cat] = st.category_quality.get(cat, 0.0) + w * d
            if e.latency_x is not None:
                st.latency_x *= 1.0 + w * (e.latency_x - 1.0)
            if e.output_tokens_x is not None:
                st.output_tokens_x *= 1.0 + w * (e.output_tokens_x - 1.0)
            for kind, d in (e.error_rates or {}).items():
                st.error_rates[kind] = st.error_rates.get(kind, 0.0) + w * d
        return st

    def pin(self, now: float) -> TimelineState | None:
        """Freeze at the state just before the latest change begun by ``now``; None when none has begun."""
        n = bisect_right(self.starts, now) if self.pinned is None else 0
        if n == 0:
            return None
        self.pinned = self._state(n - 1, self.starts[n - 1])
        return self.pinned


def check_timelines(scn: Scenario, requests: Sequence[Request], arrivals: Sequence[float]) -> None:
    """Raise one error naming file, line and field for a change that begins after the traffic's last
    arrival (it would never happen) or names a category the traffic does not have."""
    if not any(m.timeline for m in scn.fleet.values()):
        return
    end = max(arrivals, default=0.0)
    cats = {r.category for r in requests if r.category is not None}
    for name, spec in scn.fleet.items():
        for i, e in enumerate(spec.timeline):
            if (e.dataset is not None or e.model is not None) and spec.provider != "recorded":
                raise scn.error_at(("fleet", name, "timeline", i, "dataset" if e.dataset else "model"),
                                   "only a recorded model (provider: recorded) can switch to other answers")
            key = "at_s" if e.at_s is not None else "from_s"
            if e.start > end:
                raise scn.error_at(("fleet", name, "timeline", i, key),
                                   f"{key} {e.start:g} is past the traffic's end (the last request arrives at "
                                   f"{end:.1f} s): the change would never happen")
            for cat in e.category_quality or {}:
                if cat not in cats:
                    known = ", ".join(sorted(cats)) or "none"
                    raise scn.error_at(("fleet", name, "timeline", i, "category_quality", cat),
                                       f"unknown category '{cat}' (the traffic has: {known})")
