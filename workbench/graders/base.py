"""Graders: the contract, the registry, and building a scenario's graders.

Why graders are separate from providers: the same answer can be scored several ways (exact label,
a number, a judge), and quality must mean the same thing whichever provider produced the answer.
A grader returns a score in [0, 1], or None when it cannot judge (no expected answer); a request's
quality is the mean of the scores its final answer got. Every module in ``workbench/graders/`` is
imported on first use (``workbench.registry``), so a new grader is one new file with :func:`register`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from workbench.registry import Registry, validate_params

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Scenario
    from workbench.traffic import Request

__all__ = ["Grader", "GraderParams", "register", "grader_names", "build_graders", "grade"]


class GraderParams(BaseModel):
    """Base of every grader's params: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Grader(ABC):
    """Scores one answer to one request."""

    name: ClassVar[str]
    Params: ClassVar[type[GraderParams]] = GraderParams

    def __init__(self, params: GraderParams):
        self.params = params

    @abstractmethod
    def score(self, req: "Request", text: str | None, provider_score: float | None) -> float | None:
        """A score in [0, 1], or None when this grader cannot judge this request."""


_REGISTRY: Registry[Grader] = Registry("workbench.graders")


def register(cls: type[Grader]) -> type[Grader]:
    """Class decorator: make a grader usable from YAML by its ``name``."""
    return _REGISTRY.register(cls)


def grader_names() -> list[str]:
    """Registered grader types."""
    return _REGISTRY.names()


def build_graders(scenario: "Scenario") -> list[Grader]:
    """The scenario's graders with validated params; errors name ``graders[i]`` and its line."""
    out = []
    for i, spec in enumerate(scenario.graders):
        cls = _REGISTRY.get(spec.type)
        if cls is None:
            raise scenario.error_at(("graders", i, "type"), f"unknown grader '{spec.type}' "
                                    f"(registered: {', '.join(_REGISTRY.names())})")
        out.append(cls(validate_params(scenario, cls.Params, spec.params, ("graders", i, "params"),
                                       f"grader '{cls.name}'")))
    return out


def grade(graders: list[Grader], req: "Request", text: str | None, provider_score: float | None) -> float | None:
    """Mean score of the graders that could judge, or None when none could (or there are none)."""
    total, n = 0.0, 0
    for g in graders:
        s = g.score(req, text, provider_score)
        if s is not None:
            total += s
            n += 1
    return total / n if n else None
