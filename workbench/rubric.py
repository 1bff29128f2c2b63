"""An exercise's rubric: held-out seeds, measured targets per level, required elements, reflex designs.

Why levels: a hiring panel needs to tell a thoughtful design from a reflex. The rubric's ``criteria``
and ``requires`` are the pass mark (level ``meets``); ``levels.exceeds`` adds stricter targets or
extra elements that brute force (a revert, one model for everything) does not reach. Why several
held-out seeds: a criterion passes only when it holds on every seed, so a lucky draw cannot pass;
the scorer reports the worst seed's value. Why reflexes in the rubric: the designs a panel wants to
tell apart (all traffic to the largest model, to the smallest, to people, the start with only a
budget) are written next to the targets they must not reach, with the level each measured, and a
test replays them.

What a replay cannot show (a fallback for a given model, a circuit breaker, a budget) is read from
the validated scenario here; what it can is measured by :mod:`workbench.exercises`. The
``unchanged_conditions`` element pins the world: the fleet's simulated behaviour (outages, limits,
prices, quality) and the human teams are the starting design's, so a submission cannot pass by
deleting the outage it was asked to survive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workbench.errors import ErrorKind, InputError
from workbench.scenario import Arrival, Scenario, field_error, load_scenario, read_yaml

__all__ = ["METRICS", "LEVELS", "Holdout", "Criterion", "Element", "Level", "Levels", "Reflex", "Rubric",
           "load_rubric", "check_element", "element_label"]

#: Numeric keys of :func:`workbench.analysis.run_summary` a criterion may name.
METRICS = ("requests", "completed", "failed", "rejected", "cost_usd", "cost_per_1k_usd", "quality",
           "p50_latency_s", "p95_latency_s", "p99_latency_s", "error_rate", "fallback_rate", "retry_rate",
           "handoff_rate", "escalation_rate", "circuit_skips", "routing_cost_usd", "escalation_cost_usd",
           "judging_cost_usd", "attempts", "attempt_error_rate", "prompt_tokens", "completion_tokens")
#: The levels a submission can reach, lowest first.
LEVELS = ("fails", "meets", "exceeds")
_NonEmpty = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Holdout(_Strict):
    """The held-out traffic: a file (relative to the rubric), three or more seeds, a sample, an arrival."""

    source: _NonEmpty
    seeds: Annotated[list[int], Field(min_length=3)]
    sample: Annotated[int, Field(ge=1)] | None = None
    replace: bool = False
    arrival: Arrival | None = None  # None: the submission's own arrival process

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("a seed is listed twice")
        return v


class Criterion(_Strict):
    """A measured target: ``metric`` (a run_summary key) ``comparison`` ``target``."""

    metric: _NonEmpty
    comparison: Literal["<=", ">="]
    target: float
    name: _NonEmpty | None = None
    points: Annotated[int, Field(ge=0)] = 1

    @field_validator("metric")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric '{v}' (known: {', '.join(METRICS)})")
        return v


class _Element(_Strict):
    name: _NonEmpty | None = None
    points: Annotated[int, Field(ge=0)] = 1


class HumanNode(_Element):
    """A human node the design can reach (a route, a cascade step or a fallback)."""

    kind: Literal["human_node"]


class FallbackFor(_Element):
    """Every fleet entry running litellm ``model`` has a fallback for each of ``errors``."""

    kind: Literal["fallback"]
    model: _NonEmpty
    errors: Annotated[list[ErrorKind], Field(min_length=1)] = [ErrorKind.SERVER_ERROR]


class BreakerPresent(_Element):
    """A circuit breaker is configured."""

    kind: Literal["circuit_breaker"]


class BudgetPresent(_Element):
    """A budget guard is configured, capped at ``max_usd`` or less when given."""

    kind: Literal["budget"]
    max_usd: Annotated[float, Field(gt=0)] | None = None


class AuditOn(_Element):
    """The scenario seals its decisions into the audit trail (``audit: true``)."""

    kind: Literal["audit"]


class HumanReview(_Element):
    """In the scored runs, no final answer equal to ``answer`` came from a machine."""

    kind: Literal["human_review"]
    answer: _NonEmpty


class UnchangedConditions(_Element):
    """The fleet's models, their simulated behaviour and the human teams are ``reference``'s."""

    kind: Literal["unchanged_conditions"]
    reference: _NonEmpty = "start.yaml"


Element = Annotated[HumanNode | FallbackFor | BreakerPresent | BudgetPresent | AuditOn | HumanReview
                    | UnchangedConditions, Field(discriminator="kind")]


class Level(_Strict):
    """A level above passing: stricter targets and/or extra required elements, on top of the pass mark."""

    criteria: list[Criterion] = []
    requires: list[Element] = []


class Levels(_Strict):
    """The levels above ``meets`` a rubric defines (today: ``exceeds``)."""

    exceeds: Level | None = None


class Reflex(_Strict):
    """A reflex design the panel wants to tell apart: ``start.yaml`` with top-level keys replaced.

    ``design`` maps scenario keys (``router``, ``budget``, ``humans``...) to their new values; ``level``
    is the level the design measured, which a test replays and checks.
    """

    name: _NonEmpty
    design: Annotated[dict[str, Any], Field(min_length=1)]
    level: Literal["fails", "meets", "exceeds"]


class Rubric(_Strict):
    """How a submission is scored: held-out traffic, measured criteria, required elements, levels."""

    title: _NonEmpty
    holdout: Holdout
    criteria: Annotated[list[Criterion], Field(min_length=1)]
    requires: list[Element] = []
    levels: Levels = Levels()
    reflexes: list[Reflex] = []

    @property
    def top_level(self) -> str:
        """The highest level this rubric defines."""
        return "exceeds" if self.levels.exceeds is not None else "meets"


def load_rubric(path: str | Path) -> Rubric:
    """Read and validate a rubric; one :class:`InputError` naming the file, line and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the rubric: {exc.strerror if isinstance(exc, OSError) else exc}",
                         file=p) from None
    data, lines = read_yaml(text, str(p), InputError)
    if not isinstance(data, dict):
        raise InputError("a rubric is a YAML mapping (title:, holdout:, criteria:, requires:)", file=p, line=1)
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        raise field_error(exc, str(p), lines, InputError, unknown="unknown field") from None


# --- required elements read from the design ------------------------------------------------------

def _reachable(scn: Scenario, policy) -> set[str]:
    targets = set(policy.referenced_targets().values())
    targets.update(rule.to for rules in scn.fallbacks.values() for rule in rules)
    return targets


def _check_fallback(el: FallbackFor, scn: Scenario) -> tuple[bool, str]:
    names = [n for n, m in scn.fleet.items() if m.model == el.model]
    if not names:
        return False, f"no fleet model runs {el.model}"
    for n in names:
        rules = scn.fallbacks.get(n, [])
        missing = [k.value for k in el.errors if not any(r.matches(k) for r in rules)]
        if missing:
            return False, f"{n} ({el.model}) has no fallback on {', '.join(missing)}"
    return True, "; ".join(f"{n} -> {', '.join(r.to for r in scn.fallbacks[n])}" for n in names)


def _conditions(scn: Scenario, ref: Scenario, ref_name: str) -> tuple[bool, str]:
    def world(m):  # what the candidate may not change about a model: how the provider behaves
        return (m.provider, m.sim, m.limits, m.price, m.context_window)

    worlds: dict[str, list] = {}
    for m in ref.fleet.values():
        worlds.setdefault(m.model, []).append(world(m))
    for n, m in scn.fleet.items():
        if m.model not in worlds:
            return False, f"fleet model '{n}' runs {m.model}, not available in {ref_name} ({', '.join(worlds)})"
        if world(m) not in worlds[m.model]:
            return False, f"fleet model '{n}' ({m.model}): sim, limits or price differ from {ref_name}"
    for n, h in scn.humans.items():
        if not any(h.model_copy(update={"agents": r.agents}) == r and h.agents <= r.agents
                   for r in ref.humans.values()):
            return False, f"human node '{n}' is not one of {ref_name}'s teams (at most as many agents)"
    return True, f"as in {ref_name}"


def check_element(el, scn: Scenario, policy, directory: Path) -> tuple[bool, str | None, str]:
    """(passed, measured, target) of an element read from the design itself (not ``human_review``)."""
    if isinstance(el, HumanNode):
        humans = sorted(set(scn.humans) & _reachable(scn, policy))
        return bool(humans), ", ".join(humans) or None, "a reachable human node"
    if isinstance(el, FallbackFor):
        ok, text = _check_fallback(el, scn)
        return ok, text, f"{el.model} falls back on {', '.join(k.value for k in el.errors)}"
    if isinstance(el, BreakerPresent):
        cb = scn.circuit_breaker
        shown = None if cb is None else f"{cb.allowed_fails} fails in {cb.window_s:g} s, cooldown {cb.cooldown_s:g} s"
        return cb is not None, shown, "a circuit breaker"
    if isinstance(el, BudgetPresent):
        b = scn.budget
        ok = b is not None and (el.max_usd is None or b.max_usd <= el.max_usd)
        return ok, None if b is None else f"${b.max_usd:g}, then {b.on_exceed}", \
            "a budget" + ("" if el.max_usd is None else f" of at most ${el.max_usd:g}")
    if isinstance(el, AuditOn):
        return scn.audit, "on" if scn.audit else "off", "audit: true"
    if isinstance(el, UnchangedConditions):
        ok, text = _conditions(scn, load_scenario(directory / el.reference), el.reference)
        return ok, text, f"the fleet and teams of {el.reference}"
    raise TypeError(el)  # pragma: no cover


def element_label(el) -> str:
    """The name an element's verdict is shown under."""
    if el.name:
        return el.name
    return {"human_node": "human node", "fallback": f"fallback for {getattr(el, 'model', '')}",
            "circuit_breaker": "circuit breaker", "budget": "budget", "audit": "audit trail",
            "human_review": f"human review of every '{getattr(el, 'answer', '')}'",
            "unchanged_conditions": "conditions unchanged"}[el.kind]
