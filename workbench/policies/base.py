"""Routing policies: the contract, the registry, and building a scenario's router.

Why a registry of one-file policies with typed params: an architect's toolbox grows (rules,
classifiers, cascades, thresholds...) and each policy must be usable from YAML by name with its
params checked like the rest of the scenario. Every module in ``workbench/policies/`` is imported when
the registry is first used (``workbench.registry``), so a new policy is one new file with
:func:`register`, no central edit.

A policy decides; it never calls a provider. Its decision (target, reason, score) is stored with the
request so every route can be explained after the fact.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from workbench.registry import Registry, check_regex, validate_params  # check_regex: re-exported
from workbench.seeds import unit

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Scenario
    from workbench.traffic import Request

__all__ = ["check_regex", "Decision", "Consult", "FleetState", "RouteContext", "Policy", "PolicyParams", "register",
           "policy_names", "get_policy", "build_policy"]


@dataclass(slots=True)
class Consult:
    """Ask fleet model ``model`` about ``request`` before deciding (an LLM as router).

    The replay makes the call as an attempt with purpose ``route`` (its cost and latency count in the
    run), then hands the answer's text to :meth:`Policy.after_consult`.
    """

    model: str
    request: Request


@dataclass(slots=True)
class Decision:
    """Where a request goes first, and why; or, with ``consult``, whom to ask first."""

    target: str | None
    reason: str
    score: float | None = None
    consult: Consult | None = None


class FleetState:
    """What the replay knows of the fleet right now: calls in flight and recent latency per target.

    Kept by the replay (policies only read it), for load-balancing strategies that litellm's Router
    also offers: least busy, lowest latency.
    """

    __slots__ = ("in_flight", "latency_ewma", "alpha", "unavailable")

    def __init__(self, targets, alpha: float = 0.2):
        self.unavailable: set[str] = set()  # taken out of routing by a monitor (the engine skips them)
        self.in_flight: dict[str, int] = {t: 0 for t in targets}
        self.latency_ewma: dict[str, float | None] = {t: None for t in targets}
        self.alpha = alpha

    def observe(self, target: str, latency_s: float) -> None:
        """Fold one successful call's latency into the target's moving average."""
        old = self.latency_ewma[target]
        self.latency_ewma[target] = latency_s if old is None else old + self.alpha * (latency_s - old)


@dataclass(slots=True)
class RouteContext:
    """What a policy may look at besides the request: time, money spent, the fleet, a fixed draw."""

    now: float
    spent_usd: float
    rkey: int
    fleet: FleetState | None = None

    def uniform(self, salt: int) -> float:
        """A draw in [0, 1) fixed by the request and ``salt``: the same in every scenario of a seed."""
        return unit(self.rkey, salt)


class PolicyParams(BaseModel):
    """Base of every policy's params: unknown keys are errors, numbers finite (as in the scenario)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Policy(ABC):
    """A routing policy: ``name``, typed ``Params``, and ``decide``."""

    name: ClassVar[str]
    Params: ClassVar[type[PolicyParams]]

    def __init__(self, params: PolicyParams, scenario: Scenario):
        self.params = params
        self.scenario = scenario

    def referenced_targets(self) -> dict[tuple, str]:
        """Targets named in the params, by their location under ``router.params`` (for validation)."""
        return {}

    def fit(self, requests: Sequence[Request]) -> None:  # noqa: B027 - an optional hook, most fit nothing
        """Look at the replay's requests before it starts (calibration); most policies need not."""

    def method_notes(self) -> list[str]:
        """Caveats a report must state about this policy's results (in-sample, upper bound, ...)."""
        return []

    @abstractmethod
    def decide(self, req: Request, ctx: RouteContext) -> Decision:
        """Choose the first target for ``req`` (or a model to consult first)."""

    def after_consult(self, req: Request, ctx: RouteContext, answer: str | None) -> Decision:
        """Choose the target once the consulted model answered (``answer`` None if the call failed)."""
        raise NotImplementedError(f"policy '{self.name}' asked for a consult but cannot use the answer")

    def review(self, req: Request, ctx: RouteContext, target: str, answer: str | None,
               score: float | None) -> tuple[str, str] | None:
        """After ``target`` answered: ``(next target, why)`` to escalate (both calls are paid), or None."""
        return None


_REGISTRY: Registry[Policy] = Registry("workbench.policies")


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make a policy usable from YAML by its ``name``."""
    return _REGISTRY.register(cls)


def policy_names() -> list[str]:
    """Registered policy names."""
    return _REGISTRY.names()


def get_policy(name: str) -> type[Policy]:
    """The policy class registered as ``name`` (KeyError if none)."""
    cls = _REGISTRY.get(name)
    if cls is None:
        raise KeyError(name)
    return cls


def build_policy(scenario: Scenario) -> Policy:
    """The scenario's router with validated params; errors name ``router.params.<field>`` and its line."""
    spec = scenario.router
    cls = _REGISTRY.get(spec.policy)
    if cls is None:
        raise scenario.error_at(("router", "policy"), f"unknown policy '{spec.policy}' "
                                f"(registered: {', '.join(_REGISTRY.names())})")
    params = validate_params(scenario, cls.Params, spec.params, ("router", "params"), f"policy '{cls.name}'")
    assert isinstance(params, PolicyParams)  # an instance of cls.Params (validate_params returns BaseModel)
    policy = cls(params, scenario)
    known = set(scenario.targets)
    for loc, target in policy.referenced_targets().items():
        if target not in known:
            raise scenario.error_at(("router", "params", *loc), f"unknown target '{target}' "
                                    f"(known: {', '.join(scenario.targets)})")
    return policy
