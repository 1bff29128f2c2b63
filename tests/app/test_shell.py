"""The app in a real browser: `workbench serve` as a user starts it, driven by Playwright in Chromium.

One server for the module (a subprocess, loopback, free port, its own scenarios folder and trace
store); each test opens its own page, hence its own session. Screenshots of every page go to
test-output/app/.
"""

from __future__ import annotations

import csv
import re
import socket
import time
from pathlib import Path

import duckdb
import pytest
from browser import choose, serve_app, start_run, tab
from conftest import ROOT, SCENARIOS
from helpers import scenario_folder, wb

OUTPUT = ROOT / "test-output" / "app"
REQUESTS = 60


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """A running `workbench serve` over a copy of two demo scenarios; yields (url, folder)."""
    tmp = tmp_path_factory.mktemp("app")
    folder = scenario_folder(tmp, "support-baseline.yaml", "support-tiered.yaml")
    with serve_app(folder, tmp / "t.duckdb", cwd=tmp) as url:
        yield url, tmp


def _query(db: Path, sql: str) -> list[tuple]:
    """Read the app's trace store from outside; the app opens it for each operation, so wait for a gap."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with duckdb.connect(str(db), read_only=True) as con:
                return con.execute(sql).fetchall()
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _open(page, url):
    from playwright.sync_api import expect

    offsite: list[str] = []
    local = (url, "blob:", "data:", "ws://127.0.0.1")
    page.on("request", lambda r: None if r.url.startswith(local) else offsite.append(r.url))
    page.set_default_timeout(60_000)
    expect.set_options(timeout=30_000)  # a loaded machine is slow: wait, but the page must get there
    page.goto(url)
    expect(page.locator(".wb-validation")).to_contain_text("Valid")
    return offsite


def _choose(page, *labels: str) -> None:
    """Pick scenarios on the Run page, in order."""
    choose(page, ".wb-run-pick", *labels)


def _shot(page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def test_edit_run_compare_audit(app, page):
    from playwright.sync_api import expect

    url, tmp = app
    offsite = _open(page, url)
    validation = page.locator(".wb-validation")
    page.locator(".wb-files select").select_option("support-baseline.yaml")
    page.get_by_role("button", name="Open").click()
    expect(validation).to_contain_text("support-baseline, 1 model(s), 0 human node(s)")
    page.get_by_text("chat models with a price").wait_for()  # litellm's catalog behind the picker
    # swap the model through the catalog picker, add a human node and a fallback to it
    picker = page.locator(".wb-model-picker input")
    picker.fill("gpt-4o-mini")
    picker.press("Enter")
    expect(page.locator(".wb-fleet")).to_contain_text("$0.15 in / $0.6 out per M tokens, 128,000-token window")
    page.get_by_role("button", name="Add / update").click()
    expect(validation).to_contain_text("1 human node(s)")
    page.get_by_role("button", name="Add fallback").click()
    expect(validation).to_contain_text("1 fallback rule(s)")
    expect(page.locator(".wb-diagram")).to_contain_text("1. if large fails (any error) -> tier2")
    page.get_by_placeholder("my-design").fill("support-mini")
    page.get_by_role("button", name="Save as").click()
    expect(page.locator(".wb-msg-scenarios")).to_contain_text("support-mini.yaml (name: support-mini)")
    _shot(page, "scenarios")
    saved = (tmp / "scenarios" / "support-mini.yaml").read_text()
    assert "model: gpt-4o-mini" in saved and "- {to: tier2}" in saved and "name: support-mini" in saved
    # run it against the baseline over 60 requests
    tab(page, "Run")
    _choose(page, "support-baseline.yaml", "support-mini.yaml")
    start_run(page, REQUESTS)
    expect(page.locator(".wb-run-results")).to_contain_text("support-mini")
    _shot(page, "run")
    # the comparison: the stored figures, deltas with intervals, charts drawn
    tab(page, "Compare")
    rows = page.locator(".wb-compare-table .tabulator-row")
    expect(rows).to_have_count(2)
    base, mini = rows.nth(0), rows.nth(1)
    for row in (base, mini):
        expect(row.locator("[tabulator-field=cost_usd]")).to_have_text(re.compile(r"^\$\d+\.\d{4}$"))
    runs = {"support-baseline": base.locator("[tabulator-field=run_id]").text_content(),
            "support-mini": mini.locator("[tabulator-field=run_id]").text_content()}
    shown = {name: row.locator("[tabulator-field=cost_usd]").inner_text() for name, row in (("support-baseline", base),
                                                                                             ("support-mini", mini))}
    assert [row.locator("[tabulator-field=requests]").inner_text() for row in (base, mini)] == [str(REQUESTS)] * 2
    assert base.locator("[tabulator-field=d_quality]").inner_text() == "-"
    assert base.locator("[tabulator-field=role]").inner_text() == "baseline"
    delta = mini.locator("[tabulator-field=d_quality]").inner_text()
    assert delta.count("[") == 1 and delta[0] in "+-"  # e.g. "-0.117 [-0.233, -0.017]"
    assert "simulated" in base.inner_text()
    for chart in ("frontier", "cost", "latency", "quality"):
        page.locator(f".wb-chart-{chart} svg, .wb-chart-{chart} canvas").first.wait_for()
    expect(page.locator(".wb-chart-cost")).to_contain_text("Cost by target (simulated)")
    expect(page.locator(".wb-projection-text")).to_contain_text("support-mini")
    _shot(page, "compare")
    with page.expect_download() as download:
        page.locator(".wb-report button").click()
    report = Path(download.value.path()).read_text()
    assert "Routing comparison" in report and runs["support-mini"] in report and "<script src" not in report
    # the audit of the new design's run, and its export
    tab(page, "Audit")
    expect(page.locator(".wb-audit-run select")).to_have_value(re.compile(f"· {runs['support-mini']}$"))
    page.locator(".wb-audit-requests .tabulator-row .tabulator-cell").nth(1).click()
    expect(page.locator(".wb-audit-attempts")).to_contain_text("gpt-4o-mini")
    _shot(page, "audit")
    with page.expect_download() as download:
        page.locator(".wb-export-requests button").click()
    with open(download.value.path()) as f:
        exported = list(csv.DictReader(f))
    assert len(exported) == REQUESTS and {r["mode"] for r in exported} == {"simulated"}
    # the traffic the run replayed, and the exercises page
    tab(page, "Traffic")
    expect(page.locator(".wb-traffic-summary")).to_contain_text(f"{REQUESTS} of 370 requests")
    _shot(page, "traffic")
    tab(page, "Exercises")
    _shot(page, "exercises")
    assert offsite == []
    # what the pages showed is what the store holds (read last: the app opens the file per operation)
    db = tmp / "t.duckdb"
    assert dict(_query(db, "SELECT scenario, run_id FROM runs")) == runs
    stored = {name: (c, k) for name, c, k in _query(db, "SELECT ru.scenario, sum(r.cost_usd), count(*) FROM "
                                                       "requests r JOIN runs ru USING (run_id) GROUP BY 1")}
    assert {name: k for name, (_, k) in stored.items()} == {"support-baseline": REQUESTS, "support-mini": REQUESTS}
    assert shown == {name: f"${c:,.4f}" for name, (c, _) in stored.items()}
    assert sum(float(r["cost_usd"]) for r in exported) == pytest.approx(stored["support-mini"][0], rel=1e-9)


def test_invalid_yaml_names_the_field_and_errors_stay_in_the_page(app, page):
    from playwright.sync_api import expect

    url, tmp = app
    _open(page, url)
    page.locator(".wb-files select").select_option("support-tiered.yaml")
    page.get_by_role("button", name="Open").click()
    validation = page.locator(".wb-validation")
    expect(validation).to_contain_text("support-tiered")
    text = (tmp / "scenarios" / "support-tiered.yaml").read_text()
    page.locator(".wb-yaml .ace_content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text.replace("concurrency: 32", "concurrency: 0"))
    line = text.splitlines().index("concurrency: 32") + 1
    expect(validation).to_contain_text(f"support-tiered.yaml:{line}, field 'concurrency': Input should be greater "
                                       "than or equal to 1")
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text.replace("fallbacks:", "fallback:"))
    expect(validation).to_contain_text("field 'fallback': unknown field")
    _shot(page, "invalid-yaml")
    page.get_by_placeholder("my-design").fill("support-baseline")
    page.get_by_role("button", name="Save as").click()
    expect(page.locator(".wb-msg-scenarios")).to_contain_text("not saved: fix the design first")
    tab(page, "Run")
    _choose(page, "(editor draft): support-tiered")
    page.locator(".wb-run-start button").click()
    expect(page.locator(".wb-msg-run")).to_contain_text("the editor's draft is not valid")
    assert "Traceback" not in page.inner_text("body")


def test_serve_errors_are_one_line(tmp_path):
    res = wb("serve", "--scenarios", str(tmp_path / "nope"), "--port", "0", cwd=tmp_path)
    assert res.returncode == 2 and res.stderr == f"error: {tmp_path / 'nope'}: no such scenarios folder (--scenarios)\n"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = wb("serve", "--port", str(port), "--scenarios", str(SCENARIOS), "--db", str(tmp_path / "t.duckdb"),
                 cwd=tmp_path)
    assert res.returncode == 2 and res.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert res.stdout == "" and not (tmp_path / "t.duckdb").exists()
