"""A sweep's results: every trial's figures, the Pareto front, the cheapest design meeting every
constraint, its paired interval against the baseline, and the front as a chart.

Why here and read back from the store: a sweep's trials are ordinary runs, so each trial's figures
are :func:`run_summary`'s and the interval is :func:`paired_bootstrap`'s, the same numbers Compare
and the report show for those runs. The front is computed over the sweep's objectives with their
directions (quality up, the rest down): a trial is on it when no other trial is at least as good on
every objective and better on one. Trials missing an objective's figure are on no front.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from workbench.analysis.compare import paired_bootstrap
from workbench.analysis.summary import run_summary
from workbench.store.sweeps import sweep_info, sweep_trials

__all__ = ["FIGURES", "sweep_table", "pareto_mask", "sweep_result", "front_chart"]

#: Per-trial figures kept from :func:`run_summary`.
FIGURES = ("mode", "requests", "cost_usd", "cost_per_1k_usd", "quality", "error_rate", "p50_latency_s",
           "p95_latency_s", "p99_latency_s", "fallback_rate", "retry_rate", "handoff_rate",
           "escalation_rate", "attempt_error_rate")


def sweep_table(con, sweep_id: str) -> pd.DataFrame:
    """One row per trial: ``trial``, ``run_id``, ``params``, the :data:`FIGURES`, ``feasible``
    (meets every constraint of the sweep) and ``on_front``."""
    info = sweep_info(con, sweep_id)
    trials = sweep_trials(con, sweep_id)
    summaries = {rid: run_summary(con, rid) for rid in dict.fromkeys(trials["run_id"])}
    rows = []
    t: Any  # a row of the sweep's trials table (its cells are untyped)
    for t in trials.itertuples(index=False):
        s = summaries[t.run_id]
        rows.append({"trial": int(t.trial), "run_id": t.run_id, "params": t.params,
                     **{k: s[k] for k in FIGURES}})
    df = pd.DataFrame(rows)
    for col in FIGURES[2:]:
        df[col] = pd.to_numeric(df[col]).astype(float)
    df["feasible"] = _feasible(df, info["constraints"])
    df["on_front"] = pareto_mask(df, info["objectives"])
    return df


def _feasible(df: pd.DataFrame, constraints: list[dict]) -> np.ndarray:
    ok = np.ones(len(df), dtype=bool)
    for c in constraints:
        v = df[c["metric"]].to_numpy(float)
        with np.errstate(invalid="ignore"):
            met = {">=": v >= c["bound"], "<=": v <= c["bound"], ">": v > c["bound"], "<": v < c["bound"]}[c["op"]]
        ok &= met & ~np.isnan(v)
    return ok


def pareto_mask(df: pd.DataFrame, objectives: list[dict]) -> np.ndarray:
    """True for rows no other row dominates over ``objectives`` ({metric, direction}); rows missing a
    figure are False, and do not dominate."""
    if df.empty:
        return np.zeros(0, dtype=bool)
    x = np.column_stack([df[o["metric"]].to_numpy(float) * (-1 if o["direction"] == "maximize" else 1)
                         for o in objectives])  # lower is better in every column
    valid = ~np.isnan(x).any(axis=1)
    a, b = x[:, None, :], x[None, :, :]
    dominated = ((b <= a).all(axis=2) & (b < a).any(axis=2) & valid[None, :]).any(axis=1)
    return valid & ~dominated


def sweep_result(con, sweep_id: str, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """The sweep as a JSON-ready dict: ``trials``, ``front`` (trial numbers), ``baseline`` (trial 0),
    ``best`` (the cheapest design by cost per 1k requests meeting every constraint; ties by quality,
    then trial; None if none does) with ``vs_baseline``: its paired bootstrap against the baseline."""
    info = sweep_info(con, sweep_id)
    df = sweep_table(con, sweep_id)
    trials = [_row(r) for r in df.to_dict("records")]
    out = {"sweep_id": sweep_id, "scenario": info["scenario"], "sampler": info["sampler"],
           "executor": info["executor"], "status": info["status"], "objectives": info["objectives"],
           "constraints": info["constraints"], "modes": sorted(set(df["mode"])),
           "trials": trials, "front": [int(t) for t in df.loc[df["on_front"], "trial"]],
           "baseline": trials[0] if trials else None, "best": None}
    feasible = df[df["feasible"]].assign(_q=lambda d: -d["quality"].fillna(-np.inf))
    if not feasible.empty:
        pick = feasible.sort_values(["cost_per_1k_usd", "_q", "trial"]).iloc[0]
        best = dict(trials[int(np.flatnonzero(df["trial"].to_numpy() == pick["trial"])[0])])
        base_run = df.iloc[0]["run_id"]
        best["vs_baseline"] = None if best["run_id"] == base_run else \
            paired_bootstrap(con, base_run, best["run_id"], n_boot=n_boot, seed=seed)
        out["best"] = best
    return out


def _row(r: dict) -> dict:
    return {k: (None if isinstance(v, float) and v != v else (bool(v) if isinstance(v, np.bool_) else v))
            for k, v in r.items()}


def front_chart(df: pd.DataFrame, x: str = "cost_per_1k_usd", y: str = "quality") -> alt.Chart:
    """Every trial as a point (cost per 1k requests against quality by default); the front's points
    ringed in red, trials missing a constraint greyed; the baseline (trial 0) as a diamond.
    The title names the trials' modes (simulated, recorded, live)."""
    data = df.assign(params_text=[", ".join(f"{k}={v}" for k, v in p.items()) or "(baseline)" for p in df["params"]],
                     design=np.where(df["trial"] == 0, "baseline", "trial"),
                     status=np.where(df["feasible"], "meets constraints", "misses a constraint"))
    data = data.drop(columns=["params"])
    modes = ", ".join(sorted(set(df["mode"]))) or "no runs"
    base = alt.Chart(data).encode(
        x=alt.X(f"{x}:Q", title=x.replace("_", " ")), y=alt.Y(f"{y}:Q", title=y.replace("_", " "),
                                                              scale=alt.Scale(zero=False)))
    points = base.mark_point(size=80, filled=True).encode(
        color=alt.Color("status:N", scale=alt.Scale(domain=["meets constraints", "misses a constraint"],
                                                    range=["#1f77b4", "#bbbbbb"])),
        shape=alt.Shape("design:N", scale=alt.Scale(domain=["baseline", "trial"], range=["diamond", "circle"])),
        tooltip=["trial:Q", "run_id:N", "params_text:N", f"{x}:Q", f"{y}:Q", "error_rate:Q", "p95_latency_s:Q"])
    front = base.transform_filter(alt.datum.on_front).mark_point(size=260, filled=False, color="#d62728",
                                                                strokeWidth=2)
    return (front + points).properties(title=f"Sweep trials and Pareto front ({modes})", width=520, height=320)
