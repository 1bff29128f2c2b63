"""``workbench estimate``: a scenario's router scored off-policy on a dataset's logged traffic.

Why a replay of decisions only: the question is "what would this design have scored on the traffic we
logged?", and the log holds one answer per prompt, from the model the old router chose. The new
router decides on every logged prompt exactly as in a replay (the scenario's policy, fitted on the
dataset's prompts, the same per-request draw under the seed), but no model is called: its choices
are weighed against the old router's logged probabilities (:mod:`workbench.analysis.offpolicy`).

What is estimated is the router's *first choice*: retries, fallbacks, budgets and failures are not
part of it (a logged answer is one call). A policy that must see an answer to route (a consult, a
cascade's review) cannot be estimated this way and is refused, as is a dataset whose log carries no
propensities (outcomes column ``propensity``: the probability the old router gave the logged model).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis.offpolicy import (
    MAX_UNSUPPORTED,
    MIN_ESS,
    MIN_ESS_SHARE,
    LoggedBandit,
    OffPolicyResult,
    off_policy_estimates,
)
from workbench.errors import InputError, WorkbenchError
from workbench.policies import Policy, RouteContext, build_policy
from workbench.scenario import Scenario, load_scenario, parse_scenario
from workbench.seeds import check_seed, request_key
from workbench.store.logged import logged_outcomes
from workbench.store.outcomes import OutcomeStore
from workbench.traffic import Request, load_dataset_traffic

__all__ = ["estimate", "load_logged", "same_model", "format_estimate", "REWARD_MODEL", "run_estimate"]

#: What DR's reward model is, as the output states it.
REWARD_MODEL = ("mean logged score (and cost) per (model, category), else per model, else overall; "
                "refitted in every bootstrap resample")


def same_model(a: str, b: str) -> bool:
    """Whether two litellm names are one model (``openai/gpt-4o`` is ``gpt-4o``)."""
    return a == b or a.split("/", 1)[-1] == b.split("/", 1)[-1]


@dataclass
class Logged:
    """A dataset's logged rows that carry a propensity, and how many were left out."""

    dataset: str
    path: Path
    rows: pd.DataFrame
    without_propensity: int


def load_logged(name: str) -> Logged:
    """The logged outcomes of dataset ``name`` with their propensities; one clear error when it has none."""
    with OutcomeStore(name) as ds:
        has_propensity, rows = logged_outcomes(ds)
        path = ds.path
        if not has_propensity:
            raise InputError(f"dataset '{name}' records no propensities (its outcomes have no column 'propensity'): "
                             "off-policy estimates need the old router's probability of choosing each logged model, "
                             "as a weighted or randomized router logs it", file=path, field="propensity")
    if rows.empty:
        raise InputError(f"dataset '{name}' holds no logged outcomes (source 'logged'): import a production log "
                         "first (`workbench traffic import`)", file=path, field="source")
    known = rows["propensity"].notna()
    if not known.any():
        raise InputError(f"dataset '{name}': none of its {len(rows):,} logged outcomes has a propensity (all NULL): "
                         "the log did not carry the old router's choice probabilities", file=path, field="propensity")
    bad = rows[known & ~((rows["propensity"] > 0) & (rows["propensity"] <= 1))]
    if not bad.empty:
        row = bad.iloc[0]
        raise InputError(f"dataset '{name}': prompt '{row.prompt_id}' (model {row.model}) has propensity "
                         f"{row.propensity!r}; a probability in (0, 1] is needed", file=path, field="propensity")
    return Logged(name, path, rows[known].reset_index(drop=True), int((~known).sum()))


def estimate(scenario: Scenario | str | Path, dataset: str | None = None, *, seed: int | None = None,
             n_boot: int = 1000, boot_seed: int = 0) -> dict[str, Any]:
    """IPS, SNIPS and DR of ``scenario``'s router over ``dataset``'s logged prompts, as a JSON-ready dict."""
    scn = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    name = dataset or scn.traffic.dataset
    if name is None:
        raise InputError("which dataset? give --dataset NAME (or traffic: {dataset: NAME} in the scenario)",
                         file=scn.path, field="traffic.dataset")
    run_seed = scn.seed if seed is None else check_seed(seed)
    policy = _checked_policy(scn)
    logged = load_logged(name)
    requests = load_dataset_traffic(name).requests
    with OutcomeStore(name) as ds:  # the same order as the requests: the keys as stored, not recomputed
        by_key = dict(zip(ds.prompts()["prompt_key"], requests, strict=True))
    policy.fit(requests)  # calibrated on the dataset's prompts, as a replay over them would be
    choice = [_choice(scn, policy, by_key[k], run_seed) for k in logged.rows["prompt_key"]]
    actions = _actions(logged.rows["model"], [m for c in choice for m in c])
    target = np.zeros((len(choice), len(actions)))
    for i, probs in enumerate(choice):
        for model, p in probs.items():
            target[i, _index(actions, model)] += p
    log = _bandit(logged.rows, actions)
    res = off_policy_estimates(log, target, n_boot=n_boot, seed=boot_seed)
    return _result(scn, logged, run_seed, actions, target, log, res)


def run_estimate(scenario_yaml: str, dataset: str, seed: int) -> dict[str, Any] | None:
    """A stored run's design estimated on its logged dataset, for the report: None when the dataset logged no
    propensities (nothing to estimate), ``{"error": text}`` when the design cannot be estimated."""
    try:
        load_logged(dataset)
    except InputError:  # no logged rows, or none with a propensity: the report has no such section
        return None
    try:
        return estimate(parse_scenario(scenario_yaml), dataset, seed=seed)
    except WorkbenchError as exc:  # e.g. a cascade: it escalates after seeing an answer
        return {"error": str(exc)}


def _checked_policy(scn: Scenario) -> Policy:
    policy = build_policy(scn)
    if type(policy).review is not Policy.review:
        raise scn.error_at(("router", "policy"), f"policy '{scn.router.policy}' escalates after seeing an answer: "
                           "an off-policy estimate covers routers that choose one model per request up front")
    return policy


def _choice(scn: Scenario, policy: Policy, req: Request, seed: int) -> dict[str, float]:
    """The new router's probabilities over fleet *models* (litellm names) for one request."""
    from workbench.policies.weighted import Weighted

    if isinstance(policy, Weighted) and isinstance(policy.params, Weighted.Params):
        # its shares are its probabilities: weighing them has less variance than weighing one draw
        total = sum(policy.params.weights.values())
        shares = {t: w / total for t, w in policy.params.weights.items()}
    else:
        decision = policy.decide(req, RouteContext(0.0, 0.0, request_key(seed, req.id)))
        if decision.consult is not None or decision.target is None:
            raise scn.error_at(("router", "policy"), f"policy '{scn.router.policy}' "
                               f"{'consults a model first' if decision.consult else 'rejects'} on prompt "
                               f"'{req.id}': an off-policy estimate needs one model chosen up front")
        shares = {decision.target: 1.0}
    out: dict[str, float] = {}
    for target, share in shares.items():
        if target not in scn.fleet:
            raise scn.error_at(("router", "policy"), f"policy routes prompt '{req.id}' to '{target}', which is not "
                               "a fleet model (a human queue has no logged answers to weigh)")
        model = scn.fleet[target].model
        out[model] = out.get(model, 0.0) + share
    return out


def _actions(logged_models: pd.Series, target_models: list[str]) -> tuple[str, ...]:
    """The logged models, then any model only the new router uses (matched by :func:`same_model`)."""
    out = list(dict.fromkeys(logged_models))
    for m in dict.fromkeys(target_models):
        if not any(same_model(m, a) for a in out):
            out.append(m)
    return tuple(out)


def _index(actions: tuple[str, ...], model: str) -> int:
    return next(i for i, a in enumerate(actions) if same_model(model, a))


def _bandit(rows: pd.DataFrame, actions: tuple[str, ...]) -> LoggedBandit:
    categories = tuple(sorted(set(rows["category"])))
    cat_index = {c: i for i, c in enumerate(categories)}
    return LoggedBandit(actions, categories, np.array([actions.index(m) for m in rows["model"]], dtype=np.int64),
                        rows["propensity"].to_numpy(float), rows["category"].map(cat_index).to_numpy(np.int64),
                        rows["score"].to_numpy(float), rows["cost_usd"].to_numpy(float))


def _result(scn: Scenario, logged: Logged, seed: int, actions: tuple[str, ...], target: np.ndarray,
            log: LoggedBandit, res: OffPolicyResult) -> dict[str, Any]:
    rows = logged.rows
    return {
        "scenario": scn.name, "policy": scn.router.policy, "dataset": logged.dataset, "seed": seed,
        "source": "estimated off-policy from logged outcomes (no model was called)",
        "logged_rows": len(rows), "rows_without_propensity": logged.without_propensity,
        "new_policy_share": {a: float(s) for a, s in zip(actions, target.mean(axis=0), strict=True)},
        "logged_share": {a: float(np.mean(log.action == i)) for i, a in enumerate(actions)},
        "logged_value": {"quality": _mean(rows["score"]), "cost_usd": _mean(rows["cost_usd"])},
        "reward_model": REWARD_MODEL,
        "thresholds": {"min_ess": MIN_ESS, "min_ess_share": MIN_ESS_SHARE, "max_unsupported": MAX_UNSUPPORTED},
        **res.as_dict(),
    }


def _mean(s: pd.Series) -> float | None:
    s = s.dropna()
    return float(s.mean()) if len(s) else None


def format_estimate(out: dict[str, Any]) -> str:
    """The estimate as the text ``workbench estimate`` prints."""
    lines = [f"off-policy estimate of '{out['scenario']}' (policy {out['policy']}) on dataset '{out['dataset']}', "
             f"seed {out['seed']}: {out['logged_rows']:,} logged rows with a propensity"
             + (f" ({out['rows_without_propensity']:,} without, left out)" if out["rows_without_propensity"] else ""),
             "ESTIMATED, not replayed: " + _shares("new policy", out["new_policy_share"]) + "; "
             + _shares("logged router", out["logged_share"])]
    rows: list[tuple[str, list[str] | None, str]] = []
    for key, label, fmt in (("quality", "quality", "{:.3f}"), ("cost_usd", "cost per request", "${:.6f}")):
        m = out[key]
        if m is None:
            rows.append((label, None, f"(the log has no {key.replace('_usd', '')} to weigh)"))
            continue
        cells = [f"{fmt.format(m[e]['value'])} [{fmt.format(m[e]['lo'])}, {fmt.format(m[e]['hi'])}]"
                 for e in ("ips", "snips", "dr")]
        rows.append((label, cells, f"({m['rows']:,} rows)"))
    width = 2 + max((len(c) for _, row, _ in rows if row for c in row), default=10)
    lines.append(f"{'':<18}{'IPS':<{width}}{'SNIPS':<{width}}DR")
    for label, row, tail in rows:
        body = "" if row is None else f"{row[0]:<{width}}{row[1]:<{width}}{row[2]}   "
        lines.append(f"{label:<18}{body}{tail}")
    lines.append(f"{int(out['level'] * 100)}% percentile bootstrap intervals ({out['n_boot']:,} resamples); "
                 f"DR's reward model: {out['reward_model']}")
    lines.append(f"effective sample size {out['ess']:,.1f} of {out['rows']:,} ({out['ess_share']:.1%}), "
                 f"max weight {out['max_weight']:.2f}, choices on unlogged (category, model): "
                 f"{out['unsupported_share']:.1%}")
    t = out["thresholds"]
    if out["trusted"]:
        lines.append(f"overlap: enough (ESS >= {t['min_ess']:g} and >= {t['min_ess_share']:.0%} of rows, "
                     f"<= {t['max_unsupported']:.0%} of choices unlogged)")
    else:
        lines.append("overlap TOO POOR TO TRUST these estimates: " + "; ".join(out["reasons"]))
    lv = out["logged_value"]
    if lv["quality"] is not None or lv["cost_usd"] is not None:
        q = "n/a" if lv["quality"] is None else f"{lv['quality']:.3f}"
        c = "n/a" if lv["cost_usd"] is None else f"${lv['cost_usd']:.6f}"
        lines.append(f"logged router as logged: quality {q}, cost per request {c}")
    return "\n".join(lines)


def _shares(label: str, shares: dict[str, float]) -> str:
    return f"{label} " + ", ".join(f"{m} {s:.1%}" for m, s in shares.items() if s > 0)
