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
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from workbench.registry import Registry, validate_params
from workbench.seeds import unit

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Scenario
    from workbench.traffic import Request

__all__ = ["Decision", "RouteContext", "Policy", "PolicyParams", "register", "policy_names", "get_policy",
           "build_policy"]


@dataclass(slots=True)
class Decision:
    """Where a request goes first, and why."""

    target: str
    reason: str
    score: float | None = None


@dataclass(slots=True)
class RouteContext:
    """What a policy may look at besides the request: time, money spent, a fixed random draw."""

    now: float
    spent_usd: float
    rkey: int

    def uniform(self, salt: int) -> float:
        """A draw in [0, 1) fixed by the request and ``salt``: the same in every scenario of a seed."""
        return unit(self.rkey, salt)


class PolicyParams(BaseModel):
    """Base of every policy's params: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Policy(ABC):
    """A routing policy: ``name``, typed ``Params``, and ``decide``."""

    name: ClassVar[str]
    Params: ClassVar[type[PolicyParams]]

    def __init__(self, params: PolicyParams, scenario: "Scenario"):
        self.params = params
        self.scenario = scenario

    def referenced_targets(self) -> dict[tuple, str]:
        """Targets named in the params, by their location under ``router.params`` (for validation)."""
        return {}

    @abstractmethod
    def decide(self, req: "Request", ctx: RouteContext) -> Decision:
        """Choose the first target for ``req``."""


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


def build_policy(scenario: "Scenario") -> Policy:
    """The scenario's router with validated params; errors name ``router.params.<field>`` and its line."""
    spec = scenario.router
    cls = _REGISTRY.get(spec.policy)
    if cls is None:
        raise scenario.error_at(("router", "policy"), f"unknown policy '{spec.policy}' "
                                f"(registered: {', '.join(_REGISTRY.names())})")
    params = validate_params(scenario, cls.Params, spec.params, ("router", "params"), f"policy '{cls.name}'")
    policy = cls(params, scenario)
    known = set(scenario.targets)
    for loc, target in policy.referenced_targets().items():
        if target not in known:
            raise scenario.error_at(("router", "params", *loc), f"unknown target '{target}' "
                                    f"(known: {', '.join(scenario.targets)})")
    return policy
