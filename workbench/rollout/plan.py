"""A rollout plan: the stages a candidate design goes through and the guardrails that may stop it.

Why a file of its own (not a field of a scenario): a plan is about moving traffic between two designs,
not a design; the same plan is reused for any baseline/candidate pair. It is validated like every
workbench file (pydantic, ``extra="forbid"``) and a bad plan is one :class:`~workbench.errors.InputError`
naming the file, the line and the field, raised before anything is replayed or written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workbench.errors import InputError
from workbench.yamlio import dotted, field_error, line_for, read_text, read_yaml

__all__ = ["Stage", "Guardrail", "RolloutPlan", "load_plan", "parse_plan", "is_plan_text", "is_plan_file", "METRICS"]

#: Guarded metrics: what each compares between the arms, per request.
METRICS = {
    "quality": "mean grader score of answered requests (higher is better)",
    "error_rate": "share of requests that failed or were rejected (lower is better)",
    "p95_latency": "share of requests slower than the baseline's p95 (lower is better; 0.05 when equal)",
    "cost_per_1k": "USD per 1,000 requests (lower is better)",
}
Metric = Literal["quality", "error_rate", "p95_latency", "cost_per_1k"]
#: Default mixture scale (tau) of each metric's test, in the metric's unit: the size of a difference the
#: test is tuned to find fastest (a cost's is relative: a share of the baseline's cost per 1k).
DEFAULT_TAU = {"quality": 0.05, "error_rate": 0.02, "p95_latency": 0.05, "cost_per_1k": 0.1}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Stage(_Model):
    """One step of the rollout: the candidate's share of traffic and how long the step lasts at least."""

    share: Annotated[float, Field(gt=0, le=1)]
    min_requests: Annotated[int, Field(ge=1)] | None = None
    """Arrivals (both arms) the stage lasts at least before it is decided."""
    min_time_s: Annotated[float, Field(gt=0)] | None = None
    """Virtual seconds the stage lasts at least before it is decided."""


class Guardrail(_Model):
    """A metric compared between the arms with an always-valid sequential test."""

    metric: Metric
    margin: Annotated[float, Field(ge=0)] = 0.0
    """How much worse than the baseline the candidate may be (in the metric's unit; cost: a share)."""
    tau: Annotated[float, Field(gt=0)] | None = None
    """The test's mixture scale (default per metric, :data:`DEFAULT_TAU`)."""


class RolloutPlan(_Model):
    """Stages with increasing candidate share, guardrails, and the statistics' settings."""

    name: str = "rollout"
    description: str = ""
    key: Annotated[list[str], Field(min_length=1)] = ["user", "session"]
    """Traffic fields whose value keeps a user on one arm (the first present; else the request id)."""
    stages: Annotated[list[Stage], Field(min_length=1)]
    guardrails: list[Guardrail] = []
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """Bound on a false rollback over the whole rollout (split equally across the guardrails)."""
    look_every: Annotated[int, Field(ge=1)] = 50
    """Arrivals between two looks at the guardrails (any look may roll back)."""
    min_samples: Annotated[int, Field(ge=2)] = 30
    """Observations each arm needs before a guardrail is tested; fewer at a stage's end: hold."""
    max_holds: Annotated[int, Field(ge=0)] = 2
    """Times a stage may be extended (by its own minimum) before it is promoted without a rollback."""
    regression_start_s: Annotated[float, Field(ge=0)] | None = None
    """When the candidate's regression began, if known (a drill's author knows it): requests the candidate
    serves from then on count as exposed. Unset: every candidate request counts (the cautious reading)."""

    @model_validator(mode="after")
    def _ordered(self) -> RolloutPlan:
        for i, stage in enumerate(self.stages):
            if i and stage.share <= self.stages[i - 1].share:
                raise _StageError(i, "share", f"stage shares must increase: {stage.share:g} follows "
                                  f"{self.stages[i - 1].share:g}")
            last = i == len(self.stages) - 1
            if not last and stage.min_requests is None and stage.min_time_s is None:
                raise _StageError(i, "min_requests", "a stage before the last needs min_requests or min_time_s")
        seen = [g.metric for g in self.guardrails]
        for i, metric in enumerate(seen):
            if metric in seen[:i]:
                raise _StageError(i, "metric", f"two guardrails on {metric}", where="guardrails")
        return self

    @property
    def alpha_each(self) -> float:
        """Each guardrail's share of :attr:`alpha` (Bonferroni: the rollout's bound holds for all at once)."""
        return self.alpha / max(1, len(self.guardrails))


class _StageError(ValueError):
    """A cross-field problem that knows its path (pydantic reports model validators at the model's root)."""

    def __init__(self, index: int, fld: str, msg: str, where: str = "stages"):
        super().__init__(msg)
        self.loc = (where, index, fld)


def parse_plan(text: str, where: str = "<plan>") -> RolloutPlan:
    """Validate a plan's YAML text; one :class:`InputError` naming ``where``, the line and the field."""
    data, lines = read_yaml(text, where, InputError)
    if not isinstance(data, dict):
        raise InputError("a rollout plan is a YAML mapping (stages:, guardrails:)", file=where, line=1)
    try:
        return RolloutPlan.model_validate(data)
    except ValidationError as exc:
        cause = _cause(exc)
        if cause is not None:
            raise InputError(str(cause), file=where, line=line_for(lines, cause.loc), field=dotted(cause.loc)) from None
        raise field_error(exc, where, lines, InputError, unknown="unknown field (see README, rollouts)") from None


def _cause(exc: ValidationError) -> _StageError | None:
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        if isinstance(ctx.get("error"), _StageError):
            return ctx["error"]
    return None


_STAGES, _FLEET = re.compile(r"^stages\s*:", re.M), re.compile(r"^fleet\s*:", re.M)


def is_plan_text(text: str) -> bool:
    """True for a rollout plan's text (top-level ``stages:`` and no ``fleet:``): a folder of designs may
    hold plans (``scenarios/rollout-plan.yaml``), which pickers of designs leave out and vice versa."""
    return bool(_STAGES.search(text)) and not _FLEET.search(text)


def is_plan_file(path: str | Path) -> bool:
    """True when the file at ``path`` reads as a rollout plan (an unreadable file is not one)."""
    try:
        return is_plan_text(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False


def load_plan(path: str | Path) -> RolloutPlan:
    """Read and validate a rollout plan file."""
    p = Path(path)
    return parse_plan(read_text(p, "rollout plan", InputError), str(p))
