"""A rollout's read-outs: the JSON keys of ``workbench rollout --json`` and the timeline chart.

Why from the store alone: the CLI, the report, Compare and the app's Rollout view must tell the same
story about a stored rollout, so each reads the run's ``requests.arm``, ``rollout_stages`` and
``alerts`` through :mod:`workbench.store.rollouts` and derives every figure here, once.

``exposed_requests`` counts the requests the candidate served that arrived at or after its regression
began: the plan's ``regression_start_s`` (stored with each stage decision), 0 when the plan does not
say (then every candidate request counts).

The timeline chart stacks three panels over virtual time: the share of requests per arm, each guarded
metric per arm, and the stage decisions (promote, hold, rollback, complete) and alarms as rules. Its
title says where the data came from (simulated, recorded), as every chart's does.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import duckdb
import pandas as pd

from workbench.analysis.charts import data_label
from workbench.store import rollouts

__all__ = ["rollout_readout", "timeline_chart", "stage_table", "is_rollout"]

is_rollout = rollouts.is_rollout
_DECISION_COLOURS = {"promote": "#2ca02c", "hold": "#ff7f0e", "rollback": "#d62728", "complete": "#1f77b4",
                     "ended": "#7f7f7f", "alarm": "#9467bd"}
_METRICS = [("quality", "quality"), ("error_rate", "error rate"), ("p95_latency_s", "p95 latency (s)"),
            ("cost_per_1k", "cost per 1k (USD)")]


def rollout_readout(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    """stages, rolled_back, rolled_back_at_s, candidate_requests, exposed_requests and alerts of a run."""
    st = rollouts.stages(con, run_id)
    back = next((s for s in st if s["decision"] == "rollback"), None)
    start = st[0]["evidence"].get("regression_start_s", 0.0) if st else 0.0
    row = con.execute("SELECT count(*) FILTER (WHERE arm = 'candidate'), "
                      "count(*) FILTER (WHERE arm = 'candidate' AND arrival_s >= ?) FROM requests WHERE run_id = ?",
                      [start, run_id]).fetchone()
    cand, exposed = row if row else (0, 0)
    return {"stages": st, "rolled_back": back is not None, "rolled_back_at_s": back["ended_at_s"] if back else None,
            "candidate_requests": int(cand), "exposed_requests": int(exposed),
            "alerts": rollouts.alerts(con, run_id)}


def stage_table(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """One row per stage decision: stage, share, window, decision, and each guardrail's verdict and p."""
    rows = []
    for s in rollouts.stages(con, run_id):
        row = {"stage": s["stage"] + 1, "share": s["share"], "from_s": s["started_at_s"], "to_s": s["ended_at_s"],
               "decision": s["decision"]}
        for metric, g in s["evidence"].get("guardrails", {}).items():
            row[metric] = f"{g['verdict']} (p={g['p_value']:.3g}, n={g['n_candidate']})"
        rows.append(row)
    return pd.DataFrame(rows)


def _mode(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    row = con.execute("SELECT mode FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return row[0] if row else "?"


def timeline_chart(con: duckdb.DuckDBPyConnection, run_id: str, buckets: int = 60) -> alt.VConcatChart:
    """Share per arm, the guarded metrics per arm, and stage decisions and alarms, over virtual time."""
    label = data_label([_mode(con, run_id)])
    tl = rollouts.arm_timeline(con, run_id, buckets)
    events = pd.DataFrame([{"t_s": s["ended_at_s"], "event": s["decision"], "detail": f"stage {s['stage'] + 1} "
                            f"at {s['share']:.0%}: {s['decision']}"} for s in rollouts.stages(con, run_id)]
                          + [{"t_s": a.get("at_s"), "event": "alarm", "detail": str(a.get("message", ""))}
                             for a in rollouts.alerts(con, run_id)], columns=["t_s", "event", "detail"])
    end = max([float(tl["t_s"].max() + tl["width_s"].max())] if len(tl) else [1.0])
    end = max([end, *(float(t) for t in events["t_s"].dropna())])
    x = alt.X("t_s:Q", title="virtual time (s)", scale=alt.Scale(domain=[0, end], nice=False))
    arm = alt.Color("arm:N", title="arm", scale=alt.Scale(domain=["baseline", "candidate"],
                                                           range=["#4c78a8", "#e45756"]))
    share = alt.Chart(tl).mark_area().encode(
        x=x, y=alt.Y("share:Q", stack="normalize", title="share of requests", axis=alt.Axis(format="%")),
        color=arm, tooltip=["t_s", "arm", "requests", alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=640, height=120, title=alt.TitleParams(f"Rollout: traffic per arm ({label})",
                                                              subtitle=f"run {run_id}"))
    long = tl.melt(id_vars=["t_s", "arm"], value_vars=[m for m, _ in _METRICS], var_name="metric").dropna()
    long["metric"] = long["metric"].map(dict(_METRICS))
    metrics = alt.Chart(long).mark_line(point=True).encode(
        x=x, y=alt.Y("value:Q", title=None), color=arm, tooltip=["t_s", "arm", "metric", "value"],
    ).properties(width=640, height=90).facet(
        row=alt.Row("metric:N", title="guarded metrics (per time bucket)")).resolve_scale(y="independent")
    colours = alt.Color("event:N", title="decision / alarm", scale=alt.Scale(
        domain=list(_DECISION_COLOURS), range=list(_DECISION_COLOURS.values())))
    rules = alt.Chart(events).mark_rule(strokeWidth=2).encode(x=x, color=colours, tooltip=["t_s", "detail"]).properties(
        width=640, height=40, title="stage decisions and alarms")
    return alt.vconcat(share, metrics, rules).resolve_scale(color="independent")
