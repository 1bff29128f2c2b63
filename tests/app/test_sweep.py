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
    sweep(path, tmp_path / "t.duckdb", SPACE, sweep_id="sw-<b>")
    v = SweepView(AppState(db=str(tmp_path / "t.duckdb"), scenarios_dir=str(tmp_path)))
    v.refresh()
    return v


def test_the_sweep_page_shows_trials_front_and_pick_as_text(view):
    assert view.sweep.value == "sw-<b>"
    table = view.trials.value
    assert list(table.columns) == TRIAL_COLUMNS and table["trial"].tolist() == [0, 1, 2]
    assert table["changes"].iloc[0] == "(baseline)" and EVIL in table["changes"].iloc[1]
    assert all(view.trials.formatters[c] == {"type": "plaintext"} for c in ("changes", "run_id"))
    assert table["feasible"].tolist() == [False, False, True]  # 80 tickets: quality 0.64, 0.70, 0.79
    header = view.header.object
    assert EVIL not in header and "&lt;img src=x onerror=alert(1)&gt;" in header
    assert "sw-&lt;b&gt;" in header and "Cheapest design meeting quality &gt;= 0.75: trial 2" in header
    assert "simulated" in header and "95% paired bootstrap" in header
    chart = view.chart.object
    assert isinstance(chart, alt.LayerChart) and "simulated" in chart.to_dict()["title"]


def test_an_empty_store_says_how_to_make_a_sweep(tmp_path):
    v = SweepView(AppState(db=str(tmp_path / "t.duckdb"), scenarios_dir=str(tmp_path)))
    v.refresh()
    assert v.sweep.value is None and "workbench sweep" in v.msg.pane.object
