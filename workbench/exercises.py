"""Interview exercises: a brief, a flawed starting design, a rubric, and a reference answer.

Why a rubric measured by replay: a candidate's design is judged the way an architect's design is,
by what it does on traffic it was not tuned on. The rubric (:mod:`workbench.rubric`) names held-out
traffic and three or more seeds; the scorer replays the submission once per seed through the
ordinary runner, so every measured value is one of :func:`workbench.analysis.run_summary`'s figures,
defined once, and repeatable from the run it came from. A criterion passes only when it holds on
every seed (a lucky draw cannot pass) and shows the worst seed's value. What a replay cannot show
(a fallback, a breaker, a budget) is read from the validated scenario; what it can (no decline left
without a human) is read from the traces of the very runs that were scored.

Why levels: ``fails``, ``meets`` (every criterion of the pass mark) and ``exceeds`` (the pass mark
plus the rubric's stricter targets), so the panel sees a brute-force answer and a thoughtful one
apart, and the text output says what the next level needs and by how much it was missed.

Layout of one exercise, ``scenarios/exercises/<name>/``: ``brief.md`` (the candidate's task, then a
section for the panel), ``start.yaml``, ``rubric.yaml``, ``solution.yaml``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.errors import InputError, ScenarioError
from workbench.rubric import (
    LEVELS,
    METRICS,
    Criterion,
    HumanReview,
    Reflex,
    Rubric,
    check_element,
    element_label,
    load_rubric,
)
from workbench.scenario import Scenario, TrafficSpec, load_scenario, parse_scenario, read_yaml
from workbench.yamlio import dump_yaml

__all__ = ["METRICS", "LEVELS", "Rubric", "Exercise", "CriterionResult", "ExerciseResult", "exercises_dir",
           "list_exercises", "load_rubric", "score_submission", "format_result", "reflex_design"]


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
    """One criterion's verdict: the worst seed's value against the target, and every seed's value."""

    name: str
    kind: str  # "metric" or "element"
    passed: bool
    measured: float | int | str | None
    target: float | str
    comparison: str
    points: int
    metric: str | None = None  # the run_summary key of a measured criterion
    detail: str = ""
    level: str = "meets"  # the level this criterion belongs to
    worst_seed: int | None = None  # the seed ``measured`` comes from (None: read from the design)
    by_seed: dict = field(default_factory=dict)

    def gap(self) -> float | None:
        """How far a missed numeric target was missed (always positive), else None."""
        if self.passed or not isinstance(self.measured, (int, float)) or not isinstance(self.target, (int, float)):
            return None
        return abs(self.measured - self.target)


@dataclass
class ExerciseResult:
    """A scored submission: every criterion (each with its level), the runs it was measured on, totals."""

    exercise: str
    submission: str
    scenario: str
    run_id: str  # the first seed's run; every run in ``runs``
    mode: str
    holdout: dict
    criteria: list[CriterionResult] = field(default_factory=list)
    runs: dict = field(default_factory=dict)  # seed -> run id
    top_level: str = "meets"

    def _at(self, level: str) -> list[CriterionResult]:
        return [c for c in self.criteria if c.level == level]

    @property
    def passed(self) -> int:
        """Criteria of the pass mark passed."""
        return sum(c.passed for c in self._at("meets"))

    @property
    def total(self) -> int:
        """Criteria of the pass mark."""
        return len(self._at("meets"))

    @property
    def points(self) -> int:
        """Points of the pass mark's criteria passed."""
        return sum(c.points for c in self._at("meets") if c.passed)

    @property
    def max_points(self) -> int:
        """Points of every criterion of the pass mark."""
        return sum(c.points for c in self._at("meets"))

    @property
    def all_passed(self) -> bool:
        """True when every criterion of the pass mark passed (level ``meets`` or above)."""
        return self.passed == self.total

    @property
    def level(self) -> str:
        """``fails``, ``meets`` or ``exceeds``: the highest level whose criteria (and those below) all pass."""
        reached = "fails"
        for name in LEVELS[1:LEVELS.index(self.top_level) + 1]:
            if not all(c.passed for c in self._at(name)):
                break
            reached = name
        return reached

    @property
    def next_level(self) -> str | None:
        """The level above the one reached, None at the top."""
        return None if self.level == self.top_level else LEVELS[LEVELS.index(self.level) + 1]

    def missed(self) -> list[CriterionResult]:
        """The criteria of the next level that did not pass."""
        return [] if self.next_level is None else [c for c in self._at(self.next_level) if not c.passed]

    def to_dict(self) -> dict:
        """JSON-ready form, totals, level and the next level's missed targets (with their gaps) included."""
        out = asdict(self)
        out.update(passed=self.passed, total=self.total, points=self.points, max_points=self.max_points,
                   all_passed=self.all_passed, level=self.level, next_level=self.next_level,
                   missed=[{"name": c.name, "measured": c.measured, "comparison": c.comparison,
                            "target": c.target, "gap": c.gap(), "worst_seed": c.worst_seed}
                           for c in self.missed()])
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
    return [_exercise(d) for d in sorted(base.iterdir())
            if (d / "rubric.yaml").is_file() and not _is_rollout(d)]  # rollout exercises: workbench.rollout.exercise


def _is_rollout(directory: Path) -> bool:
    from workbench.rollout.exercise import is_rollout_exercise

    return is_rollout_exercise(directory)


def _find(name: str, root: str | Path | None) -> Exercise:
    base = Path(root) if root is not None else exercises_dir()
    directory = base / name
    if (not name or "/" in name or "\\" in name or not (directory / "rubric.yaml").is_file()
            or _is_rollout(directory)):
        known = [e.name for e in list_exercises(base)]
        raise InputError(f"unknown exercise '{name}' (available: {', '.join(known) or 'none'})")
    return _exercise(directory)


def _load_submission(submission: str | Path | Scenario) -> tuple[Scenario, str]:
    """A submission given as a validated scenario, as YAML text (a string with a newline) or as a path."""
    if isinstance(submission, Scenario):
        return submission, f"<{submission.name}>"
    if isinstance(submission, str) and "\n" in submission:
        return parse_scenario(submission), "<submission>"
    return load_scenario(submission), str(submission)


def reflex_design(name: str, reflex: Reflex, *, root: str | Path | None = None) -> Scenario:
    """Exercise ``name``'s ``start.yaml`` with the reflex's top-level keys replaced, validated."""
    ex = _find(name, root)
    data, _ = read_yaml(ex.start.read_text(encoding="utf-8"), str(ex.start))
    data.update(reflex.design)
    try:  # relative paths (the traffic file) resolve as in start.yaml, the file the reflex edits
        return parse_scenario(dump_yaml(data), ex.start)
    except ScenarioError as exc:  # the line would be one of the generated text: name the reflex instead
        field = f"design.{exc.field}" if exc.field else "design"
        raise InputError(f"reflex '{reflex.name}' is not a valid design: {exc.reason}", file=ex.rubric,
                         field=field) from None


# --- scoring ------------------------------------------------------------------------------------

def _holds(c: Criterion, value) -> bool:
    return value is not None and (value <= c.target if c.comparison == "<=" else value >= c.target)


def _metric_result(c: Criterion, level: str, summaries: dict[int, dict]) -> CriterionResult:
    """A criterion over every seed: passes only when it holds on all; ``measured`` is the worst seed's."""
    values = {seed: s.get(c.metric) for seed, s in summaries.items()}
    missing = [seed for seed, v in values.items() if v is None]
    if missing:
        worst = missing[0]
    else:
        pick = max if c.comparison == "<=" else min
        worst = pick(values, key=lambda seed: values[seed] or 0.0)  # none is None here
    passed = all(_holds(c, v) for v in values.values())
    return CriterionResult(c.name or c.metric, "metric", passed, values[worst], c.target, c.comparison, c.points,
                           c.metric, "not measured (no graders?)" if missing else "", level, worst, values)


def _element_result(el, level: str, structural, unreviewed: dict[int, dict]) -> CriterionResult:
    if isinstance(el, HumanReview):
        counts = {seed: n[el.answer] for seed, n in unreviewed.items()}
        worst = max(counts, key=counts.__getitem__)
        return CriterionResult(element_label(el), "element", counts[worst] == 0, counts[worst], 0, "<=", el.points,
                               level=level, worst_seed=worst, by_seed=counts)
    passed, measured, target = structural
    return CriterionResult(element_label(el), "element", bool(passed), measured, target, "=", el.points, level=level)


def score_submission(name: str, submission: str | Path | Scenario, *, db: str | Path | None = None,
                     root: str | Path | None = None, seeds: Sequence[int] | None = None) -> ExerciseResult:
    """Replay ``submission`` (a path, YAML text or a scenario) on exercise ``name``'s held-out traffic,
    once per held-out seed (``seeds`` overrides the rubric's), and score every level of its rubric.

    The runs go to a temporary DuckDB file unless ``db`` is given. Bad input (an unknown exercise, a
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
    seeds = list(h.seeds if seeds is None else seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError(f"held-out seeds must be distinct and at least one, got {seeds}")
    spec = TrafficSpec(source=str((ex.directory / h.source).resolve()), sample=h.sample, replace=h.replace,
                       arrival=h.arrival or scn.traffic.arrival)
    preps = [prepare(scn, seed=s, traffic_spec=spec) for s in seeds]  # every check before anything runs
    exceeds = rubric.levels.exceeds
    criteria = [("meets", c) for c in rubric.criteria] + [("exceeds", c) for c in (exceeds.criteria if exceeds else [])]
    elements = [("meets", el) for el in rubric.requires] + [("exceeds", el)
                                                           for el in (exceeds.requires if exceeds else [])]
    structural = [None if isinstance(el, HumanReview) else check_element(el, scn, preps[0].policy, ex.directory)
                  for _, el in elements]
    answers = {el.answer for _, el in elements if isinstance(el, HumanReview)}
    summaries, unreviewed, runs = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="workbench-exercise-") as tmp:
        with TraceStore(db if db is not None else Path(tmp) / "exercise.duckdb") as store:
            for seed, prep in zip(seeds, preps, strict=True):
                runs[seed], _ = execute(prep, store)
                summaries[seed] = run_summary(store.con, runs[seed])
                unreviewed[seed] = {a: unreviewed_answers(store.con, runs[seed], a) for a in answers}
    results = [_metric_result(c, level, summaries) for level, c in criteria]
    results += [_element_result(el, level, verdict, unreviewed)
                for (level, el), verdict in zip(elements, structural, strict=True)]
    first = summaries[seeds[0]]
    holdout = {"source": spec.source, "requests": first["requests"], "seeds": seeds,
               "arrival": spec.arrival.model_dump(mode="json")}
    return ExerciseResult(ex.name, label, scn.name, runs[seeds[0]], first["mode"], holdout, results, runs,
                          rubric.top_level)


# --- text output ----------------------------------------------------------------------------------

def _shown(metric: str | None, value) -> str:
    """A value as the comparison table shows it (``$`` for money, ``%`` for rates)."""
    from workbench.analysis.summary import METRIC_LABELS

    if value is None:
        return "n/a" if metric else "none"
    if isinstance(value, str):
        return value
    fmt = next((f for k, _, f in METRIC_LABELS if k == metric), "{:.4g}")
    return fmt.format(value)


def _target(c: CriterionResult) -> str:
    if c.kind == "metric":
        return f"{c.comparison} {_shown(c.metric, c.target)}"
    return f"{c.comparison} {c.target}" if c.comparison != "=" else str(c.target)


def _row(c: CriterionResult, labels: dict[str, str]) -> str:
    name = labels.get(c.name, c.name)
    measured = _shown(c.metric, c.measured) + ("" if c.worst_seed is None else f" (seed {c.worst_seed})")
    points = f"  ({c.points} points)" if c.points != 1 and c.level == "meets" else ""
    return f"  {'PASS' if c.passed else 'FAIL'}  {name:<32} measured {measured:<28} target {_target(c)}{points}"


def _miss(c: CriterionResult, labels: dict[str, str]) -> str:
    name = labels.get(c.name, c.name)
    where = "" if c.worst_seed is None else f" on seed {c.worst_seed}"
    gap = c.gap()
    if gap is None:
        return f"  {name}: {_shown(c.metric, c.measured)}{where}, needs {_target(c)}"
    side = "over" if c.comparison == "<=" else "short"
    return (f"  {name}: {_shown(c.metric, c.measured)}{where}, target {_target(c)}: "
            f"{side} by {_shown(c.metric, gap)}")


def format_result(result: ExerciseResult) -> str:
    """The scored submission as text: a line per criterion and level, the totals, the level reached,
    and which targets of the next level were missed and by how much."""
    from workbench.analysis.summary import METRIC_LABELS

    labels = {k: label for k, label, _ in METRIC_LABELS}
    h = result.holdout
    seeds = ", ".join(str(s) for s in h["seeds"])
    lines = [f"exercise {result.exercise}: {result.submission} (scenario {result.scenario}) replayed on held-out "
             f"traffic {Path(h['source']).name}, {h['requests']:,} requests, seeds {seeds} [{result.mode}]",
             "each measure is the worst seed's; a criterion passes only when it holds on every seed"]
    lines += [_row(c, labels) for c in result.criteria if c.level == "meets"]
    lines.append(f"total: {result.passed}/{result.total} criteria passed, {result.points}/{result.max_points} points")
    for level in LEVELS[2:LEVELS.index(result.top_level) + 1]:
        lines.append(f"{level} (on top of the criteria above):")
        lines += [_row(c, labels) for c in result.criteria if c.level == level]
    lines.append(f"level: {result.level}")
    missed = result.missed()
    if missed:
        lines.append(f"missed for {result.next_level}:")
        lines += [_miss(c, labels) for c in missed]
    return "\n".join(lines)
