"""Every tab fits the window: at 1280x800 and 1920x1080 no view is wider than the page (no horizontal
scroll), Compare with its table and charts drawn and Audit with rows shown. When one is too wide the
failure names the widest elements, so that the culprit is found from the message."""

from __future__ import annotations


import pytest
from browser import choose, serve_app, tab
from helpers import run, scenario_folder

REQUESTS = 40
TABS = ["Scenarios", "Traffic", "Run", "Compare", "Audit", "Exercises", "Sweep", "Rollout"]
SIZES = [(1280, 800), (1920, 1080), (1280, 800)]  # and back: a layout drawn wide must shrink again
# the elements sticking out past the window's right edge that no scrolling box of the page holds (a
# table or editor that scrolls inside itself is fine), widest first: they name the culprit
WIDEST = """(w) => { const all = [];
  const walk = (root) => root.querySelectorAll('*')
    .forEach(e => { all.push(e); if (e.shadowRoot) walk(e.shadowRoot); });
  walk(document.body);
  const up = (e) => e.parentElement || (e.getRootNode() instanceof ShadowRoot ? e.getRootNode().host : null);
  const held = (e) => { for (let a = up(e); a && a !== document.body; a = up(a)) {
      const o = getComputedStyle(a).overflowX;
      if (o !== 'visible' && a.getBoundingClientRect().right <= w + 1) return true; }
    return false; };
  return all.map(e => [e, e.getBoundingClientRect()])
    .filter(([e, r]) => r.right > w + 1 && r.width > 0 && !held(e))
    .sort((a, b) => b[1].right - a[1].right).slice(0, 6)
    .map(([e, r]) => `${e.tagName}.${[...e.classList].join('.')} right=${Math.round(r.right)}`); }"""
CLIPS = "[document.documentElement, document.body].map(e => getComputedStyle(e).overflowX)"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two stored runs over the same tickets (Compare and Audit have content), the exercises, `workbench serve`."""
    # a deep folder: long paths (the header names the store and folder) must wrap, not widen the page
    tmp = tmp_path_factory.mktemp("layout") / ("a-rather-long-folder-name_" * 6)
    folder = scenario_folder(tmp, "support-baseline.yaml", "support-tiered.yaml", exercises=True)
    db = tmp / "t.duckdb"
    run(folder / "support-baseline.yaml", db, requests=REQUESTS)
    run(folder / "support-tiered.yaml", db, requests=REQUESTS)
    with serve_app(folder, db, cwd=tmp) as url:
        yield url


def _overflow(page, width: int) -> tuple[int, list[str]]:
    page.wait_for_timeout(300)  # a resize reflows Bokeh's layout in the next frames
    return page.evaluate("document.documentElement.scrollWidth"), page.evaluate(WIDEST, width)


def test_every_tab_fits_the_window(served, page):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    page.set_default_timeout(30_000)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(served)
    expect(page.locator(".wb-validation")).to_contain_text("Valid")
    assert page.evaluate(CLIPS) == ["visible", "visible"]  # else the page would clip instead of scrolling
    too_wide = []
    for name in TABS:
        page.set_viewport_size({"width": 1280, "height": 800})
        tab(page, name)
        if name == "Compare":  # the table, verdicts and charts drawn
            choose(page, ".wb-compare-pick", "▸ support-baseline · ", "▸ support-tiered · ")
            page.locator(".wb-chart-quality svg, .wb-chart-quality canvas").first.wait_for()
        if name == "Audit":  # rows of a run, with prompt and answer text
            expect(page.locator(".wb-audit-requests .tabulator-row").first).to_be_visible()
            page.locator(".wb-audit-requests .tabulator-row").first.click()  # its detail and attempts too
        for w, h in SIZES:
            page.set_viewport_size({"width": w, "height": h})
            scroll, widest = _overflow(page, w)
            if scroll > w or widest:
                too_wide.append(f"{name} at {w}x{h}: page {scroll} px wide; {widest}")
    assert not too_wide, "\n".join(too_wide)
    # the check can fail: a box wider than the window is caught and named
    page.evaluate("(() => { const d = document.createElement('div'); d.id = 'wb-wide';"
                  " d.style.width = '1500px'; d.style.height = '1px'; document.body.appendChild(d); })()")
    scroll, widest = _overflow(page, 1280)
    assert scroll >= 1500 and widest and widest[0].startswith("DIV. right=15"), (scroll, widest)
