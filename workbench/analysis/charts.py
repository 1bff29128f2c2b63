"""Altair charts of a comparison: frontier, cost, latency, failures, quality, monthly projection.

Why charts take DataFrames and never a database: every figure is computed once, in
:mod:`workbench.analysis.compare` (the same frames the CLI, the app, the notebooks and the report use),
so a chart only draws; it aggregates no further than a picture needs (stacking, percentiles of the
latency samples, computed with the same linear interpolation as DuckDB's ``quantile_cont``).

Why every title ends with "(simulated)", "(recorded)", "(live)" or "(mixed: ...)": the honesty rule.
A reader must see where the data came from; when a chart mixes modes, each series is also labelled
with its own mode ("support-tiered [live]"), so the figures stay told apart, not just flagged.

Why charts are small specs with data inline: the report and the app work offline, so a spec never
refers to a URL or CDN (:func:`to_svg` renders with every external URL refused), and raw samples are
summarised first so that a 100,000-request run does not put 100,000 rows into a page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import altair as alt
import numpy as np
import pandas as pd

from workbench.registry import data_modes

__all__ = ["data_label", "frontier_chart", "cost_chart", "latency_chart", "failure_timeline_chart",
           "quality_chart", "projection_chart", "routing_curve_chart", "to_svg"]

_PURPOSES = ("answer", "route", "escalation", "judge")
#: Sub-millisecond latencies are drawn at 1 ms on a log scale (log 0 is undefined); the subtitle says so.
_LOG_FLOOR_S = 0.001
#: Bucket width assumed for a failure timeline with a single bucket and no width given (stated on the chart).
_DEFAULT_BUCKET_S = 60.0

_FRONTIER = ("run_id", "scenario", "mode", "cost_per_1k_usd", "quality", "dominated", "on_frontier")
_COSTS = ("run_id", "scenario", "mode", "target", "model", "purpose", "cost_usd", "attempts")
_LATENCY = ("run_id", "scenario", "mode", "latency_s", "status")
_TIMELINE = ("run_id", "scenario", "mode", "bucket_start_s", "target", "error_kind", "attempts")
_QUALITY = ("run_id", "scenario", "mode", "category", "requests", "quality")
_PROJECTION = ("scenario", "run_id", "mode", "month", "requests", "cost_usd", "savings_vs_baseline_usd",
               "over_budget")


def data_label(modes: Iterable[str]) -> str:
    """The provenance label of rows with these modes: simulated, recorded, live, or e.g. "mixed: simulated + live"."""
    if isinstance(modes, str):
        modes = [modes]
    known = data_modes()  # the registered provider kinds' modes, in label order, then "mixed"
    seen = set()
    for mode in modes:
        if mode is None or (not isinstance(mode, str) and pd.isna(mode)):
            raise ValueError("a row has no mode: cannot say whether its data is simulated, recorded or live")
        if mode not in known:
            raise ValueError(f"unknown data mode {mode!r} (expected one of {', '.join(known)})")
        seen.add(mode)
    if not seen:
        raise ValueError("no modes given: cannot label data that has no rows")
    ordered = [m for m in known if m in seen]
    return ordered[0] if len(ordered) == 1 else "mixed: " + " + ".join(ordered)


def _checked(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """The needed columns of ``frame`` plus a ``series`` label; a clear error when there is nothing to draw."""
    if frame is None or len(frame) == 0:
        raise ValueError(f"{what}: no rows to draw (the DataFrame is empty)")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {', '.join(missing)}")
    out = frame.loc[:, list(columns)].copy()
    data_label(out["mode"])  # fail early on a row whose origin is unknown
    label = out["scenario"].astype(str)
    if out["mode"].nunique() > 1:  # mixed modes: every series says its own
        label = label + " [" + out["mode"].astype(str) + "]"
    runs_per_label = out.groupby(label, sort=False)["run_id"].transform("nunique")
    out["series"] = label.where(runs_per_label <= 1, label + " (" + out["run_id"].astype(str) + ")")
    return out


def _order(values: pd.Series) -> list[str]:
    """Distinct values in order of first appearance (the comparison's order: baseline first)."""
    return [str(v) for v in pd.unique(values)]


def _printable(text: object) -> str:
    # A category comes from the user's traffic: a line or paragraph separator (U+2028/2029) in a
    # name Vega-Lite writes into a sort expression makes Vega reject the whole chart.
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def _title(text: str, frame: pd.DataFrame, subtitle: str | None = None) -> alt.TitleParams:
    full = f"{text} ({data_label(frame['mode'])})"
    return alt.TitleParams(full, subtitle=subtitle if subtitle else alt.Undefined, anchor="start")


def _series_colour(order: list[str], title: str = "scenario") -> alt.Color:
    return alt.Color("series:N", scale=alt.Scale(domain=order), sort=order, title=title)


def frontier_chart(points: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    """Cost per 1k requests against quality, frontier runs joined by a line, dominated ones greyed."""
    df = _checked(points, _FRONTIER, "frontier_chart")
    graded = df[df["quality"].notna()].copy()
    if graded.empty:
        raise ValueError("frontier_chart: no run has a quality score (a scenario without graders cannot be placed)")
    graded["on_frontier"] = graded["on_frontier"].eq(True)
    graded["position"] = np.where(graded["on_frontier"], "on frontier",
                                  np.where(graded["dominated"].eq(True), "dominated", "not compared"))
    graded = graded.sort_values(["cost_per_1k_usd", "quality"], kind="stable")
    palette = {"on frontier": "#2b6cb0", "dominated": "#a0aec0", "not compared": "#dd6b20"}
    present = [p for p in palette if p in set(graded["position"])]
    base = alt.Chart(graded).encode(
        x=alt.X("cost_per_1k_usd:Q", title="cost per 1k requests (USD)", axis=alt.Axis(format="$,.3~f")),
        y=alt.Y("quality:Q", title="quality (0-1)", scale=alt.Scale(zero=False)))
    line = base.transform_filter(alt.datum.on_frontier).mark_line(color=palette["on frontier"]).encode(
        order=alt.Order("cost_per_1k_usd:Q"))
    dots = base.mark_point(filled=True, size=110, opacity=1).encode(
        color=alt.Color("position:N", title=None,
                        scale=alt.Scale(domain=present, range=[palette[p] for p in present])),
        tooltip=[alt.Tooltip("scenario:N"), alt.Tooltip("mode:N", title="data"), alt.Tooltip("run_id:N", title="run"),
                 alt.Tooltip("cost_per_1k_usd:Q", title="cost per 1k (USD)", format="$,.4f"),
                 alt.Tooltip("quality:Q", format=".3f"), alt.Tooltip("position:N")])
    labels = base.mark_text(align="left", dx=8, dy=-8, fontSize=11).encode(text="series:N")
    note = "the line joins the runs no other run beats on both cost and quality"
    if len(graded) < len(df):
        note += f"; {len(df) - len(graded)} run(s) without a quality score left out"
    return alt.layer(line, dots, labels).properties(
        title=_title("Cost vs quality", df, note), width=520, height=320)


def cost_chart(costs: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    """Each scenario's cost as a horizontal bar stacked by target (shade: purpose), total at the end."""
    df = _checked(costs, _COSTS, "cost_chart")
    keys = ["series", "run_id", "scenario", "mode", "target", "purpose"]
    seg = df.groupby(keys, sort=False, dropna=False).agg(
        model=("model", lambda s: ", ".join(sorted({str(m) for m in s}))),
        cost_usd=("cost_usd", "sum"), attempts=("attempts", "sum")).reset_index()
    targets = sorted({str(t) for t in seg["target"]})
    purposes = [p for p in _PURPOSES if p in set(seg["purpose"])] + sorted(set(seg["purpose"]) - set(_PURPOSES))
    seg["stack_order"] = [targets.index(str(t)) * 10 + purposes.index(p) for t, p in
                         zip(seg["target"], seg["purpose"], strict=True)]
    order = _order(seg["series"])
    totals = seg.groupby("series", sort=False).agg(
        total_usd=("cost_usd", "sum"), bar_end=("cost_usd", lambda s: s.clip(lower=0).sum())).reset_index()
    y = alt.Y("series:N", sort=order, title=None)
    end = float(totals["bar_end"].max())
    room = alt.Scale(domainMax=end * 1.2) if end > 0 else alt.Scale()  # the total's label fits past the bar
    bars = alt.Chart(seg).mark_bar().encode(
        y=y, x=alt.X("cost_usd:Q", stack="zero", title="cost (USD)", scale=room, axis=alt.Axis(format="$,.4~f")),
        color=alt.Color("target:N", scale=alt.Scale(domain=targets), title="target"),
        opacity=alt.Opacity("purpose:N", scale=alt.Scale(domain=purposes, range=_shades(len(purposes))),
                            title="purpose"),
        detail="purpose:N", order=alt.Order("stack_order:Q"),
        tooltip=[alt.Tooltip("scenario:N"), alt.Tooltip("mode:N", title="data"), alt.Tooltip("target:N"),
                 alt.Tooltip("model:N"), alt.Tooltip("purpose:N"),
                 alt.Tooltip("cost_usd:Q", title="cost (USD)", format="$,.4f"), alt.Tooltip("attempts:Q")])
    total = alt.Chart(totals).mark_text(align="left", dx=5, fontWeight="bold").encode(
        y=y, x="bar_end:Q", text=alt.Text("total_usd:Q", format="$,.4f"),
        tooltip=[alt.Tooltip("series:N", title="scenario"), alt.Tooltip("total_usd:Q", title="total (USD)",
                                                                         format="$,.4f")])
    sub = "every provider call counts: failed, retried, fallback, routing and escalation calls included"
    return alt.layer(bars, total).properties(
        title=_title("Cost by target", df, sub), width=520, height=alt.Step(34))


def _shades(n: int) -> list[float]:
    return [round(1.0 - 0.65 * i / max(n - 1, 1), 3) for i in range(n)]


def _latency_stats(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (series, run_id, scenario, mode), g in df.groupby(["series", "run_id", "scenario", "mode"], sort=False):
        lat = g["latency_s"].to_numpy(dtype=float)
        p25, p50, p75, p95, p99 = np.quantile(lat, [0.25, 0.5, 0.75, 0.95, 0.99])  # linear, as quantile_cont
        rows.append({"series": series, "run_id": run_id, "scenario": scenario, "mode": mode,
                     "requests": len(lat), "failed": int((g["status"] == "failed").sum()),
                     "min_s": lat.min(), "p25_s": p25, "p50_s": p50, "p75_s": p75, "p95_s": p95,
                     "p99_s": p99, "max_s": lat.max()})
    return pd.DataFrame(rows)


def latency_chart(samples: pd.DataFrame, *, log_scale: bool = False) -> alt.LayerChart | alt.FacetChart:
    """Latency per scenario as a box (p25-p75, p50 tick, min-max whisker) with p95 and p99 marked."""
    # A box, not a density: the figures an architect compares are the percentiles the CLI prints, a
    # density's bandwidth would blur the heavy tail, and scenarios line up on one axis.
    df = _checked(samples, _LATENCY, "latency_chart")
    df = df[df["latency_s"].notna()]
    if df.empty:
        raise ValueError("latency_chart: no row has a latency")
    stats = _latency_stats(df)
    order = _order(stats["series"])
    sub = "requests answered or failed (rejected ones never ran); whisker min to max"
    if log_scale:
        cols = ["min_s", "p25_s", "p50_s", "p75_s", "p95_s", "p99_s", "max_s"]
        stats[cols] = stats[cols].clip(lower=_LOG_FLOOR_S)
        sub += "; log scale, values under 1 ms drawn at 1 ms"
    scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=True)
    y = alt.Y("series:N", sort=order, title=None)
    tip = [alt.Tooltip("scenario:N"), alt.Tooltip("mode:N", title="data"), alt.Tooltip("requests:Q"),
           alt.Tooltip("failed:Q")] + [alt.Tooltip(f"{c}:Q", title=c.replace("_s", " (s)"), format=".2f")
                                       for c in ("min_s", "p25_s", "p50_s", "p75_s", "p95_s", "p99_s", "max_s")]
    base = alt.Chart(stats).encode(y=y)
    whisker = base.mark_rule(color="#718096").encode(
        x=alt.X("min_s:Q", scale=scale, title="latency (s)"), x2="max_s:Q")
    box = base.mark_bar(size=16, color="#90cdf4").encode(x="p25_s:Q", x2="p75_s:Q", tooltip=tip)
    median = base.mark_tick(color="#1a365d", size=16, thickness=2).encode(x="p50_s:Q", tooltip=tip)
    tails = base.transform_fold(["p95_s", "p99_s"], as_=["percentile", "value_s"]).mark_point(
        filled=True, size=60, color="#c53030").encode(
        x="value_s:Q", shape=alt.Shape("percentile:N", title="tail",
                                       scale=alt.Scale(domain=["p95_s", "p99_s"], range=["triangle-up", "diamond"]),
                                       legend=alt.Legend(labelExpr="replace(datum.label, '_s', '')")),
        tooltip=tip)
    return alt.layer(whisker, box, median, tails).properties(
        title=_title("Latency per request", df, sub), width=520, height=alt.Step(34))


def _bucket_width(starts: pd.Series) -> float | None:
    """The largest width every bucket start is a multiple of (buckets start at ``k * width``); None for one."""
    ms = sorted({int(round(float(s) * 1000)) for s in starts})
    if len(ms) < 2:
        return None
    # Starts as well as steps: buckets with failures may be far apart, but each sits on the grid.
    return math.gcd(*ms, *(b - a for a, b in zip(ms, ms[1:], strict=False))) / 1000


def failure_timeline_chart(timeline: pd.DataFrame, *, bucket_s: float | None = None) -> alt.Chart:
    """Failed attempts over (virtual) time, one row per scenario, coloured by error kind.

    ``bucket_s`` defaults to ``timeline.attrs["bucket_s"]``, else is inferred from the bucket starts.
    """
    df = _checked(timeline, _TIMELINE, "failure_timeline_chart")
    df = df[df["attempts"] > 0]
    if df.empty:
        raise ValueError("failure_timeline_chart: no failed attempts to draw")
    bucket_s = timeline.attrs.get("bucket_s") if bucket_s is None else bucket_s
    how = ""
    if bucket_s is None:
        bucket_s = _bucket_width(df["bucket_start_s"])
        how = " (inferred from the data)" if bucket_s else " (assumed: one bucket, width unknown)"
    width = _DEFAULT_BUCKET_S if bucket_s is None else float(bucket_s)
    if not width > 0:
        raise ValueError(f"failure_timeline_chart: bucket_s must be positive, got {bucket_s!r}")
    df["error_kind"] = df["error_kind"].where(df["error_kind"].notna(), "unknown").astype(str)
    keys = ["series", "run_id", "scenario", "mode", "bucket_start_s", "error_kind"]
    by_target = df.groupby(keys + ["target"], sort=False, dropna=False)["attempts"].sum().reset_index()
    rows = []
    for key, g in by_target.groupby(keys, sort=False, dropna=False):
        rows.append(dict(zip(keys, key, strict=True), attempts=int(g["attempts"].sum()),
                         targets=", ".join(f"{t}: {n}" for t, n in zip(g["target"], g["attempts"], strict=True))))
    cells = pd.DataFrame(rows).sort_values(["bucket_start_s", "error_kind"], kind="stable")
    # Stacked here, not by Vega: a rect with x/x2 spans the whole bucket, so an outage reads as one block.
    cells["top"] = cells.groupby(["series", "bucket_start_s"])["attempts"].cumsum()
    cells["bottom"] = cells["top"] - cells["attempts"]
    cells["start_min"] = cells["bucket_start_s"] / 60
    cells["end_min"] = (cells["bucket_start_s"] + width) / 60
    order = _order(df["series"])
    sub = (f"{width:g} s buckets{how}; "
           "time from each run's start (virtual time for simulated and recorded runs)")
    return alt.Chart(cells).mark_rect(stroke="white", strokeWidth=0.3).encode(
        x=alt.X("start_min:Q", title="minutes from the run's start", scale=alt.Scale(zero=False)), x2="end_min:Q",
        y=alt.Y("top:Q", title="failed attempts"), y2="bottom:Q",
        color=alt.Color("error_kind:N", title="error kind", sort=sorted(set(cells["error_kind"])),
                        legend=alt.Legend(labelLimit=240)),
        row=alt.Row("series:N", sort=order, title=None,
                    header=alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold")),
        tooltip=[alt.Tooltip("scenario:N"), alt.Tooltip("mode:N", title="data"),
                 alt.Tooltip("start_min:Q", title="from minute", format=",.1f"),
                 alt.Tooltip("error_kind:N", title="error kind"), alt.Tooltip("attempts:Q"),
                 alt.Tooltip("targets:N", title="by target")],
    ).properties(title=_title("Failed attempts over time", df, sub), width=600, height=90)


def quality_chart(quality: pd.DataFrame) -> alt.Chart:
    """Quality per request category, one bar per scenario side by side."""
    df = _checked(quality, _QUALITY, "quality_chart")
    df = df[df["quality"].notna()]
    if df.empty:
        raise ValueError("quality_chart: no category has a quality score (no graders?)")
    df = df.assign(category=df["category"].map(_printable))
    order, categories = _order(df["series"]), _order(df["category"])
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("category:N", sort=categories, title="category", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("series:N", sort=order),
        y=alt.Y("quality:Q", scale=alt.Scale(domain=[0, 1]), title="quality (0-1)"),
        color=_series_colour(order),
        tooltip=[alt.Tooltip("scenario:N"), alt.Tooltip("mode:N", title="data"), alt.Tooltip("category:N"),
                 alt.Tooltip("requests:Q"), alt.Tooltip("quality:Q", format=".3f")],
    ).properties(title=_title("Quality by category", df), width=max(320, 24 * len(categories) * len(order)),
                 height=280)


def projection_chart(projection: pd.DataFrame,
                     budget_usd_per_month: float | None = None) -> alt.LayerChart | alt.FacetChart:
    """Projected cost per month for each scenario; a dashed rule at the monthly budget when given."""
    df = _checked(projection, _PROJECTION, "projection_chart")
    if budget_usd_per_month is not None:
        budget = float(budget_usd_per_month)
        if not (math.isfinite(budget) and budget > 0):
            raise ValueError("projection_chart: budget_usd_per_month must be a positive number, "
                             f"got {budget_usd_per_month!r}")
    df["over_budget"] = df["over_budget"].eq(True)
    df["budget_state"] = np.where(df["over_budget"], "over budget", "within budget")
    order = _order(df["series"])
    months = [int(df["month"].min()), int(df["month"].max())]
    base = alt.Chart(df).encode(
        x=alt.X("month:Q", title="month", scale=alt.Scale(domain=months),
                axis=alt.Axis(format="d", tickMinStep=1)),
        y=alt.Y("cost_usd:Q", title="cost per month (USD)", axis=alt.Axis(format="$,.2~f")),
        color=_series_colour(order))
    tip = [alt.Tooltip("scenario:N"), alt.Tooltip("mode:N", title="data"), alt.Tooltip("month:Q"),
           alt.Tooltip("requests:Q", format=",.0f"), alt.Tooltip("cost_usd:Q", title="cost (USD)", format="$,.2f"),
           alt.Tooltip("savings_vs_baseline_usd:Q", title="saved vs baseline (USD)", format="$,.2f"),
           alt.Tooltip("budget_state:N", title="budget")]
    dots = base.mark_point(filled=True, size=55).encode(tooltip=tip)
    if budget_usd_per_month is not None or df["over_budget"].any():
        dots = dots.encode(shape=alt.Shape("budget_state:N", title=None, scale=alt.Scale(
            domain=["within budget", "over budget"], range=["circle", "triangle-up"])))
    layers = [base.mark_line(), dots]
    if budget_usd_per_month is not None:
        line = alt.Chart(pd.DataFrame({"budget_usd": [budget]}))
        layers.append(line.mark_rule(strokeDash=[6, 4], color="#c53030", size=1.5).encode(y="budget_usd:Q"))
        layers.append(line.mark_text(align="left", dx=4, dy=-7, color="#c53030").encode(
            y="budget_usd:Q", x=alt.value(0), text=alt.value(f"budget ${budget:,.2f} / month")))
    sub = "from the runs' cost per request at the stated volume; a projection, not a measurement"
    return alt.layer(*layers).properties(title=_title("Monthly cost projection", df, sub), width=520, height=300)


def routing_curve_chart(curves: pd.DataFrame, oracle: dict | None = None, *,
                        title: str = "") -> alt.LayerChart | alt.FacetChart:
    """Quality against the share of strong calls, one line per router (``method``); the two models at
    the ends and the oracle as a point. ``curves`` has method, strong_share, quality, mode."""
    need = ("method", "strong_share", "quality", "mode")
    missing = [c for c in need if c not in curves.columns]
    if len(curves) == 0 or missing:
        raise ValueError(f"routing_curve_chart: nothing to draw (missing columns: {', '.join(missing) or 'none'})")
    df = curves.loc[:, list(need)].copy()
    order = _order(df["method"])
    colour = alt.Color("method:N", scale=alt.Scale(domain=order), sort=order, title="router")
    line = alt.Chart(df).mark_line().encode(
        x=alt.X("strong_share:Q", title="share of calls to the strong model", axis=alt.Axis(format="%")),
        y=alt.Y("quality:Q", title="quality (0-1)", scale=alt.Scale(zero=False)), color=colour,
        tooltip=[alt.Tooltip("method:N"), alt.Tooltip("strong_share:Q", format=".0%"),
                 alt.Tooltip("quality:Q", format=".3f")])
    layers = [line]
    if oracle is not None:
        pt = pd.DataFrame({"strong_share": [oracle["strong_share"]], "quality": [oracle["quality"]],
                           "label": ["oracle (the limit)"]})
        base = alt.Chart(pt).encode(x="strong_share:Q", y="quality:Q")
        layers += [base.mark_point(shape="diamond", size=90, filled=True, color="black"),
                   base.mark_text(align="left", dx=8, dy=-6).encode(text="label:N")]
    sub = "each point routes the highest-scored share of prompts to the strong model; scores out of sample"
    head = f"Quality vs strong calls{': ' + title if title else ''}"
    return alt.layer(*layers).properties(title=_title(head, df, sub), width=480, height=300)


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as an SVG string, rendered offline by vl-convert (external URLs are refused)."""
    import vl_convert  # only export needs it; the app and report embed specs

    major_minor = "v" + ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    version = major_minor if major_minor.lstrip("v") in vl_convert.get_vegalite_versions() else None
    return vl_convert.vegalite_to_svg(chart.to_json(), vl_version=version, allowed_base_urls=[])
