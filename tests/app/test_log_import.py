"""The Traffic page's log import (issue 15): picked files become a dataset; the view shows what was read,
skipped and scrubbed (counts, never values) and previews the traffic as a run replays it; a bad file
shows one error and writes nothing. The last test drives it in Chromium through the file picker."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.app.log_import import LogImport
from workbench.store.outcomes import dataset_path

# Panel's Tabulator calls reset_index(inplace=True) on a frame; pandas 3.1 deprecates it (not ours)
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
FIX = Path(__file__).resolve().parent.parent / "fixtures" / "logs"


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_picked_files_are_imported_counted_and_previewed():
    done: list[str] = []
    view = LogImport(on_done=done.append)
    view.files.param.update(value=[(FIX / "batch_output.jsonl").read_bytes(), (FIX / "batch_input.jsonl").read_bytes()],
                            filename=["out.jsonl", "in.jsonl"])
    view.format.value, view.dataset.value = "openai-batch", "from-app"
    view.names.value = "Acme"
    view.button.clicks += 1
    assert done == ["from-app"] and dataset_path("from-app").exists()
    report = view.report.object
    assert "4 records read" in report and "3 prompts" in report and "skipped 1: failed call (error)" in report
    assert "scrubbed: name 3 (1 distinct)" in report  # the system prompt names the company, three times
    frame = view.preview.value
    assert frame["id"].tolist() == ["req-2", "req-1", "req-0"]  # the output file's order (it lists them reversed)
    assert set(frame["logged model"]) == {"gpt-4o-mini"} and frame["arrived"].iloc[0] == "2025-12-01T11:53:22+00:00"


def test_a_bad_file_shows_one_error_and_writes_nothing(data_dir):
    view = LogImport()
    text = (FIX / "openai.jsonl").read_text().splitlines()
    view.files.param.update(value=[("\n".join([text[0], text[1][:40]]) + "\n").encode()], filename=["log.jsonl"])
    view.format.value, view.dataset.value = "openai", "bad"
    view.button.clicks += 1
    shown = view.msg.pane.object
    assert "log.jsonl:2" in shown and "invalid JSON" in shown
    assert not dataset_path("bad").exists() and view.report.object == ""
    view.files.param.update(value=[], filename=[])
    view.button.clicks += 1
    assert "pick one or more log files" in view.msg.pane.object


@pytest.mark.slow
def test_the_traffic_tab_imports_a_log_in_a_browser(tmp_path, page, data_dir):
    """`workbench serve` in Chromium: pick a LiteLLM spend log with the file input, import it, see the
    counts and the preview, and find the new dataset among the traffic sources."""
    import os

    from browser import serve_app, tab
    from playwright.sync_api import expect

    (tmp_path / "scenarios").mkdir()
    os.environ["WORKBENCH_DATA_DIR"] = str(data_dir)  # the server inherits it (monkeypatch restores it)
    with serve_app(tmp_path / "scenarios", tmp_path / "t.duckdb", cwd=tmp_path) as url:
        page.set_default_timeout(60_000)
        expect.set_options(timeout=30_000)
        page.goto(url)
        tab(page, "Traffic")
        page.locator(".wb-log-files input[type=file]").set_input_files(str(FIX / "litellm_spendlogs.jsonl"))
        page.locator(".wb-log-name input").fill("browser-log")
        page.locator(".wb-log-name input").press("Enter")
        page.locator(".wb-log-import button").click()
        report = page.locator(".wb-log-report")
        expect(report).to_contain_text("6 records read")
        expect(report).to_contain_text("skipped 1: failed call (status)")
        expect(page.locator(".wb-log-preview .tabulator-row")).to_have_count(4)
        expect(page.locator(".wb-log-preview")).to_contain_text("How do I reset my password?")
        expect(page.locator(".wb-traffic-source select")).to_contain_text("dataset: browser-log (4 prompts)")
    assert dataset_path("browser-log").exists()
