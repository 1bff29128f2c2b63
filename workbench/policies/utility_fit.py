"""Fitting the ``utility`` policy: per request and fleet model, predicted quality and cost.

Why a module of its own: the same tables feed the policy (from a scenario's fleet and traffic) and
``workbench datasets eval --fleet`` (from a dataset's models), so the predictions an evaluation
reports are exactly the ones a replay routes by. Reading the dataset lives here, not in
:mod:`workbench.policies.utility`, which stays the decision rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from workbench.traffic import Request

__all__ = ["fleet_tables", "fit_tables"]


def fleet_tables(texts: Sequence[str], outcomes: Mapping[str, dict], prices: Mapping[str, tuple | None], *,
                 folds: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(quality, cost, chosen)``: requests x models arrays of predicted P(right) and cost (USD), both
    out of fold, and the learner the inner CV chose per fold. ``outcomes[model]`` holds arrays
    ``score``, ``prompt_tokens``, ``completion_tokens``, ``cost_usd`` in text order."""
    from workbench.policies.learned import assign_folds
    from workbench.policies.quality import brier_selector, cross_fitted_quality
    from workbench.policies.utility import predicted_costs

    models = list(outcomes)
    pred = cross_fitted_quality(texts, {m: outcomes[m]["score"] for m in models}, folds=folds, seed=seed,
                                select=brier_selector)
    fold = assign_folds(texts, folds, seed)
    cost = predicted_costs({m: outcomes[m]["prompt_tokens"] for m in models},
                           {m: outcomes[m]["completion_tokens"] for m in models},
                           {m: outcomes[m]["cost_usd"] for m in models}, prices, fold)
    return (np.column_stack([pred.selected[m] for m in models]), np.column_stack([cost[m] for m in models]),
            pred.chosen)


def _outcomes(policy, requests: Sequence[Request]) -> tuple[dict, dict]:
    """Recorded outcomes and prices of each target's model, in request order (errors name the field)."""
    from workbench import catalog
    from workbench.store.outcomes import OutcomeStore
    from workbench.traffic import prompt_key

    sc, p = policy.scenario, policy.params
    name = p.dataset or sc.traffic.dataset
    if name is None:
        raise sc.error_at(("router", "params", "dataset"), "policy 'utility' needs a dataset of recorded "
                          "outcomes (the traffic's, or dataset: NAME)")
    keys = [prompt_key(r) for r in requests]
    outcomes, prices = {}, {}
    with OutcomeStore(name) as ds:
        for i, target in enumerate(p.targets):
            spec = sc.fleet.get(target)
            if spec is None:
                raise sc.error_at(("router", "params", "targets", i), f"'{target}' is not a fleet model "
                                  "(utility routes among models)")
            model = spec.recorded.model or spec.model
            rec = ds.answers(model, keys)
            missing = [r.id for r, k in zip(requests, keys, strict=True) if k not in rec or rec[k].score is None]
            if missing:
                raise sc.error_at(("router", "params", "targets", i), f"dataset '{name}' has no score of "
                                  f"'{model}' for {len(missing)} request(s), e.g. '{missing[0]}'")
            rows = [rec[k] for k in keys]
            outcomes[target] = {
                "score": np.array([r.score for r in rows], float),
                "prompt_tokens": np.array([r.prompt_tokens or 0 for r in rows], float),
                "completion_tokens": np.array([r.completion_tokens or 0 for r in rows], float),
                "cost_usd": np.array([r.cost_usd or 0.0 for r in rows], float)}
            info = catalog.model_info(spec.model, price=spec.price)
            prices[target] = None if info is None else (info.input_per_token, info.output_per_token)
    return outcomes, prices


def fit_tables(policy, requests: Sequence[Request]) -> tuple[np.ndarray, np.ndarray]:
    """Predicted quality and cost (requests x ``policy.params.targets``) for a scenario's replay."""
    outcomes, prices = _outcomes(policy, requests)
    p = policy.params
    try:
        quality, cost, _ = fleet_tables([r.prompt for r in requests], outcomes, prices, folds=p.folds, seed=p.seed)
    except ValueError as exc:  # e.g. fewer distinct prompts than folds
        raise policy.scenario.error_at(("router", "params", "folds"), str(exc)) from None
    return quality, cost
