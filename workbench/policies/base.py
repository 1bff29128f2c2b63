"""Routing policies: the contract, the registry, and building a scenario's router.

Why a registry of one-file policies with typed params: an architect's toolbox grows (rules,
classifiers, cascades, thresholds...) and each policy must be usable from YAML by name with its
params checked like the rest of the scenario. Every module in ``workbench/policies/`` is imported when
the registry is first used, so a new policy is one new file with :func:`register`, no central edit.

A policy decides; it never calls a provider. Its decision (target, reason, score) is stored with the
request so every route can be explained after the fact.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

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


_REGISTRY: dict[str, type[Policy]] = {}
_loaded = False


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make a policy usable from YAML by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    import workbench.policies as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name != "base":
            importlib.import_module(f"workbench.policies.{mod.name}")
    _loaded = True


def policy_names() -> list[str]:
    """Registered policy names."""
    _load()
    return sorted(_REGISTRY)


def get_policy(name: str) -> type[Policy]:
    """The policy class registered as ``name`` (KeyError if none)."""
    _load()
    return _REGISTRY[name]


def build_policy(scenario: "Scenario") -> Policy:
    """The scenario's router with validated params; errors name ``router.params.<field>`` and its line."""
    _load()
    spec = scenario.router
    if spec.policy not in _REGISTRY:
        raise scenario.error_at(("router", "policy"), f"unknown policy '{spec.policy}' "
                                f"(registered: {', '.join(sorted(_REGISTRY))})")
    cls = _REGISTRY[spec.policy]
    try:
        params = cls.Params.model_validate(spec.params)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        msg = "unknown param" if err["type"] == "extra_forbidden" else err["msg"]
        raise scenario.error_at(("router", "params", *err["loc"]), f"{msg} (policy '{cls.name}')") from None
    policy = cls(params, scenario)
    known = set(scenario.targets)
    for loc, target in policy.referenced_targets().items():
        if target not in known:
            raise scenario.error_at(("router", "params", *loc), f"unknown target '{target}' "
                                    f"(known: {', '.join(scenario.targets)})")
    return policy
