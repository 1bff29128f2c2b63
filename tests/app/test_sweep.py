"""The Sweep page over a stored sweep: its trials in the table, the front in the chart, the picked
design in the header, and every string from the user's files shown as text, never as HTML."""

from __future__ import annotations

import altair as alt
import pytest

from sweep.test_sweep import SCENARIO, sweep
from workbench.app.state import AppState
from workbench.app.sweep import TRIAL_COLUMNS, SweepView

EVIL = "<img src=x onerror=alert(1)>"
SPACE = f"""\
sampler: grid
objectives: [cost, quality]
constraints: ["quality >= 0.75"]
params:
  router.params.weights.large: {{choices: [1.0, 3.0]}}
  description: {{choices: ["{EVIL}"]}}
"""


# Bokeh's ColumnDataSource.from_df (under Panel's Tabulator) calls reset_index(inplace=True), which
# pandas 3.1 deprecates: a third party's warning, not the workbench's.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")


@pytest.fixture
def view(scenario_file, tmp_path):
    path = scenario_file(SCENARIO, n=80, difficulty=0.6)
    sweep(path, tmp_path / "t.duckdb", SPACE, sweep_id="sw-b")
    v = SweepView(AppState(db=str(tmp_path / "t.duckdb"), scenarios_dir=str(tmp_path)))
    v.refresh()
    return v


def test_the_sweep_page_shows_trials_front_and_pick_as_text(view):
    assert view.sweep.value == "sw-b"
    table = view.trials.value
    assert list(table.columns) == TRIAL_COLUMNS and table["trial"].tolist() == [0, 1, 2]
    assert table["changes"].iloc[0] == "(baseline)" and EVIL in table["changes"].iloc[1]
    assert all(view.trials.formatters[c] == {"type": "plaintext"} for c in ("changes", "run_id"))
    assert table["feasible"].tolist() == [False, False, True]  # 80 tickets: quality 0.64, 0.70, 0.79
    header = view.header.object
    assert EVIL not in header and "&lt;img src=x onerror=alert(1)&gt;" in header
    assert "<b>sw-b</b>" in header and "Cheapest design meeting quality &gt;= 0.75: trial 2" in header
    assert "simulated" in header and "95% paired bootstrap" in header
    chart = view.chart.object
    assert isinstance(chart, alt.LayerChart) and "simulated" in chart.to_dict()["title"]


def test_an_empty_store_says_how_to_make_a_sweep(tmp_path):
    v = SweepView(AppState(db=str(tmp_path / "t.duckdb"), scenarios_dir=str(tmp_path)))
    v.refresh()
    assert v.sweep.value is None and "workbench sweep" in v.msg.pane.object


@pytest.mark.slow
def test_the_sweep_tab_in_a_browser_shows_user_strings_as_text(scenario_file, tmp_path, page):
    """`workbench serve` over a store holding a sweep, in Chromium: the chart is drawn, the table
    lists the trials, and a parameter value that looks like HTML stays text (no element, no alert)."""
    from browser import serve_app, tab
    from playwright.sync_api import expect

    path = scenario_file(SCENARIO, n=80, difficulty=0.6)
    sweep(path, tmp_path / "t.duckdb", SPACE, sweep_id="sw-browser")
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    with serve_app(tmp_path, tmp_path / "t.duckdb", cwd=tmp_path) as url:
        page.set_default_timeout(60_000)
        expect.set_options(timeout=30_000)
        page.goto(url)
        tab(page, "Sweep")
        expect(page.locator(".wb-sweep-header")).to_contain_text("Cheapest design meeting quality >= 0.75: trial 2")
        rows = page.locator(".wb-sweep-trials .tabulator-row")
        expect(rows).to_have_count(3)
        expect(rows.nth(1)).to_contain_text(EVIL)
        expect(page.locator(".wb-sweep-front canvas, .wb-sweep-front svg").first).to_be_visible()
        assert page.locator(".wb-sweep-trials img, .wb-sweep-header img").count() == 0
    assert alerts == []
