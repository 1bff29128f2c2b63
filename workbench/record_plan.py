"""A spend-capped recording plan: re-ask the live fleet on a stratified sample of a dataset's logged prompts.

Why: a production log holds one answer per prompt, from the model the old router chose; what another
model would have answered is the gap every counterfactual fills with an estimate. Re-asking is the
honest fill, and it costs money, so it is planned first and capped:

* **Sample**: ``N`` prompts stratified by category (proportional allocation, largest remainders, ties by
  category name), from the prompts that have a logged outcome (every prompt when the dataset holds no
  log); within a category the order is a seeded hash of the prompt's key, so the same command always
  picks the same prompts, and a larger ``N`` extends a smaller one's pick within each category.
* **Dry run**: per fleet model, the calls still to make (a (prompt, model) pair the dataset already
  answers, under the same litellm name or the same name without its provider prefix, is never
  re-asked), their prompt tokens (litellm's ``token_counter``), the expected answer tokens (the mean of
  the answers the dataset holds for that prompt, else of all its answers, else the cap) and cost at
  litellm's prices (or the scenario's ``price:``), and the worst case: every answer at the cap.
* **Real run**: calls in a fixed order (sampled prompt, then fleet model), one at a time, each answer
  written to the dataset (``source`` ``live``) as soon as it arrives. Each call is sent with
  ``max_tokens`` = the cap, so its worst-case cost (prompt tokens + 5%, at least 8, at the input price,
  plus the cap at the output price) is known before it is made; the run stops *before* the first call
  whose worst case exceeds what is left of ``--max-usd``. ``--max-usd`` caps this invocation; the same
  command continues where the last stopped (answers already stored are not re-asked). The margin on
  prompt tokens covers a provider counting chat framing differently from litellm.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.catalog import count_tokens, model_info
from workbench.errors import InputError
from workbench.estimate import same_model
from workbench.graders import build_graders
from workbench.graders.base import grade
from workbench.providers.base import unknown_price_error
from workbench.scenario import Scenario, load_scenario
from workbench.seeds import check_seed, key64, request_key
from workbench.store.logged import add_answer
from workbench.store.outcomes import OutcomeStore
from workbench.traffic import Request, load_dataset_traffic

__all__ = ["PlannedCall", "Plan", "PlanRun", "plan_recording", "run_plan", "stratified_sample",
           "DEFAULT_MAX_OUTPUT_TOKENS"]

#: Default cap on each answer's tokens (``--max-output-tokens``).
DEFAULT_MAX_OUTPUT_TOKENS = 1024


@dataclass(frozen=True)
class PlannedCall:
    """One (prompt, fleet model) call still to make, with its expected and worst-case cost."""

    prompt_key: str
    prompt_id: str
    category: str
    target: str
    model: str
    prompt_tokens: int
    expected_output_tokens: float
    expected_usd: float
    worst_usd: float


@dataclass
class Plan:
    """A recording plan: the sample, its composition, the calls left and those already answered."""

    scenario: Scenario
    dataset: str
    path: Path
    seed: int
    max_output_tokens: int
    sampled_from: int
    composition: dict[str, int]
    prompt_keys: list[str]
    requests: dict[str, Request]
    calls: list[PlannedCall]
    already: int

    def by_model(self) -> list[dict[str, Any]]:
        """Per fleet model: calls, prompt tokens, expected output tokens, expected and worst-case USD."""
        out: dict[str, dict[str, Any]] = {}
        for c in self.calls:
            m = out.setdefault(c.model, {"model": c.model, "calls": 0, "prompt_tokens": 0,
                                         "expected_output_tokens": 0.0, "expected_usd": 0.0, "worst_usd": 0.0})
            m["calls"] += 1
            m["prompt_tokens"] += c.prompt_tokens
            m["expected_output_tokens"] += c.expected_output_tokens
            m["expected_usd"] += c.expected_usd
            m["worst_usd"] += c.worst_usd
        return list(out.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no answer texts, no keys)."""
        return {"dataset": self.dataset, "path": str(self.path), "seed": self.seed,
                "sample": sum(self.composition.values()), "sampled_from": self.sampled_from,
                "composition": self.composition, "max_output_tokens": self.max_output_tokens,
                "already_answered": self.already, "calls": len(self.calls), "by_model": self.by_model(),
                "expected_usd": sum(c.expected_usd for c in self.calls),
                "worst_usd": sum(c.worst_usd for c in self.calls),
                "source": "estimated from litellm's prices and token counts (nothing was called)"}


@dataclass
class PlanRun:
    """What a capped run did: calls made, answers stored, failures, spend, and where it stopped."""

    max_usd: float
    asked: int = 0
    answered: int = 0
    failed: int = 0
    spent_usd: float = 0.0
    left: int = 0
    stopped_before: PlannedCall | None = None
    answers: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        stop = self.stopped_before
        return {"max_usd": self.max_usd, "asked": self.asked, "answered": self.answered, "failed": self.failed,
                "spent_usd": self.spent_usd, "left": self.left, "answers": self.answers, "complete": self.left == 0,
                "stopped_before": None if stop is None else {"prompt_id": stop.prompt_id, "model": stop.model,
                                                             "worst_usd": stop.worst_usd}}


def stratified_sample(prompts: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of ``prompts`` (columns ``prompt_key``, ``category``) stratified by category."""
    cats = prompts["category"].fillna("").astype(str)
    sizes = cats.value_counts().sort_index()
    n = min(n, len(prompts))
    exact = sizes * n / len(prompts)
    alloc = exact.apply(math.floor).astype(int)
    rest = (exact - alloc).sort_values(ascending=False, kind="stable")  # ties: category name order
    for cat in rest.index[: n - int(alloc.sum())]:
        alloc[cat] += 1
    rank = prompts["prompt_key"].map(lambda k: key64(seed, "record-sample", k) >> 2)  # fits an int64
    frame = prompts.assign(_cat=cats, _rank=rank).sort_values(["_cat", "_rank"], kind="stable")
    picked = pd.concat([frame[frame["_cat"] == c].head(int(alloc[c])) for c in alloc.index])
    return picked.drop(columns=["_cat", "_rank"]).sort_values("seq", kind="stable").reset_index(drop=True)


def _live_targets(scn: Scenario) -> list[str]:
    bad = [n for n, s in scn.fleet.items() if s.provider != "live"]
    if bad:
        spec = scn.fleet[bad[0]]
        raise scn.error_at(("fleet", bad[0], "provider"), f"'{bad[0]}' is {spec.provider}: a spend-capped recording "
                           "re-asks live models only (their cost is what the cap bounds)")
    return list(scn.fleet)


def plan_recording(scenario: Scenario | str | Path, *, dataset: str | None = None, sample: int, seed: int | None = None,
                   max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS) -> Plan:
    """The calls a ``record --sample`` run would make, with their expected and worst-case cost."""
    scn = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    name = dataset or scn.traffic.dataset
    if name is None:
        raise InputError("which dataset? give --dataset NAME (or traffic: {dataset: NAME} in the scenario)",
                         file=scn.path, field="traffic.dataset")
    if sample < 1 or max_output_tokens < 1:
        raise InputError(f"--sample and --max-output-tokens must be at least 1, got {sample}, {max_output_tokens}")
    run_seed = scn.seed if seed is None else check_seed(seed)
    targets = _live_targets(scn)
    requests = load_dataset_traffic(name).requests
    with OutcomeStore(name) as ds:
        prompts = ds.prompts()
        matrix = ds.matrix()
        path = ds.path
    reqs = dict(zip(prompts["prompt_key"], requests, strict=True))
    logged = set(matrix.loc[matrix["source"] == "logged", "prompt_key"])
    pool = prompts[prompts["prompt_key"].isin(logged)] if logged else prompts
    picked = stratified_sample(pool, sample, run_seed)
    composition = {str(k): int(v) for k, v in picked["category"].fillna("").value_counts().sort_index().items()}
    answered = matrix.groupby("prompt_key")["model"].apply(list).to_dict()
    out_tok = matrix.groupby("prompt_key")["completion_tokens"].mean().dropna().to_dict()
    overall = float(matrix["completion_tokens"].mean()) if matrix["completion_tokens"].notna().any() else None
    calls, already = [], 0
    for row in picked.itertuples(index=False):
        for target in targets:
            spec = scn.fleet[target]
            if any(same_model(spec.model, m) for m in answered.get(row.prompt_key, [])):
                already += 1
                continue
            info = model_info(spec.model, spec.price, spec.context_window)
            if info is None:
                raise unknown_price_error(scn, target)
            req = reqs[row.prompt_key]
            ptok = count_tokens(spec.model, req.chat(), req.prompt if req.messages is None else repr(req.messages))
            expect = min(float(out_tok.get(row.prompt_key, overall or max_output_tokens)), max_output_tokens)
            worst_in = ptok + max(8, math.ceil(0.05 * ptok))
            calls.append(PlannedCall(str(row.prompt_key), str(row.prompt_id), str(row.category or ""), target,
                                     spec.model, ptok, expect,
                                     ptok * info.input_per_token + expect * info.output_per_token,
                                     worst_in * info.input_per_token + max_output_tokens * info.output_per_token))
    return Plan(scn, name, path, run_seed, max_output_tokens, len(pool), composition, list(picked["prompt_key"]),
                reqs, calls, already)


def run_plan(plan: Plan, max_usd: float, *, on_answer: Callable[[PlannedCall, bool], None] | None = None) -> PlanRun:
    """Make the plan's calls in order until the next one's worst case would pass ``max_usd``."""
    if not max_usd > 0 or not math.isfinite(max_usd):
        raise InputError(f"--max-usd must be a positive amount, got {max_usd!r}")
    from workbench.providers.live import LiveProvider

    scn = plan.scenario
    provider = LiveProvider(scn, list(scn.fleet), list(plan.requests.values()), plan.seed)
    for m in provider.models.values():
        m.max_tokens = plan.max_output_tokens
    graders = build_graders(scn)
    run = PlanRun(max_usd)
    with OutcomeStore(plan.dataset, create=True) as ds:
        asyncio.run(_calls(plan, provider, graders, ds, run, on_answer))
        _note(ds, plan, run)
    return run


async def _calls(plan: Plan, provider, graders, ds: OutcomeStore, run: PlanRun, on_answer) -> None:
    for i, call in enumerate(plan.calls):
        if run.spent_usd + call.worst_usd > run.max_usd:
            run.stopped_before, run.left = call, len(plan.calls) - i + run.failed
            return
        req = plan.requests[call.prompt_key]
        out = await provider.bind(call.target)(req, request_key(plan.seed, req.id), 0.0, 1)
        run.asked += 1
        run.spent_usd += out.cost_usd
        if not out.ok:
            run.failed += 1
        else:
            run.answered += 1
            run.answers[call.model] = run.answers.get(call.model, 0) + 1
            add_answer(ds, {"prompt_key": call.prompt_key, "model": call.model, "response": out.text,
                         "prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens,
                         "latency_s": out.latency_s, "cost_usd": out.cost_usd,
                         "score": grade(graders, req, out.text, None), "source": "live"})
        if on_answer is not None:
            on_answer(call, out.ok)
    run.left = run.failed  # a failed call is not stored, so the same command asks it again


def _note(ds: OutcomeStore, plan: Plan, run: PlanRun) -> None:
    """Append this run to the dataset's ``record_plans`` note (what was spent, when, on what)."""
    history = ds.meta().get("record_plans", [])
    history.append({"at": datetime.now(UTC).isoformat(timespec="seconds"), "scenario": plan.scenario.name,
                    "sample": sum(plan.composition.values()), "seed": plan.seed, "max_usd": run.max_usd,
                    "spent_usd": run.spent_usd, "answered": run.answered, "failed": run.failed, "left": run.left})
    add_answer(ds, None, {"record_plans": history})


def format_plan(plan: Plan) -> str:
    """The dry run as text: the sample's composition, then calls and cost per model, then the total."""
    d = plan.as_dict()
    comp = ", ".join(f"{c or '(none)'} {n}" for c, n in plan.composition.items())
    lines = [f"record plan for dataset '{plan.dataset}': {d['sample']:,} of {plan.sampled_from:,} logged prompts, "
             f"stratified by category (seed {plan.seed}): {comp}",
             f"{plan.already:,} (prompt, model) pairs already answered are skipped; answers capped at "
             f"{plan.max_output_tokens:,} tokens",
             f"{'model':<40}{'calls':>7}{'prompt tok':>12}{'exp. out tok':>14}{'expected':>12}{'worst case':>12}"]
    for m in d["by_model"]:
        lines.append(f"{m['model']:<40}{m['calls']:>7,}{m['prompt_tokens']:>12,}{m['expected_output_tokens']:>14,.0f}"
                     f"{'$' + format(m['expected_usd'], '.4f'):>12}{'$' + format(m['worst_usd'], '.4f'):>12}")
    lines.append(f"{'total':<40}{d['calls']:>7,}{'':>26}{'$' + format(d['expected_usd'], '.4f'):>12}"
                 f"{'$' + format(d['worst_usd'], '.4f'):>12}")
    lines.append("ESTIMATED from litellm's prices and token counts; dry run: nothing was called or written")
    return "\n".join(lines)


def format_run(plan: Plan, run: PlanRun) -> str:
    """What a capped run did, and how to continue."""
    lines = [f"asked {run.asked:,} of {len(plan.calls):,} planned calls: {run.answered:,} answered (stored in "
             f"'{plan.dataset}'), {run.failed:,} failed; spent ${run.spent_usd:.4f} of ${run.max_usd:.4f} (live)"]
    stop = run.stopped_before
    if stop is not None:
        lines.append(f"stopped before {stop.prompt_id} x {stop.model}: its worst case ${stop.worst_usd:.4f} is more "
                     f"than the ${run.max_usd - run.spent_usd:.4f} left; {run.left:,} calls left: run the same "
                     "command to continue")
    elif run.left:
        lines.append(f"{run.left:,} failed calls are not stored: run the same command to ask them again")
    else:
        lines.append("plan complete: every sampled prompt has an answer from every fleet model")
    return "\n".join(lines)
