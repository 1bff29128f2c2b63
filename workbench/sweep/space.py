"""A design space: which scenario fields a sweep varies, over which values, judged by which metrics.

Why a file of its own, validated twice: a sweep runs dozens of designs, so a typo found after the
tenth trial wastes the nine before it and leaves a half sweep in the store. The space is read with
the workbench's YAML reader (line numbers, YAML 1.2 booleans, duplicate keys rejected) into pydantic
models with ``extra="forbid"``; then every value a parameter can take (each choice, both ends of a
range) and every fixed ``set:`` value is applied to the scenario and the result validated as a whole
scenario (schema, references, the policy's own params). The first problem is one error naming the
space file, the line and the field; nothing has run and nothing is written.

A parameter's key is a dotted path into the scenario (``humans.tier2.agents``,
``router.params.strong_share``, ``fallbacks.small``); a segment may itself contain dots when the
scenario has such a key (a fleet member named ``gpt-4.1``), and an integer segment indexes a list.
The traffic, the seed and the name are fixed: every trial replays the same requests.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from workbench.errors import InputError, WorkbenchError
from workbench.policies import build_policy
from workbench.scenario import Scenario
from workbench.yamlio import dotted, field_error, line_for, read_text, read_yaml

__all__ = ["SpaceError", "Param", "Space", "Constraint", "Objective", "METRICS", "OBJECTIVE_ALIASES",
           "load_space", "parse_space", "parse_constraint", "parse_objective", "apply_params", "check_space"]

#: Metrics of :func:`workbench.analysis.run_summary` a sweep can optimise or constrain, and whether
#: a higher value is better.
METRICS: dict[str, bool] = {
    "cost_usd": False, "cost_per_1k_usd": False, "quality": True, "error_rate": False,
    "p50_latency_s": False, "p95_latency_s": False, "p99_latency_s": False, "fallback_rate": False,
    "retry_rate": False, "handoff_rate": False, "escalation_rate": False, "attempt_error_rate": False,
}
#: Short names accepted for metrics.
OBJECTIVE_ALIASES = {"cost": "cost_per_1k_usd", "p95_latency": "p95_latency_s", "p95": "p95_latency_s",
                     "p50_latency": "p50_latency_s", "p99_latency": "p99_latency_s", "errors": "error_rate"}
_FIXED = ("traffic", "seed", "name")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")


class SpaceError(InputError):
    """A design space (or a sweep option) that cannot be used as it is."""


def _invalid(message: str) -> PydanticCustomError:
    """A validation error shown as written (a plain ValueError would read "Value error, ...")."""
    return PydanticCustomError("invalid_space", message)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Param(_Model):
    """One varied field: exactly one of ``choices``, ``int: [low, high]`` or ``float: [low, high]``.

    ``step`` quantises a range; ``log`` draws it on a log scale (low > 0; not with ``step``);
    ``points``: how many values a grid takes from a float range without a step (default 5).
    """

    choices: Annotated[list[Any], Field(min_length=1)] | None = None
    int_: tuple[int, int] | None = Field(None, alias="int")
    float_: tuple[float, float] | None = Field(None, alias="float")
    step: Annotated[float, Field(gt=0)] | None = None
    log: bool = False
    points: Annotated[int, Field(ge=2, le=1000)] = 5

    @field_validator("int_", "float_")
    @classmethod
    def _not_empty(cls, v):
        if v is not None and (v[0] > v[1] or not all(math.isfinite(x) for x in v)):
            raise _invalid(f"empty range: low {v[0]} is above high {v[1]}" if v[0] > v[1]
                           else "a range needs finite ends")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> Param:
        if sum(x is not None for x in (self.choices, self.int_, self.float_)) != 1:
            raise _invalid("give exactly one of choices: [...], int: [low, high] or float: [low, high]")
        if self.log and self.step is not None:
            raise _invalid("log and step cannot be combined")
        rng = self.int_ or self.float_
        if self.log and rng is not None and rng[0] <= 0:
            raise _invalid(f"a log range needs low > 0, got {rng[0]}")
        if self.int_ is not None and self.step is not None and self.step != int(self.step):
            raise _invalid(f"an int range needs a whole step, got {self.step}")
        return self

    @property
    def kind(self) -> str:
        """``choice``, ``int`` or ``float``."""
        return "choice" if self.choices is not None else "int" if self.int_ is not None else "float"

    def ends(self) -> list[Any]:
        """The values checked against the scenario: every choice, or both ends of the range."""
        if self.choices is not None:
            return list(self.choices)
        ends = self.int_ if self.int_ is not None else self.float_
        assert ends is not None  # the validator requires exactly one of choices, int and float
        return list(ends)


class Constraint(_Model):
    """``metric op bound``, e.g. ``quality >= 0.85``."""

    metric: str
    op: str
    bound: float

    def holds(self, value: float | None) -> bool:
        """True when ``value`` meets the constraint (a missing value never does)."""
        if value is None or value != value:
            return False
        return {">=": value >= self.bound, "<=": value <= self.bound, ">": value > self.bound,
                "<": value < self.bound}[self.op]

    def violation(self, value: float | None) -> float:
        """How far ``value`` is from meeting the constraint (<= 0: met), for Optuna's constraints."""
        if value is None or value != value:
            return 1e9
        return self.bound - value if self.op in (">=", ">") else value - self.bound

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


class Objective(_Model):
    """A metric and its direction (``maximize`` for quality, ``minimize`` for the rest)."""

    metric: str
    direction: str


class Space(_Model):
    """A design space over one scenario (see the module docstring and README "Design search")."""

    description: str = ""
    sampler: str = "grid"
    trials: Annotated[int, Field(ge=1, le=100_000)] | None = None
    seed: int = 0
    batch: Annotated[int, Field(ge=1, le=1024)] = 8
    algorithm: Literal["tpe", "nsga2"] = "tpe"
    objectives: Annotated[list[str], Field(min_length=1)] = ["cost", "quality", "error_rate", "p95_latency"]
    constraints: list[str] = []
    set: dict[str, Any] = {}
    params: Annotated[dict[str, Param], Field(min_length=1)]

    @field_validator("sampler")
    @classmethod
    def _sampler(cls, v: str) -> str:
        if v not in ("grid", "random", "optuna"):
            raise _invalid(f"unknown sampler '{v}' (grid, random or optuna)")
        return v


def parse_objective(text: str) -> Objective:
    """``cost`` / ``quality`` / any metric of :data:`METRICS` as an objective; ValueError if unknown."""
    metric = OBJECTIVE_ALIASES.get(text.strip(), text.strip())
    if metric not in METRICS:
        raise ValueError(f"unknown metric '{text}' (known: {', '.join([*OBJECTIVE_ALIASES, *METRICS])})")
    return Objective(metric=metric, direction="maximize" if METRICS[metric] else "minimize")


def parse_constraint(text: str) -> Constraint:
    """``quality>=0.85`` as a :class:`Constraint`; ValueError naming what is wrong."""
    m = _CONSTRAINT.match(text)
    if not m:
        raise ValueError(f"'{text}' is not METRIC>=VALUE, METRIC<=VALUE, METRIC>VALUE or METRIC<VALUE")
    metric = parse_objective(m.group(1)).metric
    try:
        bound = float(m.group(3))
    except ValueError:
        raise ValueError(f"'{m.group(3)}' is not a number") from None
    return Constraint(metric=metric, op=m.group(2), bound=bound)


def load_space(path: str | Path, scenario: Scenario) -> Space:
    """Read and check a space file against ``scenario``: one :class:`SpaceError` naming file, line, field."""
    p = Path(path)
    return parse_space(read_text(p, "space", SpaceError), scenario, source=p)


def parse_space(text: str, scenario: Scenario, source: str | Path | None = None) -> Space:
    """Validate space YAML text and check every value it can give against ``scenario``."""
    where = str(source) if source is not None else "<space>"
    data, lines = read_yaml(text, where, SpaceError)
    if not isinstance(data, dict):
        raise SpaceError("a space is a YAML mapping (params:, constraints:, ...)", file=where, line=1)
    try:
        space = Space.model_validate(data)
    except ValidationError as exc:
        raise field_error(exc, where, lines, SpaceError, unknown="unknown field (see README, "
                          "\"Design search\")") from None
    for i, text_ in enumerate(space.objectives):
        _checked(parse_objective, text_, where, lines, ("objectives", i))
    for i, text_ in enumerate(space.constraints):
        _checked(parse_constraint, text_, where, lines, ("constraints", i))
    check_space(space, scenario, where, lines)
    return space


def _checked(fn, text: str, where: str, lines: dict, loc: tuple):
    try:
        return fn(text)
    except ValueError as exc:
        raise SpaceError(str(exc), file=where, line=line_for(lines, loc), field=dotted(loc)) from None


def check_space(space: Space, scenario: Scenario, where: str = "<space>", lines: dict | None = None) -> None:
    """Apply every fixed value and each parameter's choices and range ends to ``scenario``; the first
    value that makes an invalid scenario is a :class:`SpaceError` at the parameter's line."""
    lines = lines or {}
    for key in [*space.set, *space.params]:
        if key.split(".", 1)[0] in _FIXED:
            loc = ("set" if key in space.set else "params", key)
            raise SpaceError(f"'{key}' cannot be varied: every trial replays the scenario's traffic and "
                             "seed under its own name", file=where, line=line_for(lines, loc), field=dotted(loc))
    _apply(scenario, space.set, where, lines, "set")
    for key, param in space.params.items():
        for i, value in enumerate(param.ends()):
            at = ("choices", i) if param.choices is not None else (param.kind,)
            _apply(scenario, {**space.set, key: value}, where, lines, "params", key, at)


def _apply(scenario: Scenario, values: dict[str, Any], where: str, lines: dict, section: str,
           key: str | None = None, at: tuple = ()) -> Scenario:
    try:
        return apply_params(scenario, values)
    except (WorkbenchError, ValueError, KeyError) as exc:
        field = getattr(exc, "field", None)
        bad = exc.key if isinstance(exc, _PathError) else key or _culprit(values, field)
        reason = getattr(exc, "reason", None) or str(exc)
        shown = repr(values.get(bad)) if bad is not None else "None"
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        msg = f"value {shown} makes an invalid scenario" if bad in values else "invalid scenario"
        if field:
            msg += f" (scenario field '{field}')"
        loc = (section, bad) if bad is not None else (section,)
        line = line_for(lines, loc + at) if bad == key else line_for(lines, loc)
        raise SpaceError(f"{msg}: {reason}", file=where, line=line, field=dotted(loc)) from None


def _culprit(values: dict[str, Any], field: str | None) -> str | None:
    """The fixed value whose path leads to the scenario field an error names (else the first)."""
    if field:
        for k in values:
            if field == k or field.startswith(k + ".") or field.startswith(k + "["):
                return k
    return next(iter(values), None)


class _PathError(ValueError):
    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


def apply_params(scenario: Scenario, values: dict[str, Any], name: str | None = None) -> Scenario:
    """A copy of ``scenario`` with each dotted path set to its value (and renamed to ``name``),
    validated as a whole scenario, its policy built; the same errors as a scenario file's."""
    data = scenario.model_dump(mode="json", exclude_defaults=True)
    for key, value in values.items():
        _set_path(data, key, copy.deepcopy(value))
    if name is not None:
        data["name"] = name
    try:
        out = Scenario.model_validate(data)
    except ValidationError as exc:
        raise field_error(exc, "<variant>", {}) from None
    out._path = scenario.path  # relative traffic and file references resolve as the base scenario's
    out.check_references()
    build_policy(out)
    return out


def _set_path(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node: Any = data
    i = 0
    while i < len(parts):
        if isinstance(node, list):
            try:
                idx = int(parts[i])
                node[idx]
            except (ValueError, IndexError):
                raise _PathError(key, f"'{parts[i]}' is not an index of the list at "
                                      f"'{'.'.join(parts[:i])}' ({len(node)} items)") from None
            seg: int | str = idx
            i += 1
        elif isinstance(node, dict):
            seg, i = _segment(node, parts, i)
        else:
            raise _PathError(key, f"'{'.'.join(parts[:i])}' is a value, not a mapping: it has no field "
                                  f"'{parts[i]}'")
        if i == len(parts):
            node[seg] = value
            return
        if isinstance(node, dict) and seg not in node:
            node[seg] = {}
        node = node[seg]


def _segment(node: dict, parts: list[str], i: int) -> tuple[str, int]:
    """The longest run of parts from ``i`` that is a key of ``node`` (keys may hold dots), else one part."""
    for j in range(len(parts), i, -1):
        joined = ".".join(parts[i:j])
        if joined in node:
            return joined, j
    return parts[i], i + 1
