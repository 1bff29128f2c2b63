"""Running a rollout: check every input first, then replay one stream of traffic through two designs.

Why :func:`prepare_rollout` then :func:`run_rollout` (as :mod:`workbench.runner`): a bad plan or design
must stop the command before the trace database is opened. The traffic is the baseline's (its source,
sample, arrival process and seed); the candidate is prepared over exactly that traffic, as ``compare``
does, so both arms see the same requests at the same times and differ only by design.

What the trace holds: one run (its scenario is the baseline's, its notes name the candidate and the
plan), every request with its ``arm``, and one ``rollout_stages`` row per decision with its evidence.
``exposed_requests`` counts the candidate's requests that arrived at or after the regression's start:
the plan's ``regression_start_s`` when its author knows it (a drill), else 0 (every candidate request
is counted: nothing says the candidate was ever right).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import workbench
from workbench.errors import InputError
from workbench.replay import Engine, Progress
from workbench.rollout.clock import ArmClock, SharedHeap
from workbench.rollout.controller import Controller, StageRecord, sticky_units
from workbench.rollout.guardrails import ARMS, Guardrails
from workbench.rollout.plan import RolloutPlan, load_plan
from workbench.runner import Prepared, method_notes, new_run_id, prepare_many
from workbench.store import RunInfo, TraceStore
from workbench.store.rollouts import write_stages
from workbench.store.rows import AttemptRow, RequestRow

__all__ = ["RolloutPrepared", "RolloutResult", "prepare_rollout", "run_rollout"]


@dataclass
class RolloutPrepared:
    """A rollout that passed every check: both designs over one traffic, and the plan."""

    baseline: Prepared
    candidate: Prepared
    plan: RolloutPlan
    plan_text: str = ""
    plan_path: str | None = None


@dataclass
class RolloutResult:
    """What a rollout did: its run, stage decisions, and how many requests the candidate served."""

    run_id: str | None
    requests: int
    stages: list[StageRecord]
    rolled_back: bool
    rolled_back_at_s: float | None
    candidate_requests: int
    exposed_requests: int
    virtual_s: float
    by_arm: dict[str, int] = field(default_factory=dict)


def prepare_rollout(baseline: str | Path, candidate: str | Path, plan: str | Path | RolloutPlan, *,
                    requests: int | None = None, seed: int | None = None) -> RolloutPrepared:
    """Load and check both designs and the plan (nothing is written); the candidate replays the
    baseline's traffic and seed."""
    if isinstance(plan, RolloutPlan):
        p, text, where = plan, "", None
    else:
        p, text, where = load_plan(plan), Path(plan).read_text(encoding="utf-8"), str(plan)
    base, cand = prepare_many([baseline, candidate], requests=requests, seed=seed)
    for prep in (base, cand):
        if prep.provider.asynchronous:
            raise InputError("a rollout replays simulated or recorded fleets; this design has a live model",
                             file=prep.scenario.path)
    return RolloutPrepared(base, cand, p, text, where)


class _Collector:
    """Both engines' sink: feeds the guardrails, counts arms, forwards rows to the store in batches."""

    def __init__(self, guard: Guardrails, store: TraceStore | None, start_s: float, total: int,
                 progress: Progress | None, batch: int = 5000):
        self.guard, self.store, self.start_s, self.batch = guard, store, start_s, batch
        self.reqs: list[RequestRow] = []
        self.atts: list[AttemptRow] = []
        self.by_arm = dict.fromkeys(ARMS, 0)
        self.exposed = self.done = self.failed = 0
        self.cost = 0.0
        self.total, self.progress, self.every = total, progress, max(1, total // 200)

    def write(self, requests: Sequence[RequestRow], attempts: Sequence[AttemptRow]) -> None:
        """Take one engine's finished rows."""
        add, by_arm = self.guard.add, self.by_arm
        for r in requests:
            arm = r.arm or "baseline"
            add(arm, r.status, r.quality, r.cost_usd, r.latency_s)
            by_arm[arm] += 1
            if arm == "candidate" and r.arrival_s >= self.start_s:
                self.exposed += 1
            self.cost += r.cost_usd
            if r.status != "ok":
                self.failed += 1
        before = self.done
        self.done += len(requests)
        if self.progress and self.done // self.every != before // self.every:
            self.progress(self.done, self.total, self.cost, self.failed)
        if self.store is not None:
            self.reqs.extend(requests)
            self.atts.extend(attempts)
            if len(self.reqs) >= self.batch:
                self.flush()

    def flush(self) -> None:
        """Write the buffered rows."""
        if self.store is not None and self.reqs:
            self.store.write(self.reqs, self.atts)
            self.reqs, self.atts = [], []


def run_rollout(prep: RolloutPrepared, store: TraceStore | None = None, *, run_id: str | None = None,
                progress: Progress | None = None, cancel: Callable[[], bool] | None = None) -> RolloutResult:
    """Replay the rollout; with a ``store``, write its run, rows and stage decisions there."""
    base, cand, plan = prep.baseline, prep.candidate, prep.plan
    n = len(base.requests)
    name = cand.scenario.name
    rid = run_id or new_run_id(name if name.startswith("rollout") else f"rollout-{name}")
    guard = Guardrails(plan)
    sink = _Collector(guard, store, plan.regression_start_s or 0.0, n, progress)
    engines: list[Engine] = []

    def hand_over() -> None:  # the engines give the collector every request finished so far
        for e in engines:
            e.flush()

    ctrl = Controller(plan, guard, sticky_units(base.requests, plan.key, base.seed), hand_over)
    if store is not None:
        store.begin_run(_run_info(prep, rid))
    shared = SharedHeap()
    for arm, p in zip(ARMS, (base, cand), strict=True):
        e = Engine(p.scenario, p.provider, p.policy, p.graders, p.seed, rid, sink, None, 1 << 30, None, n,
                   ArmClock(shared))
        e.arm = arm
        engines.append(e)
    try:
        last = shared.run(engines, base.requests, base.arrivals, ctrl.pick, cancel)
        ctrl.end(last)
        sink.flush()
        if store is not None:
            write_stages(store, rid, ctrl.records)
    except BaseException as exc:
        if store is not None:
            store.finish_run(rid, "failed", f"{type(exc).__name__}: {exc}")
        raise
    cancelled = any(e.stats.cancelled for e in engines)
    if store is not None:
        store.finish_run(rid, "cancelled" if cancelled else "completed")
    return RolloutResult(rid if store is not None else None, sink.done, ctrl.records, ctrl.rolled_back_at is not None,
                         ctrl.rolled_back_at, sink.by_arm["candidate"], sink.exposed, last, dict(sink.by_arm))


def _run_info(prep: RolloutPrepared, rid: str) -> RunInfo:
    base, cand = prep.baseline, prep.candidate
    scn = base.scenario
    plan_sha = hashlib.sha256(prep.plan_text.encode()).hexdigest()[:12]
    notes = [f"rollout: baseline {scn.name}, candidate {cand.scenario.name} "
             f"(SHA-256 {cand.scenario.content_hash[:12]}), "
             f"plan {prep.plan_path or prep.plan.name} (SHA-256 {plan_sha}); requests.arm says which design served "
             "each request", *method_notes(base), *(f"candidate: {m}" for m in method_notes(cand))]
    return RunInfo(
        run_id=rid, scenario=scn.name, scenario_yaml=scn.yaml_text, scenario_hash=scn.content_hash,
        scenario_path=str(scn.path.resolve()) if scn.path else None,
        traffic_path=str(base.traffic_path.resolve()), traffic_hash=base.traffic_hash,
        requests_planned=len(base.requests), seed=base.seed, mode=base.provider.mode,
        model_modes={**base.provider.modes, **{f"candidate:{k}": v for k, v in cand.provider.modes.items()}},
        workbench_version=workbench.__version__, traffic_spec=base.traffic_spec.model_dump_json(exclude_none=True),
        notes=tuple(dict.fromkeys(notes)), audit=False)
