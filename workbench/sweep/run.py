"""Running a sweep: check everything, replay the baseline and each proposed design, record them.

Why this order: the space, the objectives and the constraints are checked against the scenario (and
the traffic is loaded and sampled) before the trace database is touched, so bad input writes
nothing. Then trial 0, the scenario as written, is the baseline, replayed in the first batch; each
later batch comes from the search, told the figures of the batch before (:func:`run_summary` of each
trial's rows, computed by the worker that replayed it, over exactly the rows the parent stores). A design
proposed twice is replayed once: its trials share the run.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from workbench.runner import prepare
from workbench.scenario import Scenario
from workbench.store import TraceStore
from workbench.store.base import check_run_id
from workbench.store.sweeps import add_trial, begin_sweep, finish_sweep, import_run_tables
from workbench.sweep.executors import Shared, TrialTask, make_executor
from workbench.sweep.search import make_search
from workbench.sweep.space import (
    Constraint,
    Objective,
    Space,
    SpaceError,
    apply_params,
    parse_constraint,
    parse_objective,
)

__all__ = ["SweepPlan", "plan_sweep", "run_sweep", "new_sweep_id"]


@dataclass
class SweepPlan:
    """A sweep that passed every check: scenario, space, objectives, constraints, sampler, traffic."""

    scenario: Scenario
    space: Space
    space_text: str
    space_path: str | None
    objectives: list[Objective]
    constraints: list[Constraint]
    sampler: str
    trials: int | None
    requests: int | None = None
    seed: int | None = None
    notes: list[str] = field(default_factory=list)


def plan_sweep(scenario: Scenario, space: Space, *, space_text: str = "", space_path: str | None = None,
               objectives: list[str] | None = None, constraints: list[str] | None = None,
               sampler: str | None = None, trials: int | None = None, requests: int | None = None,
               seed: int | None = None) -> SweepPlan:
    """Check the command-line choices (which replace the space file's) and build the plan."""
    objs = [_option(parse_objective, o, "--objective") for o in objectives] if objectives else \
        [parse_objective(o) for o in space.objectives]
    cons = [_option(parse_constraint, c, "--constraint") for c in constraints] if constraints else \
        [parse_constraint(c) for c in space.constraints]
    if len({o.metric for o in objs}) != len(objs):
        raise SpaceError("an objective is given twice", field="objectives")
    if not scenario.graders and any(m.metric == "quality" for m in [*objs, *cons]):
        raise SpaceError(f"quality is an objective or a constraint, but scenario '{scenario.name}' has no "
                         "graders (add one, or drop quality)", field="objectives")
    sampler = sampler or space.sampler
    if sampler not in ("grid", "random", "optuna"):
        raise SpaceError(f"unknown sampler '{sampler}' (grid, random or optuna)", field="--sampler")
    return SweepPlan(scenario, space, space_text, space_path, objs, cons, sampler,
                     trials if trials is not None else space.trials, requests, seed)


def _option(fn, text: str, name: str):
    try:
        return fn(text)
    except ValueError as exc:
        raise SpaceError(f"{name} {text!r}: {exc}") from None


def new_sweep_id(scenario_name: str) -> str:
    """A readable, unique sweep id: ``sweep-<scenario>-<UTC time>-<random>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"sweep-{scenario_name}-{stamp}-{secrets.token_hex(3)}"


def run_sweep(plan: SweepPlan, store: TraceStore, *, executor: str = "process", workers: int | None = None,
              address: str | None = None, sweep_id: str | None = None,
              progress: Callable[[int, int | None], None] | None = None) -> str:
    """Replay the baseline and every design the search proposes into ``store``; returns the sweep id.

    ``progress(trials_done, trials_planned_or_None)`` after each batch.
    """
    scn = plan.scenario
    base = prepare(scn, requests=plan.requests, seed=plan.seed)
    shared = Shared(base.traffic_spec.model_dump_json(exclude_none=True), str(base.traffic_path),
                    base.traffic_hash, base.seed, base.requests, base.arrivals)
    search = make_search(plan.space, plan.sampler, plan.trials, plan.space.seed, plan.objectives, plan.constraints)
    # Trial run ids are ``<sweep id>-tNNN``: a sweep id obeys the run-id pattern, checked before anything runs.
    sid = check_run_id(sweep_id or new_sweep_id(scn.name))
    pool = make_executor(executor, shared, workers, address)
    begin_sweep(store, sweep_id=sid, scenario=scn.name, scenario_path=str(scn.path) if scn.path else None,
                space_yaml=plan.space_text, space_path=plan.space_path, sampler=plan.sampler,
                executor=pool.name, seed=plan.space.seed, objectives=[o.model_dump() for o in plan.objectives],
                constraints=[c.model_dump() for c in plan.constraints])
    try:
        _loop(plan, store, sid, pool, search, progress)
    except BaseException as exc:
        finish_sweep(store, sid, "failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        pool.close()
    finish_sweep(store, sid, "completed")
    return sid


def _loop(plan: SweepPlan, store: TraceStore, sid: str, pool, search, progress) -> None:
    scn = plan.scenario
    runs: dict[str, str] = {}  # design hash -> run id
    summaries: dict[str, dict] = {}  # run id -> its figures (computed where the trial ran)
    trial = 0
    points: list[dict] = [{}]  # trial 0: the baseline
    points += search.ask()
    first = True
    while points:
        tasks, trial_runs = [], []
        for p in points:
            design = scn if not p else apply_params(scn, {**plan.space.set, **p})
            key = design.content_hash
            if key not in runs:
                run_id = f"{sid}-t{trial:03d}"
                named = design if not p else apply_params(scn, {**plan.space.set, **p}, name=f"{scn.name}-t{trial:03d}")
                runs[key] = run_id
                tasks.append(TrialTask(run_id, named.yaml_text if not p else named.to_yaml(),
                                       str(scn.path) if scn.path else None))
            trial_runs.append((trial, runs[key], p))
            trial += 1
        for out in pool.map(tasks):
            import_run_tables(store, out.tables)
            summaries[out.run_id] = out.summary
        for t, run_id, p in trial_runs:
            add_trial(store, sid, t, run_id, p)
        metrics = [summaries[run_id] for _, run_id, _ in trial_runs]
        search.tell(metrics[1:] if first else metrics)
        first = False
        if progress:
            progress(trial, None)
        points = search.ask()

