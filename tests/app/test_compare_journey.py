"""The architect's and the leader's Compare journey in Chromium: two stored runs, a figure clicked in the
table and one traced from a chart, each landing in Audit on exactly the requests the store counts behind
it; the leader downloads the report from Compare and reads the recommendation first. Screenshots at
1280x800 and 1920x1080 go to test-output/app/."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import duckdb
import pytest
from browser import choose, serve_app, tab
from conftest import ROOT
from helpers import run, scenario_folder

OUTPUT = ROOT / "test-output" / "app"
REQUESTS = 80


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """support-baseline and support-tiered stored over the same 80 tickets, then `workbench serve`."""
    tmp = tmp_path_factory.mktemp("journey")
    folder = scenario_folder(tmp, "support-baseline.yaml", "support-tiered.yaml")
    db = tmp / "t.duckdb"
    base, _ = run(folder / "support-baseline.yaml", db, requests=REQUESTS)
    tiered, _ = run(folder / "support-tiered.yaml", db, requests=REQUESTS)
    with serve_app(folder, db, cwd=tmp) as url:
        yield url, db, base, tiered


def _count(db: Path, sql: str, *params) -> int:
    """Count in the app's store from outside (it opens the file per operation: wait for a gap)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with duckdb.connect(str(db), read_only=True) as con:
                return con.execute(sql, list(params)).fetchone()[0]
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _shot(page, name: str, size: tuple[int, int]) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.screenshot(path=str(OUTPUT / f"{name}-{size[0]}x{size[1]}.png"))


def _audit_rows(page) -> int:
    from playwright.sync_api import expect

    count = page.locator(".wb-audit-count")
    expect(count).to_be_visible()
    return int(count.get_attribute("data-rows"))


def test_trace_figures_to_audit_and_read_the_memo(served, page, tmp_path):
    from playwright.sync_api import expect

    url, db, base, tiered = served
    expect.set_options(timeout=30_000)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(url)
    tab(page, "Compare")
    expect(page.locator(".wb-compare-hint")).to_contain_text("Pick two or more runs")
    choose(page, ".wb-compare-pick", "▸ support-baseline · ", "▸ support-tiered · ")
    rows = page.locator(".wb-compare-table .tabulator-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("[tabulator-field=role]")).to_have_text("baseline")
    expect(rows.nth(0).locator("[tabulator-field=scenario]")).to_have_text("support-baseline")
    expect(page.locator(".wb-compare-baseline select")).to_contain_text("support-baseline")
    expect(page.locator(".wb-verdicts")).to_contain_text("percentage points fewer requests correctly")
    # where each design's quality came from: a simulated replay, so every request's quality is simulated
    provenance = page.locator(".wb-compare-provenance .tabulator-row")
    expect(provenance).to_have_count(2)
    for i in (0, 1):
        expect(provenance.nth(i).locator("[tabulator-field=simulated]")).to_have_text("100%")
    expect(page.locator(".wb-provenance-title")).to_contain_text("Where each design's quality came from")
    page.locator(".wb-chart-quality svg, .wb-chart-quality canvas").first.wait_for()
    for size in ((1280, 800), (1920, 1080)):
        _shot(page, "compare", size)
    # a table cell: the tiered design's fallback rate -> its requests that used a fallback
    rows.nth(1).locator("[tabulator-field=fallback_rate]").click()
    expect(page.locator(".wb-audit-header")).to_contain_text("showing the requests behind fallback rate of "
                                                             "support-tiered")
    want = _count(db, "SELECT count(*) FROM requests WHERE run_id = ? AND fallbacks > 0", tiered)
    assert want > 0 and _audit_rows(page) == want
    expect(page.locator(".wb-audit-header")).to_contain_text(f"{want} of {REQUESTS} requests")
    expect(page.locator(".wb-audit-requests .tabulator-row")).to_have_count(min(want, 15))
    # its prompt and answer, and times a person reads
    first = page.locator(".wb-audit-requests .tabulator-row").first
    assert first.locator("[tabulator-field=prompt]").inner_text().strip() != ""
    assert first.locator("[tabulator-field=latency]").inner_text().endswith(" s")
    for size in ((1280, 800), (1920, 1080)):
        _shot(page, "audit-traced", size)
    page.locator(".wb-audit-text input").uncheck()
    expect(page.locator(".wb-audit-requests [tabulator-field=prompt]")).to_have_count(0)
    # a chart's figure: the baseline's quality bar of one category -> that category's requests
    tab(page, "Compare")
    figure = page.locator(".wb-trace-figure select")
    label = figure.locator("option", has_text="quality by category: billing in support-baseline").text_content()
    figure.select_option(label=label)
    page.locator(".wb-trace button").click()
    expect(page.locator(".wb-audit-header")).to_contain_text("quality by category: billing in support-baseline")
    want = _count(db, "SELECT count(*) FROM requests WHERE run_id = ? AND category = 'billing'", base)
    assert want > 0 and _audit_rows(page) == want
    # the leader: the report from Compare, the recommendation first
    tab(page, "Compare")
    with page.expect_download() as download:
        page.locator(".wb-report button").click()
    report = tmp_path / "report.html"  # a download has no extension: name it as the leader's file is named
    shutil.copyfile(download.value.path(), report)
    assert download.value.suggested_filename == "workbench-report.html"
    memo = page.context.browser.new_page(viewport={"width": 1280, "height": 800})
    memo.goto(report.as_uri())
    first = memo.locator("body > p").first
    assert first.get_attribute("class") == "recommendation"
    assert first.inner_text().startswith("Recommendation: adopt support-")
    assert "Budget: $" in first.inner_text() and "quality is simulated" in first.inner_text()
    for size in ((1280, 800), (1920, 1080)):
        _shot(memo, "report", size)
