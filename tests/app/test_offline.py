"""Fully offline: every request the page makes, on every view, goes to the app's own server.

Five consecutive server starts (the CDN fetches of issue 17 came in 3 of 4 starts); each time a fresh
page visits every tab, waits for that tab's content, and every request Chromium makes is recorded
(``page.on("request")``): any host other than loopback fails the test, naming the URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from browser import choose, serve_app, tab
from helpers import run, scenario_folder

STARTS = 5
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: Each tab, and an element it shows once drawn (Compare's charts are drawn after picking the two runs).
VIEWS = [("Traffic", ".wb-traffic-preview .tabulator-row"), ("Run", ".wb-run-start"), ("Compare", ".wb-compare-pick"),
         ("Audit", ".wb-audit-requests .tabulator-row"), ("Exercises", ".wb-brief h1"),
         ("Sweep", ".wb-sweep-select"), ("Scenarios", ".wb-validation")]


def offsite(url: str) -> bool:
    """True for a request that leaves the machine (data: and blob: URLs never do)."""
    parts = urlsplit(url)
    return parts.scheme not in ("data", "blob", "about") and parts.hostname not in LOOPBACK


def test_offsite_detects_what_it_must():
    assert offsite("https://cdn.holoviz.org/panel/1.9.4/dist/css/loading.css")
    assert offsite("http://10.0.0.2:5006/static/x.js")
    assert not offsite("http://127.0.0.1:5006/static/extensions/panel/css/markdown.css")
    assert not offsite("ws://localhost:5006/ws") and not offsite("data:image/png;base64,AA==")


@pytest.fixture
def folder(tmp_path):
    """Two demo scenarios, their traffic and the interview exercises; a run of each in t.duckdb (so that
    Compare draws its charts and Audit its rows)."""
    folder = scenario_folder(tmp_path, "support-baseline.yaml", "support-tiered.yaml", exercises=True)
    for name in ("support-baseline.yaml", "support-tiered.yaml"):
        run(folder / name, tmp_path / "t.duckdb", requests=30, seed=7)
    return folder


def test_every_view_loads_only_from_the_app_on_five_starts(folder, tmp_path, page):
    from playwright.sync_api import expect

    browser = page.context.browser
    seen: dict[int, list[str]] = {}
    for start in range(STARTS):
        with serve_app(folder, tmp_path / "t.duckdb", cwd=tmp_path) as url:
            view = browser.new_page(viewport={"width": 1440, "height": 900})
            requests: list[str] = []
            view.on("request", lambda r, requests=requests: requests.append(r.url))
            view.set_default_timeout(60_000)
            expect.set_options(timeout=60_000)
            view.goto(url)
            expect(view.locator(".wb-validation")).to_contain_text("Valid")
            for name, marker in VIEWS:
                tab(view, name)
                view.locator(marker).first.wait_for()
                if name == "Compare":
                    choose(view, ".wb-compare-pick", "▸ support-baseline · ", "▸ support-tiered · ")
                    view.locator(".wb-chart-cost svg, .wb-chart-cost canvas").first.wait_for()
            view.wait_for_load_state("networkidle")
            view.close()
        assert requests, "no request recorded: the recorder is not attached"
        seen[start] = [u for u in requests if offsite(u)]
    assert seen == {i: [] for i in range(STARTS)}
