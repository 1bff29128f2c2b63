"""Graders: the contract, the registry, and building a scenario's graders.

Why graders are separate from providers: the same answer can be scored several ways (exact label,
a number, a judge), and quality must mean the same thing whichever provider produced the answer.
A grader returns a score in [0, 1], or None when it cannot judge (no expected answer); a request's
quality is the mean of the scores its final answer got. Every module in ``workbench/graders/`` is
imported on first use (``workbench.registry``), so a new grader is one new file with :func:`register`.

Params are checked when a grader is constructed; what needs the scenario itself (a label file beside
it, a fleet model's name) is checked in :meth:`Grader.bind`, which :func:`build_graders` calls with the
grader's location so its errors name ``graders[i]``. A grader that needs a model call of its own (an
LLM judge) sets ``needs_call``: the replay engine makes that call and scores it, so
:func:`grade_all` leaves such graders out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from workbench.registry import Registry, validate_params

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Scenario
    from workbench.traffic import Request

__all__ = ["Grader", "GraderParams", "register", "grader_names", "build_graders", "grade", "grade_all",
           "grader_labels"]


class GraderParams(BaseModel):
    """Base of every grader's params: unknown keys are errors, numbers finite (as in the scenario)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Grader(ABC):
    """Scores one answer to one request."""

    name: ClassVar[str]
    Params: ClassVar[type[GraderParams]] = GraderParams
    #: True when scoring needs a model call that the replay engine makes (see ``judge.py``).
    needs_call: ClassVar[bool] = False

    def __init__(self, params: GraderParams):
        self.params = params

    def bind(self, scenario: Scenario, loc: tuple) -> None:  # noqa: B027 - an optional hook, most bind nothing
        """Check or load what depends on the scenario; errors go to ``scenario.error_at((*loc, ...))``."""

    @abstractmethod
    def score(self, req: Request, text: str | None, provider_score: float | None) -> float | None:
        """A score in [0, 1], or None when this grader cannot judge this request."""


_REGISTRY: Registry[Grader] = Registry("workbench.graders")


def register(cls: type[Grader]) -> type[Grader]:
    """Class decorator: make a grader usable from YAML by its ``name``."""
    return _REGISTRY.register(cls)


def grader_names() -> list[str]:
    """Registered grader types."""
    return _REGISTRY.names()


def build_graders(scenario: Scenario) -> list[Grader]:
    """The scenario's graders with validated params; errors name ``graders[i]`` and its line."""
    out = []
    for i, spec in enumerate(scenario.graders):
        cls = _REGISTRY.get(spec.type)
        if cls is None:
            raise scenario.error_at(("graders", i, "type"), f"unknown grader '{spec.type}' "
                                    f"(registered: {', '.join(_REGISTRY.names())})")
        params = validate_params(scenario, cls.Params, spec.params, ("graders", i, "params"), f"grader '{cls.name}'")
        assert isinstance(params, GraderParams)  # an instance of cls.Params (validate_params returns BaseModel)
        grader = cls(params)
        grader.bind(scenario, ("graders", i))
        out.append(grader)
    return out


def grader_labels(graders: list[Grader]) -> list[str]:
    """One label per grader: its name, then ``name#2``, ``name#3`` for repeats, in order."""
    seen: dict[str, int] = {}
    labels = []
    for g in graders:
        seen[g.name] = seen.get(g.name, 0) + 1
        labels.append(g.name if seen[g.name] == 1 else f"{g.name}#{seen[g.name]}")
    return labels


def grade_all(graders: list[Grader], req: Request, text: str | None, provider_score: float | None,
              labels: list[str] | None = None) -> tuple[float | None, dict[str, float | None]]:
    """The mean of the verdicts that are not None (None if none), and each grader's verdict by label.

    Graders with ``needs_call`` are left out of both: the engine scores them from their own call.
    ``labels`` (:func:`grader_labels` of ``graders``) may be passed in by a caller grading many answers.
    """
    verdicts: dict[str, float | None] = {}
    total, n = 0.0, 0
    for label, g in zip(labels or grader_labels(graders), graders, strict=True):
        if not g.needs_call:
            v = verdicts[label] = g.score(req, text, provider_score)
            if v is not None:
                total += v
                n += 1
    return (total / n if n else None), verdicts


def grade(graders: list[Grader], req: Request, text: str | None, provider_score: float | None) -> float | None:
    """Mean score of the graders that could judge, or None when none could (or there are none)."""
    return grade_all(graders, req, text, provider_score)[0]
