"""``utility``: route each request to the fleet model with the best predicted quality for its cost.

Why this shape: with more than two models a single score and one cut no longer say where a request
goes. Per request and model, two predictions suffice: quality, P(the model answers well), from the
prompt alone (:mod:`workbench.policies.quality`, cross-fitted on the replayed traffic with the
dataset's recorded scores, so every request is scored by models that never saw its outcome), and
cost, the prompt's tokens (as recorded at import by litellm's tokenizer) times the model's input
price plus its expected completion tokens (the mean over the *other* folds) times its output price,
with prices from the scenario's ``price`` or litellm's map as everywhere else. A model without a
price is costed at its mean recorded cost over the other folds.

The rule is then one line: maximise ``quality - cost_weight * cost`` (``cost_weight`` in quality
points per USD), or take the cheapest model predicted to reach ``quality_target`` (the best predicted
one when none does). ``budget_per_1k_usd`` and ``top_share`` calibrate ``cost_weight`` on the replayed
requests: the smallest weight whose predicted spend fits the budget, or which sends at most that share
to the priciest model. That calibration is in-sample (like ``threshold``'s ``strong_share``) and its
decision reason says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import Field, model_validator

from workbench.policies.base import Decision, Policy, PolicyParams, RouteContext, register

if TYPE_CHECKING:  # pragma: no cover
    from workbench.traffic import Request

__all__ = ["Utility", "choose", "choose_for_target", "calibrate_weight", "weight_path", "predicted_costs"]

_NonEmpty = Annotated[str, Field(min_length=1)]


def choose(quality: np.ndarray, cost: np.ndarray, weight: float) -> np.ndarray:
    """Per row, the column maximising ``quality - weight * cost`` (ties: the cheaper, then the first)."""
    u = quality - weight * cost
    best = u.max(axis=1, keepdims=True)
    tied = np.where(np.isclose(u, best, rtol=0, atol=1e-12), cost, np.inf)
    return tied.argmin(axis=1)


def choose_for_target(quality: np.ndarray, cost: np.ndarray, target: float) -> np.ndarray:
    """Per row, the cheapest column with predicted quality >= ``target``; else the best predicted."""
    ok = quality >= target
    cheapest = np.where(ok, cost, np.inf).argmin(axis=1)
    return np.where(ok.any(axis=1), cheapest, quality.argmax(axis=1))


def _spend(quality, cost, weight) -> float:
    return float(cost[np.arange(len(cost)), choose(quality, cost, weight)].sum())


def calibrate_weight(quality: np.ndarray, cost: np.ndarray, measure, limit: float) -> float:
    """The smallest ``cost_weight`` with ``measure(choice) <= limit`` (bisection; ``measure`` must not
    grow with the weight, as spend and the priciest model's share do not)."""
    pick = lambda w: measure(choose(quality, cost, w))  # noqa: E731
    if pick(0.0) <= limit:
        return 0.0
    hi = 1.0 / max(float(np.median(cost[cost > 0])) if (cost > 0).any() else 1.0, 1e-12)
    for _ in range(200):
        if pick(hi) <= limit:
            break
        hi *= 4
    lo = 0.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if pick(mid) <= limit else (mid, hi)
    return hi


def weight_path(quality: np.ndarray, cost: np.ndarray, points: int = 60) -> np.ndarray:
    """``cost_weight`` values spanning every operating point, from the best predicted quality (0) to the
    cheapest choice: quantiles of the weights at which some request changes model."""
    m = quality.shape[1]
    breaks = []
    for i in range(m):
        for j in range(m):
            dc = cost[:, i] - cost[:, j]
            ok = dc > 0
            w = (quality[ok, i] - quality[ok, j]) / dc[ok]
            breaks.append(w[w > 0])
    allw = np.concatenate(breaks) if breaks else np.array([])
    if allw.size == 0:
        return np.array([0.0])
    inner = np.quantile(allw, np.linspace(0, 1, points))
    return np.unique(np.concatenate([[0.0], inner * (1 - 1e-9), inner * (1 + 1e-9), [allw.max() * 2]]))


def predicted_costs(prompt_tokens: Mapping[str, np.ndarray], completion_tokens: Mapping[str, np.ndarray],
                    recorded_cost: Mapping[str, np.ndarray], prices: Mapping[str, tuple[float, float] | None],
                    fold: np.ndarray) -> dict[str, np.ndarray]:
    """Per model, each request's predicted cost (USD): prompt tokens x input price + the other folds'
    mean completion tokens x output price; a model without price: the other folds' mean recorded cost."""
    out = {}
    for m in prompt_tokens:
        pred, price = np.empty(len(fold)), prices.get(m)
        for k in np.unique(fold):
            other = fold != k
            if price is None:
                pred[~other] = recorded_cost[m][other].mean()
            else:
                p_in, p_out = price
                pred[~other] = prompt_tokens[m][~other] * p_in + completion_tokens[m][other].mean() * p_out
        out[m] = pred
    return out


@register
class Utility(Policy):
    """Pick, per request, the fleet model with the best predicted quality net of predicted cost."""

    name = "utility"

    params: Params  # the validated params: this class's own, not the base PolicyParams

    class Params(PolicyParams):
        """``targets`` to choose among and exactly one of ``cost_weight`` (quality per USD),
        ``budget_per_1k_usd``, ``top_share`` (calibrated weight) or ``quality_target``."""

        targets: Annotated[list[_NonEmpty], Field(min_length=2)]
        dataset: _NonEmpty | None = None  # the recorded scores to learn from; default the traffic's
        cost_weight: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
        budget_per_1k_usd: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
        top_share: Annotated[float, Field(ge=0, le=1)] | None = None
        quality_target: Annotated[float, Field(ge=0, le=1)] | None = None
        folds: Annotated[int, Field(ge=2, le=20)] = 5
        seed: int = 0

        @model_validator(mode="after")
        def _one_objective(self) -> Utility.Params:
            given = [k for k in ("cost_weight", "budget_per_1k_usd", "top_share", "quality_target")
                     if getattr(self, k) is not None]
            if len(given) != 1:
                raise ValueError("give exactly one of cost_weight, budget_per_1k_usd, top_share and "
                                 f"quality_target (got {', '.join(given) or 'none'})")
            if len(set(self.targets)) < len(self.targets):
                raise ValueError("targets must be distinct")
            return self

    def __init__(self, params, scenario):
        super().__init__(params, scenario)
        self._table: dict[str, tuple[int, float, np.ndarray, np.ndarray]] = {}
        self._weight: float | None = params.cost_weight
        self._how = ""

    def referenced_targets(self) -> dict[tuple, str]:
        return {("targets", i): t for i, t in enumerate(self.params.targets)}

    def method_notes(self) -> list[str]:
        from workbench.policies.quality import quality_note

        p = self.params
        notes = [f"utility policy: {quality_note(p.folds)}; costs predicted from prompt tokens x price "
                 f"(completion tokens: the other folds' mean)"]
        if p.budget_per_1k_usd is not None or p.top_share is not None:
            notes.append("utility policy: cost weight calibrated on the replayed traffic itself (in-sample)")
        return notes

    def fit(self, requests: Sequence[Request]) -> None:
        """Predict every request's quality and cost per target (cross-fitted), then calibrate."""
        from workbench.policies.utility_fit import fit_tables

        quality, cost = fit_tables(self, requests)
        p = self.params
        if p.quality_target is not None:
            idx = choose_for_target(quality, cost, p.quality_target)
            self._how = f"cheapest predicted to reach quality {p.quality_target:g}"
        else:
            if p.budget_per_1k_usd is not None:
                limit = p.budget_per_1k_usd * len(requests) / 1000
                self._weight = calibrate_weight(quality, cost, lambda c: cost[np.arange(len(c)), c].sum(), limit)
                self._how = f"weight calibrated to ${p.budget_per_1k_usd:g} per 1k requests, in-sample"
            elif p.top_share is not None:
                top = int(np.argmax(cost.mean(axis=0)))
                self._weight = calibrate_weight(quality, cost, lambda c: float(np.mean(c == top)), p.top_share)
                self._how = f"weight calibrated to at most {p.top_share:.0%} on {p.targets[top]}, in-sample"
            else:
                self._how = "fixed weight"
            assert self._weight is not None  # the params give exactly one of cost_weight, budget, top_share
            idx = choose(quality, cost, float(self._weight))
        for r, i, q, c in zip(requests, idx, quality, cost, strict=True):
            self._table[r.id] = (int(i), float(q[i] - (self._weight or 0.0) * c[i]), q, c)

    def decide(self, req: Request, ctx: RouteContext) -> Decision:
        row = self._table.get(req.id)
        if row is None:
            from workbench.errors import InputError

            raise InputError(f"policy 'utility' routes the replayed requests only (each predicted out of "
                             f"sample); '{req.id}' is not one of them, or fit() was not called")
        i, utility, q, c = row
        target = self.params.targets[i]
        w = f", weight {self._weight:.4g}/USD" if self._weight is not None else ""
        return Decision(target, f"predicted quality {q[i]:.3f} at ${c[i]:.6f} ({self._how}{w}) -> {target}",
                        utility)
