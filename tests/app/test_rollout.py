"""The Rollout page: designs and plans listed apart, a rollout run from the page, its timeline and stages.

In-process first (the view's own widgets and its worker), then in Chromium through `workbench serve`.
"""

from __future__ import annotations

import altair as alt
import pytest
from helpers import scenario_folder

from workbench.app.compare import CompareView
from workbench.app.rollout import RolloutView
from workbench.app.state import AppState, list_scenarios

FILES = ("rollout-baseline.yaml", "rollout-candidate-regressed.yaml", "rollout-plan.yaml",
         "rollout-plan-unguarded.yaml", "support-baseline.yaml")
# Bokeh's ColumnDataSource.from_df (under Panel's Tabulator) calls reset_index(inplace=True), which
# pandas 3.1 deprecates: a third party's warning, not the workbench's.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")


def test_the_page_lists_designs_and_plans_apart_and_runs_a_rollout(tmp_path):
    folder = scenario_folder(tmp_path, *FILES)
    view = RolloutView(AppState(db=str(tmp_path / "t.duckdb"), scenarios_dir=str(folder)))
    assert view.baseline.options == ["rollout-baseline.yaml", "rollout-candidate-regressed.yaml",
                                      "support-baseline.yaml"]
    assert view.plan.options == ["rollout-plan-unguarded.yaml", "rollout-plan.yaml"]
    assert "rollout-plan.yaml" not in [r["file"] for r in list_scenarios(folder)]  # the Scenarios page: designs only
    view.baseline.value, view.candidate.value = "rollout-baseline.yaml", "rollout-candidate-regressed.yaml"
    view.plan.value = "rollout-plan-unguarded.yaml"
    view.requests.value = 3000
    view.job.start(folder / view.baseline.value, folder / view.candidate.value, folder / view.plan.value,
                   view.state.db, view.requests.value)
    assert view.job.wait(120) and view.job.state == "completed", view.job.message
    view._poll()
    assert "no rollback" in view.status.object and "exposed to its regression" in view.status.object
    assert list(view.stages.value.decision) == ["promote", "ended"]  # 3,000 requests: 1% promoted at 2,000, 5% cut short
    chart = view.chart.object
    assert isinstance(chart, alt.VConcatChart) and "(simulated)" in str(chart.to_dict()["vconcat"][0]["title"])
    compare = CompareView(view.state)
    compare.show_runs([view.job.run_id])  # Compare draws a rollout's timeline beside the usual charts
    assert [p for p in compare.charts.objects if "wb-chart-rollout" in p.css_classes]


@pytest.mark.slow
def test_the_rollout_tab_in_a_browser_runs_and_shows_the_timeline(tmp_path, page):
    """`workbench serve`, Rollout tab: pick the drill's designs and the guarded plan, run, and see the
    stage table fill (promote and hold decisions) and the timeline chart drawn."""
    from browser import serve_app, tab
    from playwright.sync_api import expect

    folder = scenario_folder(tmp_path, *FILES)
    with serve_app(folder, tmp_path / "t.duckdb", cwd=tmp_path) as url:
        page.set_default_timeout(60_000)
        expect.set_options(timeout=90_000)
        page.goto(url)
        tab(page, "Rollout")
        page.locator(".wb-rollout-candidate select").select_option("rollout-candidate-regressed.yaml")
        page.locator(".wb-rollout-plan select").select_option("rollout-plan.yaml")
        count = page.locator(".wb-rollout-requests input")
        count.fill("6000")
        count.press("Enter")
        page.locator(".wb-rollout-go button").click()
        expect(page.locator(".wb-rollout-outcome")).to_contain_text("the candidate served")
        rows = page.locator(".wb-rollout-stages .tabulator-row")
        expect(rows.first).to_contain_text("hold")
        expect(page.locator(".wb-rollout-chart canvas, .wb-rollout-chart svg").first).to_be_visible()
