"""The Compare page's logic without a browser: the table's cells are compare_runs' figures; charts and
projection come from the store; runs that cannot be compared give a message, not a crash."""

from __future__ import annotations

import re

import pytest
from conftest import SCENARIOS
from helpers import run, small_wins_scenario

from workbench.analysis.compare import compare_runs, monthly_projection
from workbench.analysis.fleet import no_routing_needed
from workbench.analysis.summary import run_summary
from workbench.app.compare import CompareView, no_routing_html, table_html
from workbench.app.safe import esc
from workbench.app.state import AppState
from workbench.store import TraceStore


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """baseline and tiered over the same 50 requests, and tiered again with another seed."""
    db = tmp_path_factory.mktemp("compare") / "t.duckdb"
    base, _ = run(SCENARIOS / "support-baseline.yaml", db, requests=50)
    tiered, _ = run(SCENARIOS / "support-tiered.yaml", db, requests=50)
    other, _ = run(SCENARIOS / "support-tiered.yaml", db, requests=50, seed=1)
    return db, base, tiered, other


def cells(html: str, run_id: str) -> dict[str, str]:
    row = re.search(rf"<tr data-run='{run_id}'>(.*?)</tr>", html).group(1)
    return dict(re.findall(r"<td data-col='([a-z0-9_]+)'>([^<]*)</td>", row))


def test_table_cells_are_compare_runs_figures(runs):
    db, base, tiered, _ = runs
    with TraceStore(db) as st:
        table = compare_runs(st.con, [base, tiered])
    html = table_html(table)
    b, t = cells(html, base), cells(html, tiered)
    row = table.set_index("run_id").loc[tiered]
    assert b["d_cost_per_1k_usd"] == "-" and b["requests"] == t["requests"] == "50"
    assert t["cost_usd"] == f"${row.cost_usd:,.4f}" and t["quality"] == f"{row.quality:.3f}"
    assert t["d_quality"] == f"{row.d_quality:+.3f} [{row.d_quality_lo:+.3f}, {row.d_quality_hi:+.3f}]"
    assert t["d_cost_per_1k_usd"].startswith(f"{row.d_cost_per_1k_usd:+.3f} [")
    assert t["error_rate"] == f"{row.error_rate:.2%}" and b["strong_share"] == "100.0%"
    assert html.count("class='wb-mode'") == 2 and ">simulated<" in html


def test_view_draws_charts_and_projects(runs):
    db, base, tiered, _ = runs
    view = CompareView(AppState(db=str(db), scenarios_dir=str(SCENARIOS)))
    view.refresh()
    assert {base, tiered} <= set(view.pick.options.values())
    view.pick.value = [base, tiered]
    assert view.msg.pane.visible is False, view.msg.pane.object
    names = [p.css_classes[0] for p in view.charts.objects]
    assert names == ["wb-chart-frontier", "wb-chart-cost", "wb-chart-latency", "wb-chart-failures", "wb-chart-quality"]
    assert all("(simulated)" in str(p.object.to_dict()["title"]) for p in view.charts.objects)
    view.volume.value = 50_000
    with TraceStore(db) as st:
        summaries = [run_summary(st.con, r) for r in (base, tiered)]
    month1 = monthly_projection(summaries, requests_per_day=50_000).query("month == 1").cost_usd.tolist()
    text = view.projection_text.object
    assert f"${month1[0]:,.2f} in month 1 (baseline)" in text and f"${month1[1]:,.2f} in month 1" in text
    assert "saves $" in text  # tiered is cheaper than the baseline (the report download: tests/app/test_shell.py)
    assert "wb-no-routing" not in view.table.object  # tiered is cheaper but worse: routing trades


def test_view_says_no_routing_needed_when_one_model_beats_every_design(tmp_path):
    db = tmp_path / "t.duckdb"
    mini, _ = run(small_wins_scenario(tmp_path, "mini"), db, requests=60)
    w50, _ = run(small_wins_scenario(tmp_path, "w50"), db, requests=60)
    view = CompareView(AppState(db=str(db), scenarios_dir=str(SCENARIOS)))
    view.refresh()
    view.pick.value = [w50, mini]
    with TraceStore(db) as st:
        verdict = no_routing_needed(st.con, compare_runs(st.con, [w50, mini]))
    assert verdict["run"] == mini and view.msg.pane.visible is False
    assert no_routing_html(verdict) in view.table.object
    assert str(esc(verdict["reason"])) in view.table.object and "(quality is simulated)" in verdict["reason"]


def test_no_routing_sentence_is_escaped():
    shown = no_routing_html({"reason": "no routing needed: <img src=x onerror=alert(1)> (all to m)"})
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;" in shown
    assert no_routing_html(None) == ""


def test_runs_over_other_traffic_give_a_message(runs):
    db, base, _, other = runs
    view = CompareView(AppState(db=str(db), scenarios_dir=str(SCENARIOS)))
    view.refresh()
    view.pick.value = [base, other]
    assert view.msg.pane.visible and view.msg.pane.alert_type == "danger"
    shown = view.msg.pane.object
    assert "runs were not replayed over identical traffic" in shown and "seed 1 vs 42" in shown
