"""Interview exercises: a brief, a flawed starting design, a rubric, and a reference answer.

Why a rubric measured by replay: a candidate's design is judged the way an architect's design is,
by what it does on traffic it was not tuned on. The rubric names a held-out sample (another seed and
size, or another traffic file) and the scorer replays the submission over it through the ordinary
runner, so every measured value is one of :func:`workbench.analysis.run_summary`'s figures, defined
once, and repeatable from the run it came from. What a replay cannot show (a fallback for a given
model, a circuit breaker, a budget) is read from the validated scenario; what it can (no decline left
without a human) is read from the trace of the very run that was scored.

Why the world is pinned: an exercise is about the routing design, not the weather. The
``unchanged_conditions`` requirement checks that the fleet's simulated behaviour (outages, limits,
prices, quality) and the human teams are the starting design's, so a submission cannot pass by
deleting the outage it was asked to survive.

Layout of one exercise, ``scenarios/exercises/<name>/``: ``brief.md`` (the candidate's task),
``start.yaml``, ``rubric.yaml`` (validated by :class:`Rubric`), ``solution.yaml``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workbench.errors import ErrorKind, InputError
from workbench.scenario import (Arrival, Scenario, TrafficSpec, field_error, load_scenario, parse_scenario,
                                read_yaml)

__all__ = ["METRICS", "Rubric", "Exercise", "CriterionResult", "ExerciseResult", "exercises_dir",
           "list_exercises", "load_rubric", "score_submission", "format_result"]

#: Numeric keys of :func:`workbench.analysis.run_summary` a criterion may name.
METRICS = ("requests", "completed", "failed", "rejected", "cost_usd", "cost_per_1k_usd", "quality",
           "p50_latency_s", "p95_latency_s", "p99_latency_s", "error_rate", "fallback_rate", "retry_rate",
           "handoff_rate", "escalation_rate", "circuit_skips", "routing_cost_usd", "escalation_cost_usd",
           "judging_cost_usd", "attempts", "attempt_error_rate", "prompt_tokens", "completion_tokens")
_NonEmpty = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Holdout(_Strict):
    """The held-out traffic: a file (relative to the rubric), a seed, optionally a sample and arrival."""

    source: _NonEmpty
    seed: int
    sample: Annotated[int, Field(ge=1)] | None = None
    replace: bool = False
    arrival: Arrival | None = None  # None: the submission's own arrival process


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
    """In the scored run, no final answer equal to ``answer`` came from a machine."""

    kind: Literal["human_review"]
    answer: _NonEmpty


class UnchangedConditions(_Element):
    """The fleet's models, their simulated behaviour and the human teams are ``reference``'s."""

    kind: Literal["unchanged_conditions"]
    reference: _NonEmpty = "start.yaml"


Element = Annotated[Union[HumanNode, FallbackFor, BreakerPresent, BudgetPresent, AuditOn, HumanReview,
                          UnchangedConditions], Field(discriminator="kind")]


class Rubric(_Strict):
    """How a submission is scored: held-out traffic, measured criteria, required elements."""

    title: _NonEmpty
    holdout: Holdout
    criteria: Annotated[list[Criterion], Field(min_length=1)]
    requires: list[Element] = []


@dataclass(frozen=True)
class Exercise:
    """One exercise's files."""

    name: str
    title: str
    directory: Path
    brief: Path
    start: Path
    rubric: Path
    solution: Path

    def to_dict(self) -> dict:
        """JSON-ready form (paths as strings)."""
        return {k: str(v) for k, v in asdict(self).items()}


@dataclass
class CriterionResult:
    """One criterion's verdict: what was measured against what target."""

    name: str
    kind: str  # "metric" or "element"
    passed: bool
    measured: float | int | str | None
    target: float | str
    comparison: str
    points: int
    metric: str | None = None  # the run_summary key of a measured criterion
    detail: str = ""


@dataclass
class ExerciseResult:
    """A scored submission: every criterion, the run it was measured on, and the totals."""

    exercise: str
    submission: str
    scenario: str
    run_id: str
    mode: str
    holdout: dict
    criteria: list[CriterionResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        """Criteria passed."""
        return sum(c.passed for c in self.criteria)

    @property
    def total(self) -> int:
        """Criteria in the rubric."""
        return len(self.criteria)

    @property
    def points(self) -> int:
        """Points of the criteria passed."""
        return sum(c.points for c in self.criteria if c.passed)

    @property
    def max_points(self) -> int:
        """Points of every criterion."""
        return sum(c.points for c in self.criteria)

    @property
    def all_passed(self) -> bool:
        """True when every criterion passed."""
        return self.passed == self.total

    def to_dict(self) -> dict:
        """JSON-ready form, totals included."""
        out = asdict(self)
        out.update(passed=self.passed, total=self.total, points=self.points, max_points=self.max_points,
                   all_passed=self.all_passed)
        return out


def exercises_dir() -> Path:
    """``$WORKBENCH_EXERCISES``, else the project's ``scenarios/exercises``, else ``./scenarios/exercises``."""
    env = os.environ.get("WORKBENCH_EXERCISES")
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parents[1] / "scenarios" / "exercises"
    return beside if beside.is_dir() else Path("scenarios") / "exercises"


def _exercise(directory: Path) -> Exercise:
    rubric = load_rubric(directory / "rubric.yaml")
    return Exercise(directory.name, rubric.title, directory, directory / "brief.md", directory / "start.yaml",
                    directory / "rubric.yaml", directory / "solution.yaml")


def list_exercises(root: str | Path | None = None) -> list[Exercise]:
    """Every exercise (a folder with a ``rubric.yaml``) under ``root``, by name."""
    base = Path(root) if root is not None else exercises_dir()
    if not base.is_dir():
        return []
    return [_exercise(d) for d in sorted(base.iterdir()) if (d / "rubric.yaml").is_file()]


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


def _find(name: str, root: str | Path | None) -> Exercise:
    base = Path(root) if root is not None else exercises_dir()
    directory = base / name
    if not name or "/" in name or "\\" in name or not (directory / "rubric.yaml").is_file():
        known = [e.name for e in list_exercises(base)]
        raise InputError(f"unknown exercise '{name}' (available: {', '.join(known) or 'none'})")
    return _exercise(directory)


def _load_submission(submission: str | Path) -> tuple[Scenario, str]:
    """A submission given as YAML text (a string with a newline) or as a path."""
    if isinstance(submission, str) and "\n" in submission:
        return parse_scenario(submission), "<submission>"
    return load_scenario(submission), str(submission)


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


def _structural(el, scn: Scenario, policy, exercise: Exercise) -> tuple[bool, str | None, str]:
    """(passed, measured, target) of an element read from the design itself."""
    if isinstance(el, HumanNode):
        humans = sorted(set(scn.humans) & _reachable(scn, policy))
        return bool(humans), ", ".join(humans) or None, "a reachable human node"
    if isinstance(el, FallbackFor):
        ok, text = _check_fallback(el, scn)
        return ok, text, f"{el.model} falls back on {', '.join(k.value for k in el.errors)}"
    if isinstance(el, BreakerPresent):
        cb = scn.circuit_breaker
        text = None if cb is None else f"{cb.allowed_fails} fails in {cb.window_s:g} s, cooldown {cb.cooldown_s:g} s"
        return cb is not None, text, "a circuit breaker"
    if isinstance(el, BudgetPresent):
        b = scn.budget
        ok = b is not None and (el.max_usd is None or b.max_usd <= el.max_usd)
        return ok, None if b is None else f"${b.max_usd:g}, then {b.on_exceed}", \
            "a budget" + ("" if el.max_usd is None else f" of at most ${el.max_usd:g}")
    if isinstance(el, AuditOn):
        return scn.audit, "on" if scn.audit else "off", "audit: true"
    if isinstance(el, UnchangedConditions):
        ok, text = _conditions(scn, load_scenario(exercise.directory / el.reference), el.reference)
        return ok, text, f"the fleet and teams of {el.reference}"
    raise TypeError(el)  # pragma: no cover


def _element_label(el) -> str:
    if el.name:
        return el.name
    return {"human_node": "human node", "fallback": f"fallback for {getattr(el, 'model', '')}",
            "circuit_breaker": "circuit breaker", "budget": "budget", "audit": "audit trail",
            "human_review": f"human review of every '{getattr(el, 'answer', '')}'",
            "unchanged_conditions": "conditions unchanged"}[el.kind]


# --- scoring ------------------------------------------------------------------------------------

def _metric_result(c: Criterion, summary: dict) -> CriterionResult:
    value = summary.get(c.metric)
    passed = value is not None and (value <= c.target if c.comparison == "<=" else value >= c.target)
    return CriterionResult(c.name or c.metric, "metric", bool(passed), value, c.target, c.comparison, c.points,
                           c.metric, "" if value is not None else "not measured (no graders?)")


def score_submission(name: str, submission: str | Path, *, db: str | Path | None = None,
                     root: str | Path | None = None) -> ExerciseResult:
    """Replay ``submission`` (a path, or YAML text) on exercise ``name``'s held-out traffic and score it.

    The run goes to a temporary DuckDB file unless ``db`` is given. Bad input (an unknown exercise, a
    malformed rubric or submission) raises :class:`InputError` before anything is written.
    """
    from workbench.analysis import run_summary
    from workbench.analysis.summary import unreviewed_answers
    from workbench.runner import execute, prepare
    from workbench.store import TraceStore

    ex = _find(name, root)
    rubric = load_rubric(ex.rubric)
    scn, label = _load_submission(submission)
    h = rubric.holdout
    spec = TrafficSpec(source=str((ex.directory / h.source).resolve()), sample=h.sample, replace=h.replace,
                       arrival=h.arrival or scn.traffic.arrival)
    prep = prepare(scn, seed=h.seed, traffic_spec=spec)
    elements = [(el, None if isinstance(el, HumanReview) else _structural(el, scn, prep.policy, ex))
                for el in rubric.requires]
    with tempfile.TemporaryDirectory(prefix="workbench-exercise-") as tmp:
        with TraceStore(db if db is not None else Path(tmp) / "exercise.duckdb") as store:
            run_id, _ = execute(prep, store)
            summary = run_summary(store.con, run_id)
            unreviewed = {el.answer: unreviewed_answers(store.con, run_id, el.answer)
                          for el, _ in elements if isinstance(el, HumanReview)}
    results = [_metric_result(c, summary) for c in rubric.criteria]
    for el, verdict in elements:
        if isinstance(el, HumanReview):
            n = unreviewed[el.answer]
            verdict = (n == 0, n, 0)
        passed, measured, target = verdict
        results.append(CriterionResult(_element_label(el), "element", bool(passed), measured, target,
                                       "<=" if isinstance(el, HumanReview) else "=", el.points))
    holdout = {"source": spec.source, "requests": summary["requests"], "seed": h.seed,
               "arrival": spec.arrival.model_dump(mode="json")}
    return ExerciseResult(ex.name, label, scn.name, run_id, summary["mode"], holdout, results)


def _shown(metric: str | None, value) -> str:
    """A value as the comparison table shows it (``$`` for money, ``%`` for rates)."""
    from workbench.analysis.summary import METRIC_LABELS

    if value is None:
        return "n/a" if metric else "none"
    if isinstance(value, str):
        return value
    fmt = next((f for k, _, f in METRIC_LABELS if k == metric), "{:.4g}")
    return fmt.format(value)


def format_result(result: ExerciseResult) -> str:
    """The scored submission as text: one line per criterion (PASS/FAIL, measured, target), then totals."""
    from workbench.analysis.summary import METRIC_LABELS

    labels = {k: label for k, label, _ in METRIC_LABELS}
    h = result.holdout
    lines = [f"exercise {result.exercise}: {result.submission} (scenario {result.scenario}) replayed on held-out "
             f"traffic {Path(h['source']).name}, {h['requests']:,} requests, seed {h['seed']} [{result.mode}]"]
    for c in result.criteria:
        metric = c.metric
        name = labels.get(c.name, c.name)
        target = (f"{c.comparison} {_shown(metric, c.target)}" if c.kind == "metric"
                  else f"{c.comparison} {c.target}" if c.comparison != "=" else str(c.target))
        points = f"  ({c.points} points)" if c.points != 1 else ""
        lines.append(f"  {'PASS' if c.passed else 'FAIL'}  {name:<32} measured {_shown(metric, c.measured):<28} "
                     f"target {target}{points}")
    lines.append(f"total: {result.passed}/{result.total} criteria passed, {result.points}/{result.max_points} points")
    return "\n".join(lines)
