"""The Audit page says whether a run's audit chain holds, as `workbench audit verify` checks it: intact,
broken at the first changed row (a stored cost edited after the run), or not audited. In Chromium."""

from __future__ import annotations


import duckdb
import pytest
from browser import serve_app, tab
from helpers import run, scenario_folder


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two audited runs of loan-approval (one then tampered with) and one unaudited run; `workbench serve`."""
    tmp = tmp_path_factory.mktemp("seal")
    folder = scenario_folder(tmp, "loan-approval.yaml", "support-baseline.yaml")
    db = tmp / "t.duckdb"
    intact, _ = run(folder / "loan-approval.yaml", db, requests=12)
    tampered, _ = run(folder / "loan-approval.yaml", db, requests=12)
    plain, _ = run(folder / "support-baseline.yaml", db, requests=12)
    with duckdb.connect(str(db)) as con:  # a cost edited after the run: the chain no longer matches at seq 5
        con.execute("UPDATE requests SET cost_usd = cost_usd + 1 WHERE run_id = ? AND seq = 5", [tampered])
    with serve_app(folder, db, cwd=tmp) as url:
        yield url, intact, tampered, plain


def test_audit_page_says_whether_the_chain_holds(served, page):
    from playwright.sync_api import expect

    url, intact, tampered, plain = served
    expect.set_options(timeout=30_000)
    page.goto(url)
    tab(page, "Audit")
    picker = page.locator(".wb-audit-run select")
    seal = page.locator(".wb-audit-seal")
    for rid, state, words in ((intact, "intact", "intact: 12 rows"), (tampered, "broken", "broken at row "),
                              (plain, "none", "not audited")):
        picker.select_option(label=picker.locator("option", has_text=rid).text_content())
        expect(seal).to_have_attribute("data-state", state)
        expect(seal).to_contain_text(words)
        expect(seal).to_contain_text("Audit trail")
    picker.select_option(label=picker.locator("option", has_text=tampered).text_content())
    expect(seal).to_contain_text("seq 5")
    expect(seal).to_contain_text("cost_usd")
