"""Charts: hand-made frames in compare's column contract, checked in the spec and in an offline SVG."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from workbench.analysis import charts

SIM = "simulated"


def _svg_text(svg: str) -> str:
    """All text drawn in an SVG (labels, titles, axis ticks), joined."""
    return " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))


def _layers(chart) -> list[dict]:
    spec = chart.to_dict()
    return spec["layer"] if "layer" in spec else [spec]


def _enc(layer: dict, channel: str) -> tuple[str, str]:
    e = layer["encoding"][channel]
    return e["field"], e["type"]


def _data(chart, layer_index: int = 0) -> list[dict]:
    spec = chart.to_dict()
    name = (spec["layer"][layer_index] if "layer" in spec else spec).get("data", spec.get("data"))["name"]
    return spec["datasets"][name]


def _offline(chart) -> None:
    spec = chart.to_dict()
    text = json.dumps({k: v for k, v in spec.items() if k != "$schema"})
    assert '"url"' not in text and "http" not in text  # data inline, no CDN; $schema is an id, never fetched
    assert spec["datasets"]


def frontier(modes=(SIM, SIM, SIM)) -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": ["r1", "r2", "r3"], "scenario": ["support-baseline", "support-tiered", "support-wasteful"],
        "mode": list(modes), "cost_per_1k_usd": [2.611, 0.836, 3.2], "quality": [0.897, 0.792, 0.85],
        "dominated": [False, False, True], "on_frontier": [True, True, False]})


def costs(modes=(SIM,) * 5) -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": ["r1", "r1", "r2", "r2", "r2"],
        "scenario": ["support-baseline", "support-baseline", "support-tiered", "support-tiered", "support-tiered"],
        "mode": list(modes), "target": ["large", "large", "small", "large", "small"],
        "model": ["gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-4o", "gpt-4o-mini"],
        "purpose": ["answer", "answer", "answer", "escalation", "route"],
        "cost_usd": [0.5, 0.4661, 0.2, 0.1, 0.0092], "attempts": [200, 170, 280, 60, 370]})


def latency(modes=None) -> pd.DataFrame:
    lat = [float(i) for i in range(1, 101)]
    df = pd.DataFrame({"run_id": ["r1"] * 100 + ["r2"] * 100,
                       "scenario": ["support-baseline"] * 100 + ["support-tiered"] * 100,
                       "mode": [SIM] * 200, "latency_s": lat + [x / 10 for x in lat],
                       "status": ["ok"] * 98 + ["failed"] * 2 + ["ok"] * 100})
    if modes:
        df["mode"] = [modes[0]] * 100 + [modes[1]] * 100
    return df


def timeline(modes=(SIM,) * 5) -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": ["r1", "r1", "r1", "r1", "r2"],
        "scenario": ["support-baseline"] * 4 + ["support-tiered"],
        "mode": list(modes), "bucket_start_s": [29400.0, 29460.0, 29460.0, 29520.0, 29460.0],
        "target": ["large", "large", "large", "large", "small"],
        "error_kind": ["server_error", "server_error", "timeout", "server_error", "rate_limit"],
        "attempts": [12, 10, 3, 8, 2]})


def quality(modes=(SIM,) * 4) -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": ["r1", "r1", "r2", "r2"], "scenario": ["support-baseline"] * 2 + ["support-tiered"] * 2,
        "mode": list(modes), "category": ["billing", "technical"] * 2,
        "requests": [200, 170, 200, 170], "quality": [0.91, 0.88, 0.83, 0.74]})


def projection(modes=(SIM, SIM)) -> pd.DataFrame:
    rows = []
    for rid, name, mode, per_month in [("r1", "support-baseline", modes[0], 800.0), ("r2", "support-tiered", modes[1], 250.0)]:
        for month in range(1, 13):
            cost = per_month * (1.1 ** (month - 1))
            rows.append({"scenario": name, "run_id": rid, "mode": mode, "month": month, "requests": 300_000,
                         "cost_usd": cost, "savings_vs_baseline_usd": 800.0 * 1.1 ** (month - 1) - cost,
                         "over_budget": cost > 1000})
    return pd.DataFrame(rows)


ALL = [(charts.frontier_chart, frontier), (charts.cost_chart, costs), (charts.latency_chart, latency),
       (charts.failure_timeline_chart, timeline), (charts.quality_chart, quality),
       (charts.projection_chart, projection)]


@pytest.mark.parametrize(("modes", "label"), [
    ([SIM, SIM], "simulated"), (["recorded"], "recorded"), (("live",), "live"),
    (["live", SIM, "live"], "mixed: simulated + live"), (["recorded", "live", SIM], "mixed: simulated + recorded + live"),
    (pd.Series(["mixed"]), "mixed"), ("recorded", "recorded")])
def test_data_label(modes, label):
    assert charts.data_label(modes) == label


@pytest.mark.parametrize("modes", [[], [SIM, None], [SIM, float("nan")], ["replayed"]])
def test_data_label_refuses_what_it_cannot_name(modes):
    with pytest.raises(ValueError, match="mode"):
        charts.data_label(modes)


@pytest.mark.parametrize(("draw", "make"), ALL)
def test_title_says_simulated_and_renders_offline(draw, make):
    chart = draw(make())
    title = chart.to_dict()["title"]["text"]
    assert title.endswith("(simulated)")
    _offline(chart)
    svg = charts.to_svg(chart)
    assert svg.startswith("<svg")
    drawn = _svg_text(svg)
    assert title in drawn
    assert "support-tiered" in drawn


@pytest.mark.parametrize(("draw", "make"), ALL)
def test_empty_frame_is_a_clear_error(draw, make):
    with pytest.raises(ValueError, match=rf"{draw.__name__}: no rows to draw"):
        draw(make().iloc[0:0])


@pytest.mark.parametrize(("draw", "make"), ALL)
def test_missing_column_is_named(draw, make):
    with pytest.raises(ValueError, match=rf"{draw.__name__}: missing columns mode"):
        draw(make().drop(columns="mode"))


def test_mixed_modes_label_the_title_and_every_series():
    chart = charts.frontier_chart(frontier(modes=(SIM, "live", SIM)))
    assert chart.to_dict()["title"]["text"] == "Cost vs quality (mixed: simulated + live)"
    assert [r["series"] for r in _data(chart)] == [
        "support-tiered [live]", "support-baseline [simulated]", "support-wasteful [simulated]"]
    drawn = _svg_text(charts.to_svg(chart))
    assert "support-tiered [live]" in drawn and "(mixed: simulated + live)" in drawn


@pytest.mark.parametrize(("draw", "make", "n"), [(charts.cost_chart, costs, 5), (charts.latency_chart, latency, 2),
                                                 (charts.failure_timeline_chart, timeline, 5),
                                                 (charts.quality_chart, quality, 4),
                                                 (charts.projection_chart, projection, 2)])
def test_mixed_label_on_every_chart(draw, make, n):
    modes = (["live"] + [SIM] * (n - 1)) if n != 2 else ["live", SIM]
    if make is projection:
        modes = ("recorded", SIM)
    chart = draw(make(modes=modes))
    assert re.search(r"\(mixed: simulated \+ (live|recorded)\)$", chart.to_dict()["title"]["text"])


def test_same_scenario_in_two_runs_is_told_apart_by_run():
    df = frontier()
    df.loc[1, "scenario"] = "support-baseline"
    labels = {r["series"] for r in _data(charts.frontier_chart(df))}
    assert labels == {"support-baseline (r1)", "support-baseline (r2)", "support-wasteful"}


def test_frontier_encodings_and_line_through_frontier_by_cost():
    chart = charts.frontier_chart(frontier())
    line, dots, text = _layers(chart)
    assert line["mark"]["type"] == "line"
    assert line["transform"] == [{"filter": "datum.on_frontier"}]
    assert _enc(line, "order") == ("cost_per_1k_usd", "quantitative")
    assert _enc(dots, "x") == ("cost_per_1k_usd", "quantitative")
    assert _enc(dots, "y") == ("quality", "quantitative")
    assert _enc(dots, "color") == ("position", "nominal")
    assert dots["encoding"]["color"]["scale"]["domain"] == ["on frontier", "dominated"]
    assert {t["field"] for t in dots["encoding"]["tooltip"]} >= {"scenario", "mode", "cost_per_1k_usd", "quality"}
    assert _enc(text, "text") == ("series", "nominal")
    rows = _data(chart)
    assert [r["cost_per_1k_usd"] for r in rows] == [0.836, 2.611, 3.2]
    assert [r["position"] for r in rows] == ["on frontier", "on frontier", "dominated"]


def test_frontier_leaves_out_ungraded_runs_and_says_so():
    df = frontier()
    df.loc[2, "quality"] = None
    chart = charts.frontier_chart(df)
    assert len(_data(chart)) == 2
    assert "1 run(s) without a quality score left out" in chart.to_dict()["title"]["subtitle"]
    df["quality"] = None
    with pytest.raises(ValueError, match="no run has a quality score"):
        charts.frontier_chart(df)


def test_cost_bars_stack_by_target_with_purpose_and_total():
    chart = charts.cost_chart(costs())
    bars, total = _layers(chart)
    assert bars["mark"]["type"] == "bar"
    assert _enc(bars, "y") == ("series", "nominal")
    assert bars["encoding"]["y"]["sort"] == ["support-baseline", "support-tiered"]
    assert _enc(bars, "x") == ("cost_usd", "quantitative") and bars["encoding"]["x"]["stack"] == "zero"
    assert _enc(bars, "color") == ("target", "nominal")
    assert _enc(bars, "detail") == ("purpose", "nominal")
    assert _enc(bars, "opacity") == ("purpose", "nominal")
    assert bars["encoding"]["opacity"]["scale"]["domain"] == ["answer", "route", "escalation"]
    assert {t["field"] for t in bars["encoding"]["tooltip"]} >= {"purpose", "model", "target", "cost_usd", "attempts"}
    segments = {(r["series"], r["target"], r["purpose"]): r["cost_usd"] for r in _data(chart, 0)}
    assert segments[("support-baseline", "large", "answer")] == pytest.approx(0.9661)
    assert len(segments) == 4
    totals = {r["series"]: r["total_usd"] for r in _data(chart, 1)}
    assert totals == pytest.approx({"support-baseline": 0.9661, "support-tiered": 0.3092})
    assert total["encoding"]["text"]["field"] == "total_usd"
    assert bars["encoding"]["x"]["scale"]["domainMax"] == pytest.approx(0.9661 * 1.2)  # room for the label
    drawn = _svg_text(charts.to_svg(chart))
    assert "$0.9661" in drawn and "$0.3092" in drawn


def test_latency_box_uses_percentiles_like_duckdb():
    chart = charts.latency_chart(latency())
    whisker, box, median, tails = _layers(chart)
    assert (box["mark"]["type"], median["mark"]["type"], whisker["mark"]["type"]) == ("bar", "tick", "rule")
    assert _enc(box, "x") == ("p25_s", "quantitative") and box["encoding"]["x2"]["field"] == "p75_s"
    assert _enc(median, "x") == ("p50_s", "quantitative")
    assert _enc(box, "y") == ("series", "nominal")
    assert tails["transform"][0]["fold"] == ["p95_s", "p99_s"]
    assert _enc(tails, "shape") == ("percentile", "nominal")
    assert "type" not in whisker["encoding"]["x"].get("scale", {})
    base = _data(chart)[0]
    assert (base["requests"], base["failed"]) == (100, 2)
    s = pd.Series(range(1, 101), dtype=float)
    for q in (0.25, 0.5, 0.75, 0.95, 0.99):
        assert base[f"p{int(q * 100)}_s"] == pytest.approx(s.quantile(q))
    assert len(_data(chart)) == 2  # summarised: two rows, not two hundred samples


def test_latency_log_scale_floors_zero_and_says_so():
    df = latency()
    df.loc[0, "latency_s"] = 0.0
    chart = charts.latency_chart(df, log_scale=True)
    assert _layers(chart)[0]["encoding"]["x"]["scale"] == {"type": "log"}
    assert _data(chart)[0]["min_s"] == 0.001
    assert "log scale, values under 1 ms drawn at 1 ms" in chart.to_dict()["title"]["subtitle"]
    assert charts.to_svg(chart).startswith("<svg")


def test_failure_timeline_blocks_by_minute_per_scenario():
    chart = charts.failure_timeline_chart(timeline())
    spec = chart.to_dict()
    enc = spec["encoding"]
    assert spec["mark"]["type"] == "rect"
    assert (enc["x"]["field"], enc["x2"]["field"]) == ("start_min", "end_min")
    assert enc["x"]["title"] == "minutes from the run's start"
    assert enc["x"]["scale"] == {"zero": False}  # a 15-minute outage in hour 8 is a block, not a sliver
    assert (enc["y"]["field"], enc["y2"]["field"]) == ("top", "bottom")
    assert (enc["color"]["field"], enc["row"]["field"]) == ("error_kind", "series")
    assert "60 s buckets (inferred from the data)" in spec["title"]["subtitle"]
    cells = {(r["series"], r["start_min"], r["error_kind"]): r for r in _data(chart)}
    outage = cells[("support-baseline", 491.0, "server_error")]
    assert (outage["end_min"], outage["bottom"], outage["top"]) == (492.0, 0, 10)
    stacked = cells[("support-baseline", 491.0, "timeout")]
    assert (stacked["bottom"], stacked["top"]) == (10, 13)
    assert cells[("support-tiered", 491.0, "rate_limit")]["targets"] == "small: 2"
    drawn = _svg_text(charts.to_svg(chart))
    assert "support-baseline" in drawn and "server_error" in drawn


@pytest.mark.parametrize(("starts", "width"), [([29400, 29460], 60), ([29400, 29580], 60), ([1800, 5400], 1800),
                                               ([0.0, 0.5, 2.5], 0.5)])
def test_failure_timeline_infers_the_bucket_grid(starts, width):
    df = pd.DataFrame({"run_id": "r1", "scenario": "s", "mode": SIM, "bucket_start_s": starts, "target": "t",
                       "error_kind": "timeout", "attempts": 1})
    rows = _data(charts.failure_timeline_chart(df))
    assert {round((r["end_min"] - r["start_min"]) * 60, 6) for r in rows} == {width}


def test_failure_timeline_bucket_width_given_and_no_failures():
    chart = charts.failure_timeline_chart(timeline().iloc[:1], bucket_s=300)
    row = _data(chart)[0]
    assert (row["start_min"], row["end_min"]) == (490.0, 495.0)
    assert chart.to_dict()["title"]["subtitle"].startswith("300 s buckets;")
    one = charts.failure_timeline_chart(timeline().iloc[:1])
    assert one.to_dict()["title"]["subtitle"].startswith("60 s buckets (assumed: one bucket, width unknown);")
    told = timeline().iloc[:1]
    told.attrs["bucket_s"] = 900
    assert (_data(charts.failure_timeline_chart(told))[0]["end_min"]) == 505.0
    with pytest.raises(ValueError, match="bucket_s must be positive"):
        charts.failure_timeline_chart(timeline(), bucket_s=0)
    with pytest.raises(ValueError, match="no failed attempts"):
        charts.failure_timeline_chart(timeline().assign(attempts=0))


def test_quality_grouped_bars():
    chart = charts.quality_chart(quality())
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "bar"
    assert _enc(spec, "x") == ("category", "nominal")
    assert _enc(spec, "xOffset") == ("series", "nominal")
    assert _enc(spec, "y") == ("quality", "quantitative")
    assert spec["encoding"]["y"]["scale"]["domain"] == [0, 1]
    assert spec["encoding"]["color"]["scale"]["domain"] == ["support-baseline", "support-tiered"]
    assert "billing" in _svg_text(charts.to_svg(chart))


def test_projection_budget_rule_only_when_given():
    without = charts.projection_chart(projection())
    assert [layer["mark"]["type"] for layer in _layers(without)] == ["line", "point"]
    assert "shape" in _layers(without)[1]["encoding"]  # some months are over budget in the data
    line = _layers(without)[0]
    assert _enc(line, "x") == ("month", "quantitative") and _enc(line, "y") == ("cost_usd", "quantitative")
    assert _enc(line, "color") == ("series", "nominal")

    within = projection().assign(over_budget=False)
    assert "shape" not in _layers(charts.projection_chart(within))[1]["encoding"]

    chart = charts.projection_chart(projection(), budget_usd_per_month=1000)
    layers = _layers(chart)
    assert [layer["mark"]["type"] for layer in layers] == ["line", "point", "rule", "text"]
    assert layers[2]["mark"]["strokeDash"] == [6, 4]
    assert _enc(layers[2], "y") == ("budget_usd", "quantitative")
    assert _data(chart, 2) == [{"budget_usd": 1000.0}]
    drawn = _svg_text(charts.to_svg(chart))
    assert "budget $1,000.00 / month" in drawn
    assert "budget" not in _svg_text(charts.to_svg(charts.projection_chart(within)))


@pytest.mark.parametrize("budget", [0, -5, float("nan"), float("inf")])
def test_projection_refuses_a_meaningless_budget(budget):
    with pytest.raises(ValueError, match="budget_usd_per_month must be a positive number"):
        charts.projection_chart(projection(), budget_usd_per_month=budget)


def test_to_svg_refuses_external_data():
    import altair as alt

    chart = alt.Chart(alt.UrlData("https://example.com/data.csv")).mark_point().encode(x="a:Q")
    with pytest.raises(ValueError, match="not allowed"):
        charts.to_svg(chart)


def test_routing_curve_chart_draws_both_routers_and_the_oracle_labelled_recorded():
    x = [0.0, 0.5, 1.0]
    curves = pd.DataFrame({"method": ["learned"] * 3 + ["random"] * 3, "strong_share": x * 2,
                           "quality": [0.64, 0.77, 0.857, 0.64, 0.748, 0.857], "mode": "recorded"})
    chart = charts.routing_curve_chart(curves, {"strong_share": 0.29, "quality": 0.929}, title="gsm8k")
    spec = chart.to_dict()
    assert spec["title"]["text"] == "Quality vs strong calls: gsm8k (recorded)"
    svg = charts.to_svg(chart)
    assert svg.count("<path") >= 2 and "oracle (the limit)" in svg and "learned" in svg
    with pytest.raises(ValueError, match="missing columns: mode"):
        charts.routing_curve_chart(curves.drop(columns="mode"))
