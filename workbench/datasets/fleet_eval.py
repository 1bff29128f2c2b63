"""``workbench datasets eval NAME --fleet A,B,C``: the ``utility`` router among N models, offline.

Why a sweep of the cost weight: one weight is one design; the sweep draws the router's whole
cost-quality curve from the same out-of-sample predictions, so it can be laid against every fixed mix
of the models (their upper hull) and the per-prompt oracle at equal cost (:mod:`workbench.analysis.fleet`).
Quality and cost on the curve are the recorded ones of the models each prompt was routed to; only
the routing decisions come from predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.errors import InputError

__all__ = ["evaluate_fleet", "format_fleet_eval"]


def _inputs(name: str, models: Sequence[str]):
    import numpy as np

    from workbench.store.outcomes import OutcomeStore

    with OutcomeStore(name) as ds:
        matrix = ds.matrix()
        prompts = ds.prompts()
        meta = ds.meta()
    keys = prompts["prompt_key"].tolist()
    outcomes, prices = {}, {}
    for m in models:
        rows = matrix[matrix["model"] == m].set_index("prompt_key").reindex(keys)
        outcomes[m] = {c: rows[c].to_numpy(dtype=float, na_value=np.nan) for c in
                       ("score", "prompt_tokens", "completion_tokens", "cost_usd")}
        for c in ("prompt_tokens", "completion_tokens", "cost_usd"):
            outcomes[m][c] = np.nan_to_num(outcomes[m][c])
        price = meta.get("prices", {}).get(m)
        prices[m] = None if not price else (price["input_per_mtok"] / 1e6, price["output_per_mtok"] / 1e6)
    return matrix, prompts, keys, outcomes, prices


def evaluate_fleet(name: str, models: Sequence[str], *, folds: int = 5, seed: int = 0) -> dict:
    """The utility router's curve (one point per cost weight) on dataset ``name`` among ``models``,
    against each model, every fixed mix and the oracle."""
    import numpy as np
    import pandas as pd

    from workbench.analysis.fleet import fleet_metrics, model_points, route_outcome
    from workbench.policies.quality import quality_note
    from workbench.policies.utility import choose, weight_path
    from workbench.policies.utility_fit import fleet_tables

    models = list(dict.fromkeys(models))
    if len(models) < 2:
        raise InputError("--fleet needs at least two models, comma-separated", field="--fleet")
    matrix, prompts, keys, outcomes, prices = _inputs(name, models)
    points = model_points(matrix, models)  # checks every model answers every prompt
    try:
        quality, cost, chosen = fleet_tables(prompts["prompt"].tolist(), outcomes, prices, folds=folds, seed=seed)
    except ValueError as exc:
        raise InputError(str(exc), field="--folds") from None
    rows = []
    for w in weight_path(quality, cost):
        pick = pd.Series(np.array(models, dtype=object)[choose(quality, cost, w)], index=keys)
        rows.append({"cost_weight": float(w), **route_outcome(matrix, models, pick)})
    curve = pd.DataFrame(rows).drop_duplicates(["cost_usd", "quality"])
    metrics = fleet_metrics(matrix, models, curve)
    costed = [m for m in models if prices[m] is not None]
    return {"dataset": name, "prompts": len(keys), "fleet": models, "models": points.to_dict("records"),
            "oracle": metrics["oracle"], "mixes": metrics["frontier"],
            "no_routing_needed": metrics["no_routing_needed"],
            "utility": {"aiq": metrics["aiq"], "mix_aiq": metrics["mix_aiq"],
                        "beats_every_mix": metrics["beats_every_mix"],
                        "min_margin": metrics["min_margin"],
                        "under_oracle": metrics["under_oracle"], "chosen": chosen, "folds": folds, "seed": seed,
                        "out_of_sample": True,
                        "curve": [{**r, "margin_over_mixes": m} for r, m in
                                  zip(curve.to_dict("records"), metrics["margin_at_equal_cost"], strict=True)]},
            "note": (f"routing decisions out of sample: {quality_note(folds)}; predicted cost = prompt tokens x "
                     f"price + the other folds' mean completion tokens x price ({', '.join(costed) or 'none'} "
                     f"priced; others: the other folds' mean recorded cost); quality and cost on the curve are "
                     f"the recorded ones")}


def format_fleet_eval(r: dict) -> str:
    """The text of ``workbench datasets eval NAME --fleet ...``."""
    w = max(len(m) for m in r["fleet"] + ["oracle (cheapest best model)"])
    lines = [f"{r['dataset']}: {r['prompts']:,} prompts, {len(r['fleet'])} models",
             f"  {'':<{w}} {'quality':>8} {'cost (USD)':>11}"]
    for m in r["models"]:
        lines.append(f"  {m['model']:<{w}} {m['quality']:>8.4f} {m['cost_usd']:>11.4f}")
    o = r["oracle"]
    lines.append(f"  {'oracle (cheapest best model)':<{w}} {o['quality']:>8.4f} {o['cost_usd']:>11.4f}")
    if r["no_routing_needed"]:
        lines.append(f"\n  no routing needed: {r['no_routing_needed']} is both better and cheaper than every other "
                     "model")
    u = r["utility"]
    lines.append(f"\n  AIQ (mean quality over the cost range of the models): utility {u['aiq']:.4f}, "
                 f"best fixed mixes {u['mix_aiq']:.4f}")
    lines.append(f"  utility beats every fixed mix at equal cost: {'yes' if u['beats_every_mix'] else 'no'} "
                 f"(least lead {u['min_margin']:+.4f}); "
                 f"under the oracle: {'yes' if u['under_oracle'] else 'no'}; "
                 f"learner per fold: {', '.join(u['chosen'])}")
    lines.append(f"\n  {'cost weight':>12} {'quality':>8} {'cost (USD)':>11} {'vs mixes':>9}  shares")
    curve = u["curve"]
    step = max(1, len(curve) // 12)
    for p in curve[::step] + ([curve[-1]] if (len(curve) - 1) % step else []):
        shares = ", ".join(f"{m} {s:.0%}" for m, s in p["share"].items() if s > 0)
        margin = "" if p["margin_over_mixes"] != p["margin_over_mixes"] else f"{p['margin_over_mixes']:+.4f}"
        lines.append(f"  {p['cost_weight']:>12.4g} {p['quality']:>8.4f} {p['cost_usd']:>11.4f} {margin:>9}  {shares}")
    lines.append(f"\n  note: {r['note']}")
    return "\n".join(lines)
