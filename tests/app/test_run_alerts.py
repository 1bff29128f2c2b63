"""The Run page lists the monitors' alerts of the runs it just finished, and hides the table when there are none."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS
from helpers import run

from workbench.app.run import ALERT_COLUMNS, RunView
from workbench.app.state import AppState

# Panel's Tabulator calls DataFrame.reset_index(inplace=True), deprecated in pandas 3.1 (not our code)
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index is deprecated")


def test_the_run_page_shows_alerts_only_when_a_run_raised_some(tmp_path):
    db = tmp_path / "t.duckdb"
    drill, _ = run(SCENARIOS / "drill-model-update.yaml", db, requests=400)
    quiet, _ = run(SCENARIOS / "support-baseline.yaml", db, requests=30)
    view = RunView(AppState(db=str(db), scenarios_dir=str(SCENARIOS)))
    view._show_results([quiet])
    assert not view.alerts.visible
    view._show_results([quiet, drill])
    frame = view.alerts.value
    assert view.alerts.visible and list(frame.columns) == ALERT_COLUMNS and len(frame) == 1
    row = frame.iloc[0]
    assert (row["run"], row["at (s, virtual)"], row["monitor"], row["target"], row["action"]) == (
        drill, "75.8", "primary-quality", "primary", "pin_previous")
    assert "pinned primary to version 2024-08-06" in row["message"]
