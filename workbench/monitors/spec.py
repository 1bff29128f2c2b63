"""The ``monitors:`` of a scenario: what each watches, with which detector, and what an alarm does.

Why typed specs apart from the detectors: the scenario layer validates them (``extra="forbid"``, every
parameter's range, so ``h: -1`` or ``delta: 2`` stops the run with file, line and field) without
importing river; :mod:`workbench.monitors.detectors` builds the detectors from them at run time.

A monitor watches one stream: the attempts of one target (``target: NAME``) or the finished requests
of the whole design (no ``target``). ``metric`` is a grader's score (``score``, optionally one
``grader``'s verdict), ``error_rate``, ``latency`` (seconds), ``p95_latency`` (the 95th percentile of
each block of ``window`` latencies), ``cost`` (USD per call or request), ``refusal_rate`` or
``format_failure_rate`` (a named ``grader``'s verdict below 1). ``direction`` defaults to the bad one:
down for a score, up for everything else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Scenario

__all__ = ["Metric", "METRICS", "CusumSpec", "EwmaSpec", "PageHinkleySpec", "AdwinSpec", "DetectorSpec",
           "SwitchFallback", "MonitorSpec", "Direction", "check_monitors"]

Metric = Literal["score", "error_rate", "latency", "p95_latency", "cost", "refusal_rate", "format_failure_rate"]
#: Every metric a monitor may watch.
METRICS: tuple[str, ...] = Metric.__args__  # type: ignore[attr-defined]  # a Literal's values
Direction = Literal["up", "down", "both"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CusumSpec(_Spec):
    """Two-sided tabular CUSUM on the standardised stream (mean and sd learnt over ``warmup`` values):
    alarm when the cumulative excess beyond ``k`` sds exceeds ``h`` sds."""

    type: Literal["cusum"]
    k: Annotated[float, Field(ge=0, le=10)] = 0.5
    h: Annotated[float, Field(gt=0, le=1000)] = 5.0
    warmup: Annotated[int, Field(ge=2, le=1_000_000)] = 50
    direction: Direction | None = None


class EwmaSpec(_Spec):
    """EWMA control chart: alarm when the exponentially weighted mean (weight ``weight``) leaves the
    control limits ``width`` sds of the EWMA around the warm-up mean."""

    type: Literal["ewma"]
    weight: Annotated[float, Field(gt=0, le=1)] = 0.1
    width: Annotated[float, Field(gt=0, le=100)] = 3.0
    warmup: Annotated[int, Field(ge=2, le=1_000_000)] = 50
    direction: Direction | None = None


class PageHinkleySpec(_Spec):
    """river's Page-Hinkley test (``river.drift.PageHinkley``) with its parameters."""

    type: Literal["page_hinkley"]
    min_instances: Annotated[int, Field(ge=1, le=1_000_000)] = 30
    delta: Annotated[float, Field(ge=0)] = 0.005
    threshold: Annotated[float, Field(gt=0)] = 50.0
    alpha: Annotated[float, Field(gt=0, le=1)] = 0.9999
    direction: Direction | None = None


class AdwinSpec(_Spec):
    """river's ADWIN (``river.drift.ADWIN``): an adaptive window cut where two halves' means differ at
    confidence ``delta``; an alarm counts only when the mean moved in ``direction``."""

    type: Literal["adwin"]
    delta: Annotated[float, Field(gt=0, lt=1)] = 0.002
    clock: Annotated[int, Field(ge=1, le=10_000)] = 32
    grace_period: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    min_window_length: Annotated[int, Field(ge=1, le=1_000_000)] = 5
    direction: Direction | None = None


DetectorSpec = Annotated[CusumSpec | EwmaSpec | PageHinkleySpec | AdwinSpec, Field(discriminator="type")]


class SwitchFallback(_Spec):
    """Send the target's traffic to ``switch_fallback`` from the alarm on."""

    switch_fallback: Annotated[str, Field(min_length=1)]


class MonitorSpec(_Spec):
    """One monitor: a stream (``metric`` of ``target``, or of the whole design), a detector, an action."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    metric: Metric
    target: Annotated[str, Field(min_length=1)] | None = None
    grader: Annotated[str, Field(min_length=1)] | None = None
    window: Annotated[int, Field(ge=5, le=100_000)] = 50
    detector: DetectorSpec
    action: Literal["notify", "pin_previous", "remove"] | SwitchFallback = "notify"

    @model_validator(mode="after")
    def _consistent(self) -> MonitorSpec:
        if self.metric == "format_failure_rate" and self.grader is None:
            raise ValueError("format_failure_rate needs grader: the grader whose verdict below 1 is a failure")
        if self.target is None and self.action != "notify":
            raise ValueError("an action other than notify needs a target (the design as a whole cannot be "
                             "pinned, removed or switched)")
        return self

    @property
    def direction(self) -> Direction:
        """The detector's direction, or the bad one for the metric (down for a score, else up)."""
        given = self.detector.direction
        return given if given is not None else ("down" if self.metric == "score" else "up")


def check_monitors(scn: Scenario) -> None:
    """Raise one error naming file, line and field for a monitor on an unknown target, grader or
    fallback, or a name used twice."""
    targets = scn.targets
    graders = {g.type for g in scn.graders}
    seen: set[str] = set()
    for i, m in enumerate(scn.monitors):
        if m.name in seen:
            raise scn.error_at(("monitors", i, "name"), f"monitor name '{m.name}' is used twice")
        seen.add(m.name)
        if m.target is not None and m.target not in targets:
            raise scn.error_at(("monitors", i, "target"), f"unknown target '{m.target}' "
                               f"(known: {', '.join(targets)})")
        if m.metric in ("score", "format_failure_rate") and not graders:
            raise scn.error_at(("monitors", i, "metric"), f"{m.metric} needs a grader: the scenario has no graders")
        if m.grader is not None and m.grader.split("#")[0] not in graders:
            raise scn.error_at(("monitors", i, "grader"), f"unknown grader '{m.grader}' "
                               f"(the scenario's graders: {', '.join(sorted(graders)) or 'none'})")
        if isinstance(m.action, SwitchFallback):
            to = m.action.switch_fallback
            if to not in targets or to == m.target:
                raise scn.error_at(("monitors", i, "action", "switch_fallback"),
                                   f"'{to}' is not another target (known: {', '.join(targets)})")
        if m.action == "pin_previous" and (m.target not in scn.fleet or not scn.fleet[m.target].timeline):
            raise scn.error_at(("monitors", i, "action"), f"pin_previous needs a target with a timeline "
                               f"(fleet.{m.target}.timeline): there is no previous version to pin")
