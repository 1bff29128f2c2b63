"""A hiring panel's journey in Chromium, and how fast the page answers.

A panel member scores a candidate twice (the starting design, then a better one), sees the history,
opens the scored run in Audit, downloads the scorecard; a design that does not parse says why beside
the Submit button; switching exercises with edits asks first; "Reset to start" restores the start.
The same server measures the time from page load to an interactive Scenarios view and from clicking
Run to the first progress update (printed; goals 2 s and 1 s), and keeps screenshots at 1280x800 and
1920x1080 in test-output/app/.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from browser import choose, serve_app, tab
from conftest import ROOT, SCENARIOS
from helpers import scenario_folder

OUTPUT = ROOT / "test-output" / "app"
EXERCISE = "cost-overrun"
CANDIDATE = "Ada Lovelace"
SIZES = [(1280, 800), (1920, 1080)]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """`workbench serve` over two demo scenarios, their traffic and the interview exercises."""
    tmp = tmp_path_factory.mktemp("panel")
    folder = scenario_folder(tmp, "support-baseline.yaml", "support-tiered.yaml", exercises=True)
    with serve_app(folder, tmp / "t.duckdb", cwd=tmp) as url:
        yield url, tmp


def _shots(page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        page.screenshot(path=str(OUTPUT / f"{name}-{w}x{h}.png"))
    page.set_viewport_size({"width": 1280, "height": 800})


def _type_design(page, text: str) -> None:
    page.locator(".wb-design .ace_content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def _load(page, url: str) -> float:
    """Open the app; seconds from navigation to a Scenarios view that answers (validated, Open enabled)."""
    from playwright.sync_api import expect

    page.set_default_timeout(60_000)
    expect.set_options(timeout=60_000)  # a loaded machine is slow: wait, but the page must get there
    t0 = time.monotonic()
    page.goto(url)
    expect(page.locator(".wb-validation")).to_contain_text("Valid")
    expect(page.get_by_role("button", name="Open", exact=True)).to_be_enabled()
    return time.monotonic() - t0


def test_page_load_and_run_to_first_progress(app, page, capsys):
    from playwright.sync_api import expect

    url, _ = app
    page.set_viewport_size({"width": 1280, "height": 800})
    loads = [_load(page, url)]
    page.get_by_text("chat models with a price").wait_for(timeout=120_000)  # the background loads are done
    loads.append(_load(page, url))  # a page of a server whose first-use loads are over
    # the file list is checked once the page is drawn: each file's policy and no error
    listing = page.locator(".wb-listing .tabulator-row")
    expect(listing.filter(has_text="support-tiered").locator("[tabulator-field=policy]")).to_have_text("weighted")
    expect(listing.filter(has_text="support-baseline").locator("[tabulator-field=policy]")).to_have_text("static")
    expect(page.locator(".wb-listing [tabulator-field=error]", has_text="checking")).to_have_count(0)
    box = page.locator(".wb-yaml").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280  # the YAML panel fits a 1280 px window
    _shots(page, "scenarios")
    tab(page, "Run")
    choose(page, ".wb-run-pick", "support-baseline.yaml")
    count = page.locator(".wb-run-requests input")
    count.fill("300")
    count.press("Enter")
    t0 = time.monotonic()
    page.locator(".wb-run-start button").click()
    page.locator(".wb-live").wait_for()
    first = time.monotonic() - t0
    expect(page.locator(".wb-done")).not_to_have_text("0", timeout=120_000)  # the first requests counted
    requests = time.monotonic() - t0
    expect(page.locator(".wb-live[data-state=completed]")).to_have_count(1, timeout=120_000)
    expect(page.locator(".wb-run-results")).to_contain_text("support-baseline")
    expect(page.locator(".wb-run-results")).to_contain_text("%")  # the error rate as a percentage
    live = page.locator(".wb-live").inner_text()  # the scenario's own cost beside its name, the job's apart
    own = re.search(r"support-baseline: requests 300 / 300, cost so far \$(\d+\.\d{4})", live)
    assert own and float(own[1]) > 0 and f"This job: ${own[1]} over 1 scenario(s)" in live, live
    _shots(page, "run")
    with capsys.disabled():
        print(f"\n[timing] page load to interactive Scenarios: first page {loads[0]:.2f} s, once the server's "
              f"first-use loads are done {loads[1]:.2f} s "
              f"(goal < 2 s); Run click to first progress line {first:.2f} s (goal < 1 s), to first "
              f"requests counted {requests:.2f} s")
    assert loads[1] < 20 and first < 5  # far above the goals: a loaded shared machine must not fail the test


def test_a_panel_scores_a_candidate_twice_and_downloads_a_scorecard(app, page):
    from playwright.sync_api import expect

    url, _ = app
    page.set_viewport_size({"width": 1280, "height": 800})
    _load(page, url)
    tab(page, "Exercises")
    expect(page.locator(".wb-brief h1")).to_be_visible()
    page.locator(".wb-exercise-pick select").select_option(EXERCISE)
    start = (SCENARIOS / "exercises" / EXERCISE / "start.yaml").read_text()
    msg = page.locator(".wb-msg-exercises")
    page.locator(".wb-submit button").click()  # no candidate yet: said beside the button
    expect(msg).to_contain_text("type the candidate's name first")
    who = page.locator(".wb-candidate input")
    who.fill(CANDIDATE)
    who.press("Enter")
    page.locator(".wb-timer-start button").click()
    expect(page.locator(".wb-timer")).to_contain_text("elapsed")
    # a design that does not parse: the parser's message, naming the candidate's file, beside Submit
    _type_design(page, start.replace("fleet:", "flet:"))
    page.locator(".wb-submit button").click()
    expect(msg).to_contain_text(f"ada-lovelace-{EXERCISE}.yaml:")
    expect(msg).to_contain_text("field 'fleet'")
    # first submission: the starting design as given
    _type_design(page, start)
    page.locator(".wb-submit button").click()
    expect(msg).to_contain_text(f"scored {CANDIDATE}'s submission: level fails", timeout=120_000)
    expect(page.locator(".wb-result .wb-score")).to_be_visible()
    expect(page.locator(".wb-result")).not_to_contain_text("None")
    history = page.locator(".wb-history .tabulator-row")
    expect(history).to_have_count(1)
    # switching exercises with an edited design asks first; Cancel keeps everything
    _type_design(page, start + "\n# my notes\n")
    page.locator(".wb-exercise-pick select").select_option("failure-drill")
    expect(page.locator(".wb-confirm-exercises")).to_contain_text("The design has edits")
    page.locator(".wb-no-exercises button").click()
    expect(page.locator(".wb-exercise-pick select")).to_have_value(EXERCISE)
    # second submission: the reference design
    _type_design(page, (SCENARIOS / "exercises" / EXERCISE / "solution.yaml").read_text())
    page.locator(".wb-submit button").click()
    expect(msg).to_contain_text(re.compile(r"submission: level (meets|exceeds)"), timeout=120_000)
    expect(history).to_have_count(2)
    expect(page.locator(".wb-history")).to_contain_text("fails")
    _shots(page, "exercises")
    with page.expect_download() as download:
        page.locator(".wb-scorecard button").click()
    card = Path(download.value.path()).read_text()
    assert f"<h1>Scorecard: {CANDIDATE}</h1>" in card and card.count("<h2>Submission") == 2
    assert "<td><b>fails</b></td>" in card and re.search(r"<td><b>(meets|exceeds)</b></td>", card)
    assert "<script" not in card
    run = page.locator(".wb-history .tabulator-row").nth(1).locator("[tabulator-field=run]").inner_text()
    assert re.match(r"^[a-z0-9-]+-\d{8}T\d{6}-[0-9a-f]{6}$", run), run
    # the scored run opens in Audit
    page.get_by_role("button", name="Audit the selected run").click()
    expect(page.locator(".wb-audit-run select")).to_have_value(re.compile(f"{re.escape(run)}$"))
    expect(page.locator(".wb-audit-header")).to_contain_text("requests")
    # reset to start: asked first (the design has edits), then the starting design again
    tab(page, "Exercises")
    page.locator(".wb-reset button").click()
    page.locator(".wb-yes-exercises button").click()
    expect(msg).to_contain_text("reset: the starting design")
    expect(page.locator(".wb-design .ace_content")).to_contain_text("Starting design")
    expect(page.locator(".wb-timer")).to_have_text("")


def test_scenario_files_save_over_duplicate_delete_and_unsaved_edits(app, page):
    from playwright.sync_api import expect

    url, tmp = app
    folder = tmp / "scenarios"
    page.set_viewport_size({"width": 1280, "height": 800})
    _load(page, url)
    files, title = page.locator(".wb-files select"), page.locator(".wb-title")
    files.select_option("support-tiered.yaml")
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.locator(".wb-validation")).to_contain_text("Valid: support-tiered")
    assert page.evaluate("() => window.onbeforeunload") is None
    text = (folder / "support-tiered.yaml").read_text()
    page.locator(".wb-yaml .ace_content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text.replace("seed: 42", "seed: 43"))
    expect(title).to_contain_text("(unsaved edits)")
    page.wait_for_function("() => typeof window.onbeforeunload === 'function'")  # leaving the page asks
    # New with unsaved edits asks first, beside the file buttons; Cancel keeps the draft
    page.get_by_role("button", name="New", exact=True).click()
    confirm = page.locator(".wb-confirm-files")
    expect(confirm).to_contain_text("The draft has unsaved edits. Start a new design anyway")
    page.locator(".wb-no-files button").click()
    expect(confirm).to_be_hidden()
    expect(title).to_contain_text("support-tiered.yaml")
    # Save over the open file: asked, then written
    page.locator(".wb-save button").click()
    expect(page.locator(".wb-confirm-save")).to_contain_text("Save over support-tiered.yaml?")
    page.locator(".wb-yes-save button").click()
    expect(page.locator(".wb-msg-scenarios")).to_contain_text("support-tiered.yaml (name: support-tiered)")
    expect(title).not_to_contain_text("(unsaved edits)")
    assert "seed: 43" in (folder / "support-tiered.yaml").read_text()
    page.wait_for_function("() => window.onbeforeunload === null")
    # Save as an existing name: asked to replace; Cancel writes nothing
    page.get_by_placeholder("my-design").fill("support-baseline")
    page.get_by_role("button", name="Save as").click()
    expect(page.locator(".wb-confirm-save")).to_contain_text("support-baseline.yaml already exists. Replace it")
    page.locator(".wb-no-save button").click()
    assert "seed: 43" not in (folder / "support-baseline.yaml").read_text()
    # duplicate, then delete the copy (asked first)
    page.locator(".wb-duplicate button").click()
    expect(page.locator(".wb-msg-files")).to_contain_text("to support-tiered-copy.yaml")
    assert "name: support-tiered-copy" in (folder / "support-tiered-copy.yaml").read_text()
    expect(files).to_have_value("support-tiered-copy.yaml")
    page.locator(".wb-delete button").click()
    expect(confirm).to_contain_text("Delete the file support-tiered-copy.yaml?")
    page.locator(".wb-yes-files button").click()
    expect(page.locator(".wb-msg-files")).to_contain_text("deleted support-tiered-copy.yaml")
    assert not (folder / "support-tiered-copy.yaml").exists()
    expect(files.locator("option")).to_have_count(2)
