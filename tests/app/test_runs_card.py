"""Managing runs on the Compare page: label, rename, delete after a second click; the picker follows;
an audited run is refused with the store's message, beside the buttons."""

from __future__ import annotations

import duckdb
import pytest
from conftest import SCENARIOS
from helpers import run, tiered_scenario

from workbench.app.compare import CompareView
from workbench.app.state import AppState

# Panel's Tabulator calls DataFrame.reset_index(inplace=True), deprecated in pandas 3.1 (not our code)
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index is deprecated")


@pytest.fixture
def view(tmp_path):
    db = tmp_path / "t.duckdb"
    base, _ = run(SCENARIOS / "support-baseline.yaml", db, requests=30)
    audited, _ = run(tiered_scenario(tmp_path / "a.yaml", 20, SCENARIOS / "traffic" / "support_tickets.jsonl",
                                     extra="audit: true\n"), db)
    v = CompareView(AppState(db=str(db), scenarios_dir=str(SCENARIOS)))
    v.refresh()
    return v, db, base, audited


def test_label_rename_and_delete_with_a_second_click(view):
    v, db, base, _ = view
    card = v.manage
    card.run.value = base
    card.label.value = "candidate A"
    card.do_label.clicks += 1
    assert card.msg.pane.alert_type == "success"
    assert any(" · candidate A · " in name and rid == base for name, rid in v.pick.options.items())
    card.new_id.value = "cand-a"
    card.do_rename.clicks += 1
    assert "cand-a" in v.pick.options.values() and base not in v.pick.options.values()
    card.run.value = "cand-a"
    card.do_delete.clicks += 1  # armed: nothing deleted yet, the message says what will go
    assert card.msg.pane.alert_type == "warning" and "30 requests" in card.msg.pane.object
    assert "cand-a" in v.pick.options.values()
    card.do_delete.clicks += 1
    assert card.msg.pane.alert_type == "success" and "cand-a deleted (30 requests" in card.msg.pane.object
    assert "cand-a" not in v.pick.options.values()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM requests WHERE run_id IN ('cand-a', ?)", [base]).fetchone()[0] == 0


def test_an_audited_run_is_refused_beside_the_buttons(view):
    v, _, _, audited = view
    card = v.manage
    card.run.value = audited
    card.do_delete.clicks += 1
    card.do_delete.clicks += 1
    assert card.msg.pane.alert_type == "danger" and "is audited" in card.msg.pane.object
    assert audited in v.pick.options.values()
