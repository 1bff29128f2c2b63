"""Recording: replay a scenario against its live providers and keep every answer in a dataset.

Why: live calls cost money and time, and a routing design is tried many times. Recording stores each
successful answer (prompt x model -> text, tokens, latency, cost, score) in the outcome matrix once;
after that, any policy over the same fleet is replayed from the matrix (``provider: recorded``),
offline, exactly and for free. With ``all_models`` every fleet model answers every prompt (one plain
run per model: static route, no fallbacks, no budget), so the matrix is complete and no later policy
meets a missing answer.

The recording runs are ordinary runs in the trace database (their cost shows in ``workbench runs``
and reports). Failed calls are not answers and are not stored; recording again fills the gaps and
replaces older answers of the same (prompt, model). API keys are never part of a row: the matrix
holds model names, texts and numbers only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from workbench.runner import Prepared, execute, prepare_many
from workbench.scenario import RouterSpec, Scenario, load_scenario
from workbench.store import TraceStore, answers
from workbench.store.outcomes import OutcomeStore, check_name
from workbench.traffic import Request, prompt_key

__all__ = ["record", "Recording"]


@dataclass
class Recording:
    """What a recording stored: the dataset, the runs it made, answers per model, calls that failed."""

    dataset: str
    path: Path
    run_ids: list[str] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)
    failed_requests: int = 0
    cost_usd: float = 0.0
    prompts: int = 0


def _variants(scn: Scenario) -> list[Scenario]:
    """One plain scenario per fleet model: every request to that model, nothing else."""
    out = []
    for name in scn.fleet:
        v = scn.model_copy(update={"name": f"{scn.name}-record-{name}",
                                   "router": RouterSpec(policy="static", params={"target": name}),
                                   "fallbacks": {}, "budget": None})
        v._text = ""  # its YAML is its own (dumped), not the original file's text
        out.append(v)
    return out


def _check_fleet(scn: Scenario, allow_simulated: bool) -> None:
    for name, spec in scn.fleet.items():
        if spec.provider == "recorded":
            raise scn.error_at(("fleet", name, "provider"), "recording replays live providers; this model "
                               "already answers from a dataset")
        if spec.provider != "live" and not allow_simulated:
            raise scn.error_at(("fleet", name, "provider"), f"'{name}' is {spec.provider}: recording is for "
                               "live providers (use --allow-simulated to store simulated answers, labelled so)")


def record(scenario: Scenario | str | Path, store: TraceStore, *, dataset: str | None = None,
           all_models: bool = False, allow_simulated: bool = False, traffic: str | Path | None = None,
           requests: int | None = None, seed: int | None = None,
           progress: Callable[[str], Callable | None] | None = None) -> Recording:
    """Replay ``scenario`` (or, with ``all_models``, every fleet model on every prompt) into ``store``
    and upsert every successful answer into dataset ``dataset`` (default: the traffic's dataset, else
    the scenario's name). ``progress(label)`` may return a progress callback per run."""
    scn = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    _check_fleet(scn, allow_simulated)
    name = check_name(dataset or scn.traffic.dataset or scn.name)
    prepared = prepare_many(_variants(scn) if all_models else [scn], traffic=traffic, requests=requests, seed=seed)
    rec = Recording(name, Path())
    frames = []
    for p in prepared:
        run_id, stats = execute(p, store, progress=progress(p.scenario.name) if progress else None)
        rec.run_ids.append(run_id)
        rec.failed_requests += stats.failed
        rec.cost_usd += stats.cost_usd
        frames.append(answers(store.con, run_id))
    got = pd.concat(frames, ignore_index=True)
    outcomes = pd.DataFrame({
        "prompt_key": got["prompt_hash"], "model": got["model"], "response": got["response"],
        "prompt_tokens": got["prompt_tokens"], "completion_tokens": got["completion_tokens"],
        "latency_s": got["latency_s"], "cost_usd": got["cost_usd"], "score": got["score"],
        "source": got["provider"]}).drop_duplicates(["prompt_key", "model"], keep="last")
    rec.answers = {str(k): int(v) for k, v in outcomes.groupby("model").size().items()}
    prompts = _prompt_rows(prepared[0])
    rec.prompts = len(prompts)
    modes = sorted(set(outcomes["source"]))
    meta = {"source": f"recorded by `workbench record` from scenario '{scn.name}' ({', '.join(modes) or 'no answers'})",
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "notes": [f"answers of runs {', '.join(rec.run_ids)}; failed calls are not stored"]}
    with OutcomeStore(name, create=True) as ds:
        ds.write(prompts, outcomes, meta)
        rec.path = ds.path
    return rec


def _prompt_rows(prep: Prepared) -> pd.DataFrame:
    seen: dict[str, Request] = {}
    for r in prep.requests:  # a sample drawn with replacement holds some prompts twice
        seen.setdefault(prompt_key(r), r)
    return pd.DataFrame([{
        "prompt_key": k, "seq": i, "prompt_id": r.id, "prompt": r.prompt,
        "messages": json.dumps(r.messages) if r.messages else None, "category": r.category,
        "difficulty": r.difficulty, "expected": r.expected,
        "metadata": json.dumps(r.metadata) if r.metadata else None} for i, (k, r) in enumerate(seen.items())])
