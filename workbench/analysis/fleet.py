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
``no_routing_needed`` asks the same of stored runs being compared (the CLI's ``compare``, the report
and the app's Compare view all call it): a run that sends (almost) every request to one model and is
at least as good and at most as costly as every other compared design. It reads only the runs' own
traces (no new replay); the paired bootstrap over the same requests decides whether the quality lead
is called significant, and simulated quality is named as such.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from workbench.analysis.compare import paired_bootstrap
from workbench.analysis.routing import _outcome, _wide, oracle
from workbench.errors import InputError

__all__ = ["model_points", "mix_frontier", "mix_quality", "route_outcome", "upper_hull", "aiq",
           "fleet_metrics", "dominant_model", "no_routing_needed", "SINGLE_MODEL_SHARE"]

#: A run "sends all traffic to one model" when at least this share of its requests called that model
#: only (answers, retries, fallbacks, escalations and router calls; LLM judges and tool/data steps aside).
SINGLE_MODEL_SHARE = 0.95

_SINGLE_SQL = """
WITH per_request AS (
    SELECT run_id, request_id, min(model) AS model, count(DISTINCT model) AS models
    FROM attempts WHERE run_id IN (SELECT unnest(?::VARCHAR[]))
      AND coalesce(purpose, 'answer') NOT IN ('judge', 'retrieval', 'tool', 'lookup')
    GROUP BY run_id, request_id
), per_model AS (
    SELECT run_id, model, count(*) AS n FROM per_request WHERE models = 1 GROUP BY run_id, model
), totals AS (
    SELECT run_id, count(*) AS n FROM requests WHERE run_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY run_id
)
SELECT m.run_id, arg_max(m.model, m.n) AS model, max(m.n) / any_value(t.n) AS share
FROM per_model m JOIN totals t USING (run_id) GROUP BY m.run_id
"""


def model_points(matrix: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Per model: mean score (``quality``) and total cost (``cost_usd``) over the prompts."""
    scores, costs = _wide(matrix, list(models))
    return pd.DataFrame({"model": list(models), "quality": scores.mean().to_numpy(),
                         "cost_usd": costs.sum().to_numpy()})


def upper_hull(cost: ArrayLike, quality: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The upper concave hull of (cost, quality) points, ascending cost, up to its best quality (beyond
    it paying more never has to lose quality: the best point can be kept, see :func:`mix_quality`)."""
    pts = sorted(zip(np.asarray(cost, float).tolist(), np.asarray(quality, float).tolist(), strict=True))
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
    names = [pts.loc[(pts["cost_usd"] == c) & (pts["quality"] <= q + 1e-15), "model"].iloc[0]
             for c, q in zip(x, y, strict=True)]
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
    col = scores.columns.get_indexer(pd.Index(picked.to_numpy()))
    if (col < 0).any():
        raise InputError(f"choice names a model outside {', '.join(models)}: {picked.iloc[int(np.argmin(col))]}",
                         field="choice")
    return _outcome(scores.to_numpy(), costs.to_numpy(), col, list(models))


def aiq(cost: ArrayLike, quality: ArrayLike, lo: float, hi: float, grid: int = 1001) -> float:
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
    margins = [q - mix_quality(frontier, c) for c, q in zip(curve["cost_usd"], curve["quality"], strict=True)]
    hx, hy = upper_hull(curve["cost_usd"], curve["quality"])
    grid = np.linspace(lo, hi, 101)[1:-1]
    reach = grid >= hx[0] - 1e-12  # below the router's cheapest point it has no design at that cost
    lead = [float(np.interp(c, hx, hy)) - mix_quality(frontier, c) if ok else float("-inf")
            for c, ok in zip(grid, reach, strict=True)]
    min_margin = min(lead) if len(lead) else float("nan")
    return {"aiq": aiq(curve["cost_usd"], curve["quality"], lo, hi),
            "mix_aiq": aiq(frontier["cost_usd"], frontier["quality"], lo, hi),
            "oracle": best, "frontier": frontier.to_dict("records"), "margin_at_equal_cost": margins,
            "min_margin": min_margin, "beats_every_mix": bool(hi > lo and min_margin > 0),
            "under_oracle": bool((curve["quality"] <= best["quality"] + 1e-12).all()),
            "no_routing_needed": dominant_model(matrix, models)}


def _single_model_runs(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> dict[str, tuple[str, float]]:
    """Runs that send at least ``SINGLE_MODEL_SHARE`` of their requests to one model: run -> (model, share)."""
    rows = con.execute(_SINGLE_SQL, [run_ids, run_ids]).fetchall()
    return {rid: (model, float(share)) for rid, model, share in rows if share >= SINGLE_MODEL_SHARE}


def _dominates(c: pd.Series, o: pd.Series) -> bool:
    """``c`` at least as good and at most as costly as ``o`` (per 1k requests), strictly in one of the two."""
    return bool(c.quality >= o.quality and c.cost_per_1k_usd <= o.cost_per_1k_usd
                and (c.quality > o.quality or c.cost_per_1k_usd < o.cost_per_1k_usd))


def no_routing_needed(con: duckdb.DuckDBPyConnection, table: pd.DataFrame, *, n_boot: int = 2000,
                      seed: int = 0) -> dict | None:
    """The compared run that makes routing unnecessary, or None (see the module docstring).

    ``table`` is :func:`~workbench.analysis.compare.compare_runs`' (runs over identical traffic). A
    run qualifies when it sends at least ``SINGLE_MODEL_SHARE`` of its requests to one model and its
    quality is at least, and its cost per 1k requests at most, every other run's, strictly better in
    one of the two against each (point estimates; None when a run has no quality). Returns ``run``,
    ``scenario``, ``model``, ``share``, ``significant`` (the paired 95% interval of the quality lead
    excludes zero against every other run), ``simulated`` (a compared run's quality is simulated),
    ``against`` (per other run: its quality and cost differences with intervals) and ``reason``.
    """
    rows = table.set_index("run_id")
    if len(rows) < 2 or rows["quality"].isna().any():
        return None
    singles = _single_model_runs(con, list(rows.index))
    winner = next((rid for rid in rows.index if rid in singles
                   and all(_dominates(rows.loc[rid], o) for oid, o in rows.iterrows() if oid != rid)), None)
    if winner is None:
        return None
    model, share = singles[winner]
    against = []
    for oid, o in rows.drop(index=winner).iterrows():
        boot = paired_bootstrap(con, oid, winner, n_boot=n_boot, seed=seed)  # winner minus the other
        against.append({"run": oid, "scenario": o.scenario, "d_quality": boot["quality_delta"],
                        "d_quality_lo": boot["quality_lo"], "d_quality_hi": boot["quality_hi"],
                        "d_cost_per_1k_usd": boot["cost_per_1k_delta"], "d_cost_per_1k_lo": boot["cost_per_1k_lo"],
                        "d_cost_per_1k_hi": boot["cost_per_1k_hi"]})
    significant = all(a["d_quality_lo"] is not None and a["d_quality_lo"] > 0 for a in against)
    simulated = bool(rows["mode"].isin(["simulated", "mixed"]).any())
    out = {"run": winner, "scenario": rows.loc[winner].scenario, "model": model, "share": share,
           "significant": significant, "simulated": simulated, "against": against}
    out["reason"] = _reason(out)
    return out


def _reason(v: dict) -> str:
    """The plain sentence: who, to which model, and the evidence against each other run."""
    sent = "all" if v["share"] >= 1 else f"{v['share']:.1%} of requests"
    claim = "significantly better" if v["significant"] else "at least as good"
    parts = []
    for a in v["against"]:
        lo, hi = a["d_quality_lo"], a["d_quality_hi"]
        noise = "" if lo > 0 else ", no difference" if lo == hi == 0 else ", within noise"
        parts.append(f"{a['scenario']}: quality {a['d_quality']:+.3f} [95% {a['d_quality_lo']:+.3f}, "
                     f"{a['d_quality_hi']:+.3f}{noise}], cost per 1k {a['d_cost_per_1k_usd']:+.3f} USD")
    where = " (quality is simulated)" if v["simulated"] else ""
    return (f"no routing needed: {v['scenario']} ({sent} to {v['model']}) is {claim} and no more costly than "
            f"every other design compared{where}; against " + "; ".join(parts))
