"""The Compare page's logic without a browser: the table's cells are compare_runs' figures; charts and
projection come from the store; runs that cannot be compared give a message, not a crash."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS
from helpers import run, small_wins_scenario

from workbench.analysis.compare import compare_runs, monthly_projection
from workbench.analysis.fleet import no_routing_needed
from workbench.analysis.summary import run_summary
from workbench.app.audit import AuditView
from workbench.app.compare import CompareView, no_routing_html, table_frame
from workbench.app.safe import esc
from workbench.app.state import AppState
from workbench.store import TraceStore

# Panel's Tabulator calls DataFrame.reset_index(inplace=True), deprecated in pandas 3.1 (not our code)
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index is deprecated")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """baseline and tiered over the same 50 requests, and tiered again with another seed."""
    db = tmp_path_factory.mktemp("compare") / "t.duckdb"
    base, _ = run(SCENARIOS / "support-baseline.yaml", db, requests=50)
    tiered, _ = run(SCENARIOS / "support-tiered.yaml", db, requests=50)
    other, _ = run(SCENARIOS / "support-tiered.yaml", db, requests=50, seed=1)
    return db, base, tiered, other


def test_table_cells_are_compare_runs_figures(runs):
    db, base, tiered, _ = runs
    with TraceStore(db) as st:
        table = compare_runs(st.con, [base, tiered])
    frame = table_frame(table, base).set_index("run_id")
    b, t = frame.loc[base], frame.loc[tiered]
    row = table.set_index("run_id").loc[tiered]
    assert b["role"] == "baseline" and t["role"] == "compared" and list(frame.index) == [base, tiered]
    assert b["d_cost_per_1k_usd"] == "-" and b["requests"] == t["requests"] == "50"
    assert t["cost_usd"] == f"${row.cost_usd:,.4f}" and t["quality"] == f"{row.quality:.1%}"
    assert t["d_quality"] == f"{row.d_quality:+.3f} [{row.d_quality_lo:+.3f}, {row.d_quality_hi:+.3f}]"
    assert t["d_cost_per_1k_usd"].startswith(f"{row.d_cost_per_1k_usd:+.3f} [")
    assert t["error_rate"] == f"{row.error_rate:.2%}" and b["strong_share"] == "100.0%"
    assert set(frame["data"]) == {"simulated"}


def test_view_opens_with_a_hint_and_one_baseline(runs):
    db, base, tiered, _ = runs
    view = CompareView(AppState(db=str(db), scenarios_dir=str(SCENARIOS)))
    view.refresh()
    assert view.hint.visible and "Pick two or more runs" in view.hint.object and view.table.value.empty
    # options name runs by traffic, scenario and date, newest first within a traffic group
    names = list(view.pick.options)
    assert all(n.startswith("support_tickets.jsonl seed ") and " ▸ support-" in n for n in names)
    assert names.index(next(n for n in names if n.endswith(tiered))) < names.index(
        next(n for n in names if n.endswith(base)))
    view.pick.value = [base, tiered]
    assert view.baseline.value == base and not view.hint.visible
    assert list(view.table.value.run_id) == [base, tiered] and view.table.value.role.iloc[0] == "baseline"
    view.baseline.value = tiered  # the table, verdicts and summary all follow the one widget
    assert list(view.table.value.run_id) == [tiered, base] and view.table.value.role.iloc[0] == "baseline"
    assert "Baseline: <b>support-tiered" in view.summary.object
    assert "support-baseline" in view.verdicts.object and "costs $" in view.verdicts.object


def test_view_draws_charts_and_projects(runs):
    db, base, tiered, _ = runs
    view = CompareView(AppState(db=str(db), scenarios_dir=str(SCENARIOS)))
    view.refresh()
    assert {base, tiered} <= set(view.pick.options.values())
    view.pick.value = [base, tiered]
    assert view.msg.pane.visible is False, view.msg.pane.object
    names = [p.css_classes[0] for p in view.charts.objects]
    assert names == ["wb-chart-frontier", "wb-chart-cost", "wb-chart-latency", "wb-chart-failures", "wb-chart-quality",
                     "wb-chart-money"]
    assert all("(simulated)" in str(p.object.to_dict()["title"]) for p in view.charts.objects)
    view.volume.value = 50_000
    with TraceStore(db) as st:
        summaries = [run_summary(st.con, r) for r in (base, tiered)]
    month1 = monthly_projection(summaries, requests_per_day=50_000).query("month == 1").cost_usd.tolist()
    text = view.projection_text.object
    assert f"${month1[0]:,.2f} in month 1 (baseline)" in text and f"${month1[1]:,.2f} in month 1" in text
    assert "saves $" in text  # tiered is cheaper than the baseline (the report download: tests/app/test_shell.py)
    money = view.money.object  # where the money goes: each design's parts, in the run and a month
    for s in summaries:
        b = s["cost_breakdown_usd"]
        assert b["output"] > 0 and f"<td>${b['input']:,.4f}</td><td>${b['cached_input']:,.4f}</td>" in money
    assert "a month (projected)" in money and money.count("<tr") == 1 + 2 * len(summaries)
    assert "wb-no-routing" not in view.summary.object  # tiered is cheaper but worse: routing trades
    row = table_frame_row(db, base, tiered)
    said = view.verdicts.object
    assert f"answers {abs(row.d_quality) * 100:.1f} percentage points fewer requests correctly" in said
    assert "quality is simulated" in said and "significant" not in said  # simulated: never "significant"


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
    assert no_routing_html(verdict) in view.summary.object
    assert str(esc(verdict["reason"])) in view.summary.object and "(quality is simulated)" in verdict["reason"]


def test_no_routing_sentence_is_escaped():
    shown = no_routing_html({"reason": "no routing needed: <img src=x onerror=alert(1)> (all to m)"})
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;" in shown
    assert no_routing_html(None) == ""


def test_runs_over_other_traffic_give_a_message(runs):
    db, base, _, other = runs
    view = CompareView(AppState(db=str(db), scenarios_dir=str(SCENARIOS)))
    view.refresh()
    view.pick.value = [base, other]
    assert view.msg.pane.visible and view.msg.pane.alert_type == "warning"
    shown = view.msg.pane.object
    assert "These runs did not see the same requests" in shown and "ValueError" not in shown
    assert "support-tiered · " in shown and "cannot be compared with support-baseline · " in shown
    assert "it used another seed (1 against 42)" in shown and view.table.value.empty


def table_frame_row(db, base, tiered):
    with TraceStore(db) as st:
        return compare_runs(st.con, [base, tiered]).set_index("run_id").loc[tiered]


class _Click:
    def __init__(self, row: int, column: str):
        self.row, self.column = row, column


def test_a_figure_opens_audit_on_exactly_its_requests(runs):
    """A table cell (error rate, fallback rate) and a chart figure (a category's quality bar, a target's
    cost bar) set the shared filter; Audit shows exactly the requests behind it (counted in the store)."""
    import duckdb

    db, base, tiered, _ = runs
    state = AppState(db=str(db), scenarios_dir=str(SCENARIOS))
    view, audit = CompareView(state), AuditView(state)
    view.refresh()
    view.pick.value = [base, tiered]

    def count(sql: str, *params) -> int:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute(sql, list(params)).fetchone()[0]

    view._trace_cell(_Click(1, "fallback_rate"))
    assert state.audit_filter["flag"] == "fallback" and audit.run.value == tiered
    assert len(audit.requests.value) == count("SELECT count(*) FROM requests WHERE run_id = ? AND fallbacks > 0",
                                              tiered) > 0
    view._trace_cell(_Click(0, "error_rate"))
    assert audit.run.value == base and "error rate of support-baseline" in audit.header.object
    assert len(audit.requests.value) == count("SELECT count(*) FROM requests WHERE run_id = ? AND status <> 'ok'",
                                              base) > 0
    view._trace_cell(_Click(0, "cost_usd"))  # a figure over every request: the whole run
    assert len(audit.requests.value) == 50 and audit.flag.value == ""
    label, value = next((k, v) for k, v in view.figure.options.items()
                        if k.startswith("quality by category: ") and tiered in v)
    view.figure.value = value
    view._trace_figure()
    category = value.split("|")[2]
    assert audit.category.value == category and audit.run.value == tiered
    assert len(audit.requests.value) == count("SELECT count(*) FROM requests WHERE run_id = ? AND category = ?",
                                              tiered, category) > 0
    assert {"prompt", "answer", "arrived", "latency"} <= set(audit.requests.value.columns)
    assert audit.requests.value.latency.str.endswith(" s").all()
    audit.show_text = False
    assert "prompt" not in audit.requests.value.columns


def test_picking_runs_one_by_one_compares_them_all(runs):
    """The second pick keeps the baseline and still recomputes (a bug: the table kept one row)."""
    db, base, tiered, _ = runs
    view = CompareView(AppState(db=str(db), scenarios_dir=str(SCENARIOS)))
    view.refresh()
    view.pick.value = [base]
    assert list(view.table.value.run_id) == [base] and view.hint.visible
    view.pick.value = [base, tiered]
    assert list(view.table.value.run_id) == [base, tiered] and not view.hint.visible
    assert "2 runs over the same traffic" in view.summary.object
