"""Where the money goes: a run's cost split by what it paid for, and what its tiers saved.

Why one SQL over ``attempts`` (and not counters in the engine): every attempt row stores its cost and,
since migration 014, the parts litellm's cost function gave it (:mod:`workbench.pricing`), so the split
is a sum a user can recompute, the same for a fresh run, a resumed one or an imported trace. The keys,
summing to the run's ``cost_usd`` (up to float rounding):

* ``humans``: the price of human answers (attempts by a human node);
* ``routing`` / ``judging``: model calls made to decide a route (``purpose = 'route'``) or to grade an
  answer with an LLM judge (``purpose = 'judge'``), whatever their tokens;
* ``tools``: calls a route makes around the model (``purpose`` ``retrieval``, ``tool`` or ``lookup``);
* ``input``, ``cached_input``, ``cache_write``, ``output``, ``reasoning``: the token parts of every other
  model call (answers, escalations). A run traced before migration 014 has no parts: its model calls'
  cost shows as ``input`` (the table cannot say more).

``batch_savings_usd`` is what the batch tier's calls would have cost at the standard tier minus what
they cost (litellm's standard price of the same tokens, stored per attempt as ``standard_cost_usd``).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import altair as alt
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

__all__ = ["BREAKDOWN_KEYS", "TOOL_PURPOSES", "cost_breakdown_usd", "breakdown_frame", "breakdown_chart",
           "projected_breakdown", "breakdown_table_html"]

#: The keys of ``cost_breakdown_usd``, in the order a chart stacks them.
BREAKDOWN_KEYS = ("input", "cached_input", "cache_write", "output", "reasoning", "tools", "humans", "routing",
                  "judging")
#: Attempt purposes of the steps a route runs around the model call.
TOOL_PURPOSES = ("retrieval", "tool", "lookup")

_TOOLS = "(" + ", ".join(f"'{p}'" for p in TOOL_PURPOSES) + ")"
_MODEL = f"provider <> 'human' AND purpose NOT IN ('route', 'judge', {_TOOLS[1:-1]})"
_PARTS = "cost_input_usd + cost_cached_input_usd + cost_cache_write_usd + cost_output_usd + cost_reasoning_usd"
_SQL = f"""
SELECT
  coalesce(sum(cost_input_usd + CASE WHEN {_PARTS} = 0 THEN cost_usd ELSE 0 END) FILTER (WHERE {_MODEL}), 0),
  coalesce(sum(cost_cached_input_usd) FILTER (WHERE {_MODEL}), 0),
  coalesce(sum(cost_cache_write_usd) FILTER (WHERE {_MODEL}), 0),
  coalesce(sum(cost_output_usd) FILTER (WHERE {_MODEL}), 0),
  coalesce(sum(cost_reasoning_usd) FILTER (WHERE {_MODEL}), 0),
  coalesce(sum(cost_usd) FILTER (WHERE provider <> 'human' AND purpose IN {_TOOLS}), 0),
  coalesce(sum(cost_usd) FILTER (WHERE provider = 'human'), 0),
  coalesce(sum(cost_usd) FILTER (WHERE provider <> 'human' AND purpose = 'route'), 0),
  coalesce(sum(cost_usd) FILTER (WHERE provider <> 'human' AND purpose = 'judge'), 0),
  coalesce(sum(standard_cost_usd - cost_usd) FILTER (WHERE tier = 'batch'), 0)
FROM attempts WHERE run_id = ?
"""


def cost_breakdown_usd(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[dict[str, float], float]:
    """``(cost_breakdown_usd, batch_savings_usd)`` of one run (see the module docstring)."""
    row = con.execute(_SQL, [run_id]).fetchone() or (0.0,) * 10
    return dict(zip(BREAKDOWN_KEYS, (float(v) for v in row[:9]), strict=True)), float(row[9])


def breakdown_frame(summaries: list[dict]) -> pd.DataFrame:
    """One row per (run, part) with its USD, share of the run's cost and the run's mode: the table and chart's data."""
    rows = []
    for s in summaries:
        total = s["cost_usd"] or 0.0
        for key in BREAKDOWN_KEYS:
            usd = s["cost_breakdown_usd"][key]
            rows.append({"run_id": s["run_id"], "scenario": s["scenario"], "mode": s["mode"], "part": key,
                         "cost_usd": usd, "share": usd / total if total else 0.0})
    return pd.DataFrame(rows, columns=["run_id", "scenario", "mode", "part", "cost_usd", "share"])


def breakdown_chart(frame: pd.DataFrame) -> alt.Chart:
    """A stacked bar per design: where its money went, titled with where the figures come from."""
    from workbench.analysis.charts import data_label

    order = list(BREAKDOWN_KEYS)
    shown = frame[frame.cost_usd > 0].assign(order=lambda f: f.part.map(order.index))
    return alt.Chart(shown, title=f"Where the money goes ({data_label(frame['mode'])})").mark_bar().encode(
        x=alt.X("cost_usd:Q", title="cost (USD)", stack="zero"),
        y=alt.Y("scenario:N", title=None, sort=list(dict.fromkeys(frame.scenario))),
        color=alt.Color("part:N", sort=order, title="paid for"),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip("scenario:N"), alt.Tooltip("mode:N", title="data"), alt.Tooltip("part:N"),
                 alt.Tooltip("cost_usd:Q", format="$,.4f"), alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=560, height=max(60, 36 * frame.scenario.nunique()))


def projected_breakdown(projection: pd.DataFrame, summaries: list[dict], month: int = 1) -> pd.DataFrame:
    """Month ``month`` of a monthly projection split by part in each run's proportions (USD a month)."""
    first = projection[projection.month == month].set_index("run_id")
    frame = breakdown_frame(summaries)
    frame["cost_usd"] = frame.share * frame.run_id.map(first.cost_usd)
    return frame.rename(columns={"cost_usd": "usd_per_month"})


def breakdown_table_html(summaries: list[dict], projection: pd.DataFrame | None = None) -> str:
    """An HTML table of each design's cost by part (USD in the run; per month in the projection's month 1)."""
    from workbench.analysis.charts import data_label

    head = "".join(f"<th>{k.replace('_', ' ')}</th>" for k in BREAKDOWN_KEYS)
    rows = []
    month = projected_breakdown(projection, summaries) if projection is not None else None
    for s in summaries:
        cells = "".join(f"<td>${s['cost_breakdown_usd'][k]:,.4f}</td>" for k in BREAKDOWN_KEYS)
        rows.append(f"<tr><td>{html.escape(s['scenario'])} ({html.escape(data_label(s['mode']))})</td>{cells}"
                    f"<td>${s['cost_usd']:,.4f}</td><td>${s['batch_savings_usd']:,.4f}</td></tr>")
        if month is not None:
            mine = month[month.run_id == s["run_id"]].set_index("part").usd_per_month
            cells = "".join(f"<td>${mine[k]:,.2f}</td>" for k in BREAKDOWN_KEYS)
            rows.append(f"<tr class=month><td>&nbsp;&nbsp;a month (projected)</td>{cells}"
                        f"<td>${mine.sum():,.2f}</td><td></td></tr>")
    return (f"<table class=money><tr><th>design</th>{head}<th>total</th><th>batch savings</th></tr>"
            f"{''.join(rows)}</table>")
