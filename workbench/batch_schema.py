"""The ``batch:`` block of a scenario: how a batch lane collects, sends and waits for its batches.

Why its own module, beside :mod:`workbench.scenario` and not in :mod:`workbench.replay.batching`: the
scenario layer validates the block (and the replay layer imports the scenario), so the schema must sit
below the replay; the lane's logic (collecting, drawing completion times, failing late requests over)
lives in :mod:`workbench.replay.batching`.

A fleet model with ``tier: batch`` is a batch lane: requests routed to it wait in a batch that is sent
when it is ``window_s`` old or ``max_size`` full, and complete after a delay drawn from ``completion``.
Each request has a deadline, in seconds after its arrival: the traffic's ``deadline_s`` field, else the
block's ``deadlines`` rule for its traffic ``class`` field, else the rule for its category, else
``default_deadline_s``. A request whose batch has not
completed ``margin_s`` before its deadline (or whose batch line failed, or whose batch expired) fails
over to ``failover``, a real-time fleet model.

Completion profiles (a lognormal through ``p50_s`` and ``p95_s``; a draw beyond the provider's window is
an expired batch). The 24 h window is DOCUMENTED by both providers: OpenAI's Batch API takes
``completion_window: "24h"`` only (https://platform.openai.com/docs/api-reference/batch/create) and
Anthropic's Message Batches "can take up to 24 hours to complete"
(https://docs.claude.com/en/api/creating-message-batches). Both say most batches finish much sooner but
publish no distribution, so the medians and 95th percentiles below are ASSUMED (no measurement here):
openai p50 30 min, p95 4 h; anthropic p50 20 min, p95 1 h. ``profile: custom`` takes your own figures.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Scenario

__all__ = ["PROVIDER_WINDOW_S", "PROFILES", "CompletionSpec", "BatchSpec", "check_batch"]

#: The providers' completion window: a batch not done 24 h after it was created expires.
PROVIDER_WINDOW_S = 86_400.0
#: Profile -> (p50_s, p95_s) of a batch's completion delay, ASSUMED (see the module docstring).
PROFILES: dict[str, tuple[float, float]] = {"openai": (1_800.0, 14_400.0), "anthropic": (1_200.0, 3_600.0)}
_Z95 = 1.6448536269514722  # the standard normal's 95th percentile

PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CompletionSpec(_Model):
    """A batch's completion delay after it is sent: a lognormal through ``p50_s`` and ``p95_s``."""

    profile: Literal["openai", "anthropic", "custom"] = "openai"
    p50_s: PosFloat | None = None
    p95_s: PosFloat | None = None

    @model_validator(mode="after")
    def _figures(self) -> CompletionSpec:
        if self.profile == "custom" and (self.p50_s is None or self.p95_s is None):
            raise ValueError("profile: custom needs p50_s and p95_s")
        p50, p95 = self.quantiles
        if p95 < p50:
            raise ValueError(f"p95_s ({p95:g}) must be at least p50_s ({p50:g})")
        if p50 > PROVIDER_WINDOW_S:
            raise ValueError(f"p50_s ({p50:g}) is beyond the provider's 24 h window ({PROVIDER_WINDOW_S:g} s)")
        return self

    @property
    def quantiles(self) -> tuple[float, float]:
        """(p50_s, p95_s): the profile's, each overridden by a given figure."""
        base = PROFILES.get(self.profile, (0.0, 0.0))
        return (self.p50_s if self.p50_s is not None else base[0], self.p95_s if self.p95_s is not None else base[1])

    def delay(self, u: float) -> float:
        """The completion delay at quantile ``u`` in (0, 1) (a uniform draw gives a lognormal draw)."""
        p50, p95 = self.quantiles
        sigma = math.log(p95 / p50) / _Z95
        return p50 * math.exp(sigma * _probit(u))


class BatchSpec(_Model):
    """The batch lanes of a scenario (every fleet model with ``tier: batch``)."""

    window_s: Annotated[float, Field(gt=0, le=PROVIDER_WINDOW_S)] = 600.0
    max_size: Annotated[int, Field(ge=1, le=50_000)] = 1_000
    completion: CompletionSpec = CompletionSpec()
    failover: Annotated[str, Field(min_length=1)]
    margin_s: NonNegFloat = 300.0
    deadlines: dict[str, PosFloat] = {}
    default_deadline_s: PosFloat = PROVIDER_WINDOW_S
    poll_s: PosFloat = 60.0


def _probit(u: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(min(max(u, 1e-12), 1.0 - 1e-12))


def check_batch(scn: Scenario) -> None:
    """Raise a ScenarioError for a batch lane without a ``batch:`` block, a failover that is not a
    real-time fleet model, or a deadline shorter than the batch window."""
    lanes = [n for n, m in scn.fleet.items() if m.tier == "batch"]
    spec = scn.batch
    if spec is None:
        if lanes:
            raise scn.error_at(("fleet", lanes[0], "tier"), "tier: batch needs a top-level batch: block "
                               "(window_s, max_size, completion, failover)")
        return
    if spec.failover not in scn.fleet or scn.fleet[spec.failover].tier == "batch":
        raise scn.error_at(("batch", "failover"), f"'{spec.failover}' is not a real-time fleet model "
                           f"(real-time: {', '.join(n for n in scn.fleet if n not in lanes)})")
    rules = [(("batch", "deadlines", k), v) for k, v in spec.deadlines.items()]
    for loc, deadline in [*rules, (("batch", "default_deadline_s"), spec.default_deadline_s)]:
        if deadline < spec.window_s + spec.margin_s:
            raise scn.error_at(loc, f"a deadline of {deadline:g} s is shorter than the batch window "
                               f"(window_s {spec.window_s:g} + margin_s {spec.margin_s:g}): no batch can meet it")
