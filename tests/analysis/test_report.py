"""The leader's report, opened in a real headless Chromium: offline, every chart drawn, numbers = --json."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, SCENARIOS
from helpers import wb

BASELINE, TIERED = str(SCENARIOS / "support-baseline.yaml"), str(SCENARIOS / "support-tiered.yaml")
OUTPUT = ROOT / "test-output"


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """Two demo scenarios compared once, with --json and --report."""
    tmp = tmp_path_factory.mktemp("report")
    res = wb("compare", BASELINE, TIERED, "--requests", "200", "--db", str(tmp / "t.duckdb"), "--json",
             "--no-progress", "--report", str(tmp / "report.html"), "--volume", "50000", cwd=tmp)
    assert res.returncode == 0, res.stderr
    return tmp, json.loads(res.stdout)


def test_report_renders_offline_with_every_chart(compared, page):
    tmp, runs = compared
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto((tmp / "report.html").as_uri())
    charts = page.locator("div.chart")
    n = charts.count()
    assert n >= 5
    page.wait_for_function(f"document.querySelectorAll('div.chart[data-rendered=yes]').length == {n}",
                           timeout=30_000)
    for i in range(n):
        assert charts.nth(i).locator("svg").count() >= 1, charts.nth(i).get_attribute("data-chart")
    assert all(u.startswith(("file:", "data:", "about:", "blob:")) for u in requested), requested
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "report.png"), full_page=True)
    text = page.inner_text("body")
    assert "(simulated)" in text and "simulated" in page.inner_text("h1")


def test_report_numbers_match_json(compared, page):
    tmp, runs = compared
    page.goto((tmp / "report.html").as_uri())
    for r in runs:
        row = page.locator(f"tr[data-run='{r['run_id']}']")
        cost = row.locator("td[data-col=cost_usd]").inner_text()
        assert cost == (f"${r['cost_usd']:,.2f}" if r["cost_usd"] >= 1 else f"${r['cost_usd']:,.4f}")
        assert row.locator("td[data-col=quality]").inner_text() == f"{r['quality']:.3f}"
        assert row.locator("td[data-col=error_rate]").inner_text() == f"{r['error_rate']:.1%}"
        assert row.locator("td[data-col=requests]").inner_text() == "200"
    html = (tmp / "report.html").read_text()
    assert html.count("vegaEmbed(") == 1 and "<script src" not in html  # the bundle is inlined once
    assert "workbench run " in html and "--seed 42" in html  # how to repeat each run
    assert "no routing needed" not in html and runs[0]["no_routing_needed"] is None  # tiered: cheaper, worse


def test_report_command_from_stored_runs_and_unknown_run(compared):
    tmp, runs = compared
    ids = [r["run_id"] for r in runs]
    res = wb("report", *ids, "--baseline", ids[1], "--db", str(tmp / "t.duckdb"), "--out", str(tmp / "r2.html"),
             cwd=tmp)
    assert res.returncode == 0, res.stderr
    assert "baseline <b>support-tiered</b>" in (tmp / "r2.html").read_text()
    bad = wb("report", "nope", "--db", str(tmp / "t.duckdb"), "--out", str(tmp / "r3.html"), cwd=tmp)
    assert bad.returncode == 2 and "no run 'nope'" in bad.stderr and not (tmp / "r3.html").exists()


HOSTILE = ["<!--", "</script><script>alert(1)</script>", "a&b\u2028c\u2029 -->"]


def test_report_charts_draw_whatever_the_category_names(tmp_path, page):
    """Names in the chart data that could end or comment out the <script> holding it ("<!--" emptied
    every chart) are JSON \\u escapes: every chart draws, no script runs, the names show as text."""
    lines = (SCENARIOS / "traffic" / "support_tickets.jsonl").read_text().splitlines()[:60]
    records = [{**json.loads(line), "category": HOSTILE[i % 3]} for i, line in enumerate(lines)]
    traffic = tmp_path / "hostile.jsonl"
    traffic.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "report.html"
    res = wb("compare", BASELINE, TIERED, "--traffic", str(traffic), "--db", str(tmp_path / "t.duckdb"),
             "--no-progress", "--report", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    html = out.read_text()
    payload = html.split('<script id="specs" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert not set("<>&\u2028\u2029") & set(payload)
    shown = {r["category"] for r in json.loads(payload)["quality"]["datasets"].popitem()[1]}
    assert shown == {*HOSTILE[:2], "a&b\\u2028c\\u2029 -->"}  # separators drawn as escapes, not line breaks
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(out.as_uri())
    n = page.locator("div.chart").count()
    assert n >= 5
    page.wait_for_function(f"document.querySelectorAll('div.chart[data-rendered=yes]').length == {n}",
                           timeout=30_000)
    assert "<!--" in page.locator("#chart-quality svg").text_content() and dialogs == []
