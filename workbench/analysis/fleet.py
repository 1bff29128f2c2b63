"""Routing among N models: the cost-quality curve against the per-prompt oracle and every fixed mix.

Why these yardsticks: with two models, APGR and CPT measure a router against random routing, which
is the straight line between the two models. With N models the straight line becomes the *fixed
mixes*: any design that sends share w_i of the traffic to model i at random has quality sum w_i q_i
and cost sum w_i c_i, so the best fixed mixes form the upper concave hull of the models' (cost,
quality) points. A router earns its keep only above that hull, at equal cost. The per-prompt oracle
(each prompt to the cheapest model with its best score) bounds it from above.

AIQ (RouterBench's "average improvement in quality") summarises a curve: the mean quality of its
upper concave hull over a cost range (a router can mix two of its own operating points, so the hull
is reachable). Over the range from the cheapest model's cost to the best model's, the fixed mixes'
AIQ is the baseline and the oracle's quality the ceiling.

``dominant_model`` names a model both at least as good and at most as costly as every other (strictly
better in one of the two against each): on such a dataset no routing is needed, and the figures say so.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from workbench.analysis.routing import _wide, oracle
from workbench.errors import InputError

__all__ = ["model_points", "mix_frontier", "mix_quality", "route_outcome", "upper_hull", "aiq",
           "fleet_metrics", "dominant_model"]


def model_points(matrix: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Per model: mean score (``quality``) and total cost (``cost_usd``) over the prompts."""
    scores, costs = _wide(matrix, list(models))
    return pd.DataFrame({"model": list(models), "quality": scores.mean().to_numpy(),
                         "cost_usd": costs.sum().to_numpy()})


def upper_hull(cost: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The upper concave hull of (cost, quality) points, ascending cost, up to its best quality (beyond
    it paying more never has to lose quality: the best point can be kept, see :func:`mix_quality`)."""
    pts = sorted(zip(np.asarray(cost, float).tolist(), np.asarray(quality, float).tolist()))
    hull: list[tuple[float, float]] = []
    for p in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        if hull and hull[-1][0] == p[0]:
            hull[-1] = (p[0], max(hull[-1][1], p[1]))
        else:
            hull.append(p)
    x, y = np.array([h[0] for h in hull]), np.array([h[1] for h in hull])
    top = int(np.argmax(y)) + 1  # past the best point the hull only falls: spending more is never needed
    return x[:top], y[:top]


def mix_frontier(matrix: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """The best fixed mixes: hull vertices ``cost_usd``, ``quality`` (each vertex one model)."""
    pts = model_points(matrix, models)
    x, y = upper_hull(pts["cost_usd"], pts["quality"])
    names = [pts.loc[(pts["cost_usd"] == c) & (pts["quality"] <= q + 1e-15), "model"].iloc[0] for c, q in zip(x, y)]
    return pd.DataFrame({"cost_usd": x, "quality": y, "model": names})


def mix_quality(frontier: pd.DataFrame, cost: float) -> float:
    """The best fixed mix's quality at total ``cost`` (NaN below the cheapest model's cost)."""
    x, y = frontier["cost_usd"].to_numpy(float), frontier["quality"].to_numpy(float)
    if cost < x[0] - 1e-12:
        return float("nan")
    return float(np.interp(cost, x, y))  # beyond the priciest vertex: its quality (interp clamps)


def route_outcome(matrix: pd.DataFrame, models: Sequence[str], choice: pd.Series) -> dict:
    """Quality, total cost and share per model when each prompt goes to ``choice[prompt_key]``."""
    scores, costs = _wide(matrix, list(models))
    picked = choice.reindex(scores.index)
    if picked.isna().any():
        raise InputError(f"choice: {int(picked.isna().sum())} prompt(s) of the matrix have no model, e.g. "
                         f"{picked.index[picked.isna().to_numpy()][0]}", field="choice")
    col = scores.columns.get_indexer(picked.to_numpy())
    if (col < 0).any():
        raise InputError(f"choice names a model outside {', '.join(models)}: {picked.iloc[int(np.argmin(col))]}",
                         field="choice")
    rows = np.arange(len(scores))
    counts = np.bincount(col, minlength=len(models))
    return {"quality": float(scores.to_numpy()[rows, col].mean()), "cost_usd": float(costs.to_numpy()[rows, col].sum()),
            "share": {m: float(counts[i] / len(rows)) for i, m in enumerate(models)}}


def aiq(cost: Sequence[float], quality: Sequence[float], lo: float, hi: float, grid: int = 1001) -> float:
    """Mean quality of the upper hull of the points over costs ``[lo, hi]`` (RouterBench's AIQ); below
    the cheapest point the hull is not reachable and counts as its first quality."""
    if hi <= lo:
        return float("nan")
    x, y = upper_hull(cost, quality)
    return float(np.interp(np.linspace(lo, hi, grid), x, y).mean())


def dominant_model(matrix: pd.DataFrame, models: Sequence[str]) -> str | None:
    """The model at least as good and at most as costly as every other, strictly better in one of the
    two against each (no routing needed); None when routing can pay."""
    pts = model_points(matrix, models).set_index("model")
    for m, row in pts.iterrows():
        others = pts.drop(index=m)
        if ((row["quality"] >= others["quality"]) & (row["cost_usd"] <= others["cost_usd"])
                & ((row["quality"] > others["quality"]) | (row["cost_usd"] < others["cost_usd"]))).all():
            return str(m)
    return None


def fleet_metrics(matrix: pd.DataFrame, models: Sequence[str], curve: pd.DataFrame) -> dict:
    """A router's operating points (``curve``: cost_usd, quality) against the fixed mixes and the oracle:
    AIQ of both over [cheapest model, best model]; each point's margin over the best mix at its cost;
    ``min_margin``, the least lead of the router's hull over the mixes' at 99 costs strictly inside that
    range (``beats_every_mix`` when it is positive); whether every point stays under the oracle."""
    frontier = mix_frontier(matrix, models)
    best = oracle(matrix, list(models))
    lo, hi = float(frontier["cost_usd"].iloc[0]), float(frontier["cost_usd"].iloc[-1])
    margins = [q - mix_quality(frontier, c) for c, q in zip(curve["cost_usd"], curve["quality"])]
    hx, hy = upper_hull(curve["cost_usd"], curve["quality"])
    grid = np.linspace(lo, hi, 101)[1:-1]
    reach = grid >= hx[0] - 1e-12  # below the router's cheapest point it has no design at that cost
    lead = [float(np.interp(c, hx, hy)) - mix_quality(frontier, c) if ok else float("-inf")
            for c, ok in zip(grid, reach)]
    min_margin = min(lead) if len(lead) else float("nan")
    return {"aiq": aiq(curve["cost_usd"], curve["quality"], lo, hi),
            "mix_aiq": aiq(frontier["cost_usd"], frontier["quality"], lo, hi),
            "oracle": best, "frontier": frontier.to_dict("records"), "margin_at_equal_cost": margins,
            "min_margin": min_margin, "beats_every_mix": bool(hi > lo and min_margin > 0),
            "under_oracle": bool((curve["quality"] <= best["quality"] + 1e-12).all()),
            "no_routing_needed": dominant_model(matrix, models)}
