"""A form edit in the browser keeps the scenario file's comments (issue 13 item 4): `workbench serve`,
Chromium, a library scenario whose brief is a comment block, one field changed in the form, Save as."""

from __future__ import annotations

import shutil

import pytest
from browser import serve_app
from conftest import SCENARIOS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """A running `workbench serve` over a copy of support-tiered (a brief on top, a comment beside an outage)."""
    tmp = tmp_path_factory.mktemp("app")
    folder = tmp / "scenarios"
    folder.mkdir()
    shutil.copy(SCENARIOS / "support-tiered.yaml", folder / "support-tiered.yaml")
    shutil.copytree(SCENARIOS / "traffic", folder / "traffic")
    with serve_app(folder, tmp / "t.duckdb", cwd=tmp) as url:
        yield url, folder


def test_a_form_edit_saved_keeps_every_comment(app, page):
    from playwright.sync_api import expect

    url, folder = app
    original = (folder / "support-tiered.yaml").read_text()
    comments = [line for line in original.splitlines() if "#" in line]
    assert len(comments) >= 6 and original.count("seed: 42\n") == 1
    page.set_default_timeout(60_000)
    expect.set_options(timeout=30_000)
    page.goto(url)
    validation = page.locator(".wb-validation")
    page.locator(".wb-files select").select_option("support-tiered.yaml")
    page.get_by_role("button", name="Open").click()
    expect(validation).to_contain_text("support-tiered, 2 model(s), 1 human node(s)")
    seed = page.locator(".bk-input-group", has_text="seed").locator("input")
    expect(seed).to_have_value("42")
    seed.fill("7")
    seed.press("Enter")
    page.get_by_placeholder("my-design").fill("tiered-seven")
    page.get_by_role("button", name="Save as").click()
    expect(page.locator(".wb-msg-scenarios")).to_contain_text("tiered-seven.yaml (name: tiered-seven)")
    saved = (folder / "tiered-seven.yaml").read_text()
    assert [line for line in saved.splitlines() if "#" in line] == comments
    # byte for byte the original but the edited seed and the name Save as gives the copy
    assert saved == original.replace("seed: 42\n", "seed: 7\n").replace("name: support-tiered\n",
                                                                          "name: tiered-seven\n")
