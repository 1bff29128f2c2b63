"""Tool and data steps: the calls around a model call (retrieval, a tool, a CRM or database lookup).

Why a schema of their own: a design's latency, cost and failures are not the model's alone. A support
answer first searches a knowledge base and looks the customer up; an agent then executes a tool with
the answer. Each of those calls takes time, costs money per call, fails and times out at its own rate,
and what it retrieves lengthens the prompt (so the model call costs more). A scenario declares the steps
once, under ``steps:``, and each fleet model (a route) lists the ones it runs ``before:`` and ``after:``
its call::

    steps:
      kb-search: {kind: retrieval, latency: {p50_s: 0.12, p95_s: 0.4}, cost_per_call_usd: 0.0004,
                  error_rate: 0.01, timeout_rate: 0.002, timeout_s: 2, context_tokens: 900,
                  fallback: kb-cache, on_failure: skip}
    fleet:
      big: {model: gpt-4o, steps: {before: [kb-search], after: []}}

A step is a simulated dependency in every mode (its draws are seeded, in virtual time, or slept on the
wall clock in a live run): its attempts are labelled provider ``simulated``. The replay side lives in
:mod:`workbench.replay.steps`. Cross references (a route naming an unknown step, a ``fallback`` to an
unknown step or to itself, a hand-off to an unknown human) are checked by :func:`check_steps` with the
scenario's file/line/field errors.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Scenario

__all__ = ["STEP_KINDS", "StepLatency", "StepSpec", "RouteSteps", "check_steps", "route_steps", "step_lines", "Z95"]

#: The kinds of step, stored as the ``purpose`` of their attempt rows (the cost breakdown's ``tools``).
STEP_KINDS = ("retrieval", "tool", "lookup")
#: The standard normal's 95th percentile: a lognormal latency with median p50 has sigma ln(p95/p50)/Z95.
Z95 = 1.6448536269514722

_Rate = Annotated[float, Field(ge=0, le=1)]
_Pos = Annotated[float, Field(gt=0)]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StepLatency(_Model):
    """A step's latency as a lognormal by its median and 95th percentile (seconds)."""

    p50_s: _Pos
    p95_s: _Pos

    @model_validator(mode="after")
    def _ordered(self) -> StepLatency:
        if self.p95_s < self.p50_s:
            raise ValueError(f"p95_s ({self.p95_s}) must be at least p50_s ({self.p50_s})")
        return self

    @property
    def sigma(self) -> float:
        """The lognormal's sigma (0 when p95 equals p50: a fixed latency)."""
        return math.log(self.p95_s / self.p50_s) / Z95


class StepSpec(_Model):
    """One step: its kind, latency, price per call, failure and timeout rates, and prompt tokens added.

    ``fallback`` names another step tried when this one still fails after its retries; ``on_failure``
    says what a request does when the step (and its fallbacks) failed: ``fail`` the request, ``skip``
    the step (the model is called without its context; an after-step's answer stands), or
    ``human:<name>`` hand the request to a human node.
    """

    kind: Literal["retrieval", "tool", "lookup"]
    latency: StepLatency
    cost_per_call_usd: Annotated[float, Field(ge=0)] = 0.0
    error_rate: _Rate = 0.0
    timeout_rate: _Rate = 0.0
    timeout_s: _Pos = 10.0
    context_tokens: Annotated[int, Field(ge=0)] = 0
    fallback: Annotated[str, Field(pattern=_NAME)] | None = None
    on_failure: Annotated[str, Field(pattern=r"^(fail|skip|human:[A-Za-z0-9][A-Za-z0-9_.-]*)$")] = "fail"

    @model_validator(mode="after")
    def _rates(self) -> StepSpec:
        if self.error_rate + self.timeout_rate > 1:
            raise ValueError(f"error_rate + timeout_rate ({self.error_rate} + {self.timeout_rate}) is above 1")
        return self

    @property
    def human(self) -> str | None:
        """The human node a failed step hands its request to, if ``on_failure`` names one."""
        return self.on_failure[6:] if self.on_failure.startswith("human:") else None


class RouteSteps(_Model):
    """The steps a fleet model's route runs, in order, before and after its model call."""

    before: list[str] = []
    after: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.before or self.after)


def check_steps(scn: Scenario) -> None:
    """Raise the scenario's file/line/field error for the first step name that points nowhere."""
    known = ", ".join(scn.steps) or "none declared under steps:"
    for model, spec in scn.fleet.items():
        for when in ("before", "after"):
            names = getattr(spec.steps, when)
            for i, name in enumerate(names):
                if name not in scn.steps:
                    raise scn.error_at(("fleet", model, "steps", when, i), f"unknown step '{name}' (steps: {known})")
                if name in names[:i]:
                    raise scn.error_at(("fleet", model, "steps", when, i), f"step '{name}' is listed twice")
    for name, step in scn.steps.items():
        if name in scn.fleet or name in scn.humans:
            raise scn.error_at(("steps", name), f"'{name}' is already a fleet model or human node: a step's "
                               "attempts are named by the step, so its name must be its own")
        if step.fallback is not None:
            if step.fallback not in scn.steps:
                raise scn.error_at(("steps", name, "fallback"), f"unknown step '{step.fallback}' (steps: {known})")
            if step.fallback == name:
                raise scn.error_at(("steps", name, "fallback"), "a step cannot fall back to itself")
        human = step.human
        if human is not None and human not in scn.humans:
            raise scn.error_at(("steps", name, "on_failure"), f"unknown human '{human}' "
                               f"(humans: {', '.join(scn.humans) or 'none declared under humans:'})")


def route_steps(scn: Scenario, target: str | None) -> dict[str, list[dict]]:
    """The steps ``target``'s route runs, before and after its call, each with its fallback chain (for explain)."""
    spec = scn.fleet.get(target) if target else None
    if spec is None or not spec.steps:
        return {}
    out: dict[str, list[dict]] = {}
    for when in ("before", "after"):
        out[when] = []
        for name in getattr(spec.steps, when):
            step = scn.steps[name]
            chain, nxt = [], step.fallback
            while nxt is not None and nxt != name and nxt not in chain:
                chain.append(nxt)
                nxt = scn.steps[nxt].fallback
            out[when].append({"step": name, "kind": step.kind, "p50_s": step.latency.p50_s,
                              "p95_s": step.latency.p95_s, "cost_per_call_usd": step.cost_per_call_usd,
                              "error_rate": step.error_rate, "timeout_rate": step.timeout_rate,
                              "context_tokens": step.context_tokens if when == "before" else 0,
                              "fallbacks": chain, "on_failure": step.on_failure})
    return out


def step_lines(steps: dict[str, list[dict]]) -> list[str]:
    """``route_steps`` as the text lines ``workbench explain`` prints (simulated dependencies, said so)."""
    lines = []
    for when in ("before", "after"):
        for s in steps.get(when, ()):
            ctx = f", +{s['context_tokens']} prompt tokens" if s["context_tokens"] else ""
            chain = "".join(f" -> {f}" for f in s["fallbacks"])
            lines.append(f"  step {when} the call: {s['step']} [{s['kind']}, simulated] p50 {s['p50_s']:g} s, "
                         f"${s['cost_per_call_usd']:g} a call{ctx}; if it fails: retries{chain} -> {s['on_failure']}")
    return lines
