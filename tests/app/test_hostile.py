"""Hostile names through every view of the app, in Chromium: no dialog, no script, the text shown as written.

Every string that a user's files or a trace database can carry (a model name, a fallback's `to` and
`errors`, a scenario file's name, a draft's name, a traffic file's name, categories, request ids and
prompts, run ids and scenario names in the store, an exercise's folder and brief, the scenarios
folder itself) is a payload that calls ``alert()`` and sets ``window.__pwned`` if any pane renders it
as HTML. The test walks Scenarios, Traffic, Run, Compare, Audit and Exercises; it fails on any dialog,
on ``window.__pwned`` or a changed title, and checks each payload is on screen as literal text. Its last
step renders one payload the unsafe way, to show that the detector fires.

The same server then shows that a trace database held by another process is one clear message in
Compare and Audit, and no traceback in the server's log (checked when the server stops).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import duckdb
import pytest
from browser import choose, serve_app, start_run, tab
from conftest import SCENARIOS
from helpers import run

TITLE = "AI Routing Workbench"


def attack(tag: str) -> str:
    """A payload for any string field: an image whose error handler runs, and a script."""
    return (f"<img src=x onerror=\"window.__pwned=(window.__pwned||[]).concat('{tag}');document.title='pwned';"
            f"alert('{tag}')\"><script>window.__pwned=(window.__pwned||[]).concat('{tag}');alert('{tag}')</script>")


def named(tag: str) -> str:
    """A payload for a file or folder name (no '/'), breaking out of quoted attributes first."""
    return f"\"'><img src=x onerror=\"window.__pwned='{tag}';alert('{tag}')\">{tag}"


BRIEF = ("# Hostile brief\n\nRead this: <img src=x onerror=\"document.title='pwned';alert('brief')\"> and "
         "<script>alert('brief')</script>.\n\n[a link](javascript:alert('brief'))\n")
SCENARIO_FILE = named("scenario-file") + ".yaml"
TRAFFIC_FILE = named("traffic-file") + ".jsonl"
RUN_A, RUN_B = attack("run-a"), attack("run-b")
STORED_A, STORED_B = attack("stored-scenario-a"), attack("stored-scenario-b")
REQUESTS = 20


def _scenario(name: str, extra: str = "") -> str:
    return (f"name: {json.dumps(name)}\ndescription: {json.dumps(attack('description'))}\nseed: 7\nfleet:\n"
            f"  main:\n    model: {json.dumps(attack('model'))}\n    provider: simulated\n"
            "    price: {input_per_mtok: 1, output_per_mtok: 2}\n"
            "router: {policy: static, params: {target: main}}\ngraders: [{type: exact}]\n"
            f"traffic:\n  source: {json.dumps('traffic/' + TRAFFIC_FILE)}\n"
            "  arrival: {process: poisson, rate_per_s: 50}\n" + extra)


def _rename_run(db, old: str, new: str, scenario: str) -> None:
    """A trace database from elsewhere (an older version, a hand edit): hostile run ids and names."""
    with duckdb.connect(str(db)) as con:
        tables = [t for (t,) in con.execute("SELECT DISTINCT table_name FROM information_schema.columns "
                                            "WHERE column_name = 'run_id'").fetchall()]
        for table in tables:
            con.execute(f"UPDATE {table} SET run_id = ? WHERE run_id = ?", [new, old])
        con.execute("UPDATE runs SET scenario = ? WHERE run_id = ?", [scenario, new])


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    """`workbench serve` over a hostile scenarios folder and a store holding two hostile runs;
    yields (url, folder, db)."""
    tmp = tmp_path_factory.mktemp("hostile")
    folder = tmp / named("folder")
    (folder / "traffic").mkdir(parents=True)
    with (folder / "traffic" / TRAFFIC_FILE).open("w") as f:
        for i in range(40):
            f.write(json.dumps({"id": f"{attack('request-id')}-{i}", "prompt": f"{attack('prompt')} #{i}",
                                "category": attack("category") if i % 2 else "billing", "difficulty": 0.5,
                                "expected": "explain_charge"}) + "\n")
    (folder / SCENARIO_FILE).write_text(_scenario("hostile"))
    fallback = (f"fallbacks:\n  main:\n    - {{to: {json.dumps(attack('fallback-to'))}, "
                f"errors: [{json.dumps(attack('fallback-errors'))}]}}\n")
    (folder / "fallback.yaml").write_text(_scenario(attack("draft-name"), fallback))
    exercise = folder / "exercises" / named("exercise")
    exercise.mkdir(parents=True)
    (exercise / "brief.md").write_text(BRIEF)
    shutil.copy(SCENARIOS / "support-baseline.yaml", exercise / "start.yaml")
    db = tmp / "t.duckdb"
    for new, scenario in ((RUN_A, STORED_A), (RUN_B, STORED_B)):
        rid, _ = run(folder / SCENARIO_FILE, db, requests=REQUESTS)
        _rename_run(db, rid, new, scenario)
    with serve_app(folder, db, cwd=tmp) as url:
        yield url, folder, db


def _watch(page) -> list[str]:
    from playwright.sync_api import expect

    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.set_default_timeout(60_000)
    expect.set_options(timeout=30_000)  # a loaded machine is slow: wait, but the page must get there
    return dialogs


def _scenarios(page, folder) -> None:
    from playwright.sync_api import expect

    expect(page.locator(".wb-header")).to_contain_text(str(folder))
    expect(page.locator(".wb-title")).to_contain_text(f"Editing {folder / SCENARIO_FILE}")  # opened at start
    expect(page.locator(".wb-validation")).to_contain_text("Valid: hostile, 1 model(s)")
    expect(page.locator(".wb-model-info")).to_contain_text(f"{attack('model')}: $1 in / $2 out per M tokens")
    expect(page.locator(".wb-fleet")).to_contain_text(attack("model"))
    expect(page.locator(".wb-diagram")).to_contain_text(attack("model")[:34])
    page.locator(".wb-files select").select_option("fallback.yaml")
    page.get_by_role("button", name="Open").click()
    expect(page.locator(".wb-validation")).to_contain_text(str(folder / "fallback.yaml"))
    expect(page.locator(".wb-fallbacks")).to_contain_text(f"on {attack('fallback-errors')} → {attack('fallback-to')}")
    expect(page.locator(".wb-diagram")).to_contain_text(f"1. if main fails ({attack('fallback-errors')}) -> "
                                                        f"{attack('fallback-to')} (not in the fleet or humans!)")


def _traffic(page) -> None:
    from playwright.sync_api import expect

    tab(page, "Traffic")
    page.locator(".wb-traffic-source select").select_option(label=f"file: {TRAFFIC_FILE}")
    summary = page.locator(".wb-traffic-summary")
    expect(summary).to_contain_text(f"settings left open come from {SCENARIO_FILE}")
    expect(summary).to_contain_text(f"40 of 40 requests from {TRAFFIC_FILE}")
    preview = page.locator(".wb-traffic-preview")
    expect(preview).to_contain_text(attack("category"))
    expect(preview).to_contain_text(attack("prompt")[:100])


def _compare(page) -> None:
    from playwright.sync_api import expect

    tab(page, "Compare")
    choose(page, ".wb-compare-pick", f"▸ {STORED_A} · ", f"▸ {STORED_B} · ")  # scenario, date, size, run id
    rows = page.locator(".wb-compare-table .tabulator-row")
    expect(rows).to_have_count(2)
    for i, shown in enumerate([STORED_A, STORED_B]):
        expect(rows.nth(i).locator("[tabulator-field=scenario]")).to_have_text(shown)
    expect(rows.nth(1).locator("[tabulator-field=requests]")).to_have_text(str(REQUESTS))
    expect(page.locator(".wb-compare-summary")).to_contain_text(f"Baseline: {STORED_A} · ")
    expect(page.locator(".wb-compare-baseline select")).to_contain_text(STORED_A)
    expect(page.locator(".wb-projection-text")).to_contain_text(f"{STORED_B}: $")
    expect(page.locator(".wb-verdicts")).to_contain_text(f"{STORED_B} · ")
    page.locator(".wb-chart-quality svg, .wb-chart-quality canvas").first.wait_for()  # categories on an axis


def _audit(page) -> None:
    from playwright.sync_api import expect

    tab(page, "Audit")
    option = page.locator(".wb-audit-run select option", has_text=RUN_B)
    page.locator(".wb-audit-run select").select_option(label=option.text_content())
    expect(page.locator(".wb-audit-header")).to_contain_text(f"{RUN_B}: {REQUESTS} of {REQUESTS} requests")
    page.locator(".wb-audit-requests").get_by_text("billing").first.wait_for()
    requests = page.locator(".wb-audit-requests")
    page.locator(".bk-input-group", has_text="category").locator("select").select_option(label=attack("category"))
    expect(requests).not_to_contain_text("billing")
    expect(requests).to_contain_text(attack("category"))
    requests.locator(".tabulator-row .tabulator-cell").nth(1).click()
    expect(page.locator(".wb-audit-detail")).to_contain_text(f"{attack('request-id')}-")
    expect(page.locator(".wb-audit-detail")).to_contain_text("routed to main")
    expect(page.locator(".wb-audit-attempts")).to_contain_text(attack("model"))


def _run(page) -> None:
    from playwright.sync_api import expect

    tab(page, "Run")
    expect(page.locator(".wb-run-traffic")).to_contain_text(f"Traffic: {TRAFFIC_FILE};")
    items = page.locator(".wb-run-pick .choices__item--choice")
    expect(items.filter(has_text=f"(editor draft): {attack('draft-name')}")).to_have_count(1)
    choose(page, ".wb-run-pick", SCENARIO_FILE)
    start_run(page, REQUESTS)
    expect(page.locator(".wb-run-results")).to_contain_text("hostile")


def _exercises(page) -> None:
    from playwright.sync_api import expect

    tab(page, "Exercises")
    brief = page.locator(".wb-brief")
    expect(brief.locator("h1")).to_contain_text("Hostile brief")  # Markdown is still rendered ...
    expect(brief).to_contain_text("<img src=x onerror=\"document.title='pwned';alert('brief')\">")  # ... HTML not
    expect(brief).to_contain_text("<script>alert('brief')</script>")


def test_hostile_names_stay_text_in_every_view(hostile_app, page):
    url, folder, _ = hostile_app
    dialogs = _watch(page)
    page.goto(url)
    _scenarios(page, folder)
    _traffic(page)
    _compare(page)
    _audit(page)
    _run(page)
    _exercises(page)
    page.wait_for_timeout(1_000)  # an image's error handler runs once its request has failed
    assert dialogs == []
    assert page.evaluate("() => window.__pwned ?? null") is None
    assert page.title() == TITLE
    # the detector is live: the same payload set as HTML the unsafe way is caught
    page.evaluate("p => { const d = document.createElement('div'); d.innerHTML = p; document.body.append(d) }",
                  attack("control"))
    page.wait_for_function("() => window.__pwned")
    assert dialogs == ["control"] and page.evaluate("() => window.__pwned") == ["control"]


def test_locked_store_is_one_message_in_compare_and_audit(hostile_app, page):
    from playwright.sync_api import expect

    url, _, db = hostile_app
    _watch(page)
    page.goto(url)
    expect(page.locator(".wb-validation")).to_contain_text("Valid")
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,sys; c=duckdb.connect({str(db)!r}); "
                               "print('ready', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        said = re.compile(rf"^the trace database is locked by another process \({re.escape(str(db))}, held by PID "
                          rf"{holder.pid}, python[0-9.]*\): close it and retry$")
        for name in ("Compare", "Audit"):
            tab(page, name)
            box = page.locator(f".wb-msg-{name.lower()}")
            expect(box).to_have_text(said)
    finally:
        holder.stdin.close()
        code = holder.wait(timeout=30)
        holder.stdout.close()
    assert code == 0
    tab(page, "Compare")  # readable again: the message goes, the runs are listed
    expect(page.locator(".wb-msg-compare")).to_be_hidden()
    expect(page.locator(".wb-compare-pick .choices__item--choice")).not_to_have_count(0)
    tab(page, "Audit")
    expect(page.locator(".wb-msg-audit")).to_be_hidden()
    expect(page.locator(".wb-audit-header")).to_contain_text("requests")
