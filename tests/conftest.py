"""Shared test helpers: paths, a small scenario factory, traffic writers, a real DuckDB per test.

Tests use real parts: a DuckDB file under tmp_path, the real simulated provider, litellm's real
price map and tokenizer (offline). No network beyond loopback.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
DATASETS = ROOT.parent / "shared" / "datasets"


def routellm_dir() -> Path:
    """The RouteLLM outcome files beside the project (never copied into it); a clear failure if absent."""
    path = DATASETS / "routellm"
    assert path.is_dir(), f"{path} is missing: these tests read ../shared/datasets from the project root"
    return path


@pytest.fixture(scope="session", autouse=True)
def _no_user_data_dir(tmp_path_factory):
    """No test reads or writes the user's own datasets: the default data directory is a fresh temp dir
    (a test that needs datasets points WORKBENCH_DATA_DIR elsewhere with monkeypatch)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_DATA_DIR", str(tmp_path_factory.mktemp("no-user-data")))
        yield


@pytest.fixture(scope="session")
def routellm_data_dir(tmp_path_factory) -> Path:
    """A data directory holding ``routellm-gsm8k`` and ``routellm-mmlu``, imported once per session from
    ../shared/datasets/routellm. Tests point ``WORKBENCH_DATA_DIR`` at it (monkeypatch.setenv) and
    only read it."""
    from workbench.datasets import import_routellm

    folder = tmp_path_factory.mktemp("routellm-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_DATA_DIR", str(folder))
        import_routellm(routellm_dir())
    return folder


@pytest.fixture
def routellm_env(routellm_data_dir, monkeypatch) -> Path:
    """``WORKBENCH_DATA_DIR`` pointed at the imported RouteLLM datasets for one test."""
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(routellm_data_dir))
    return routellm_data_dir


def write_traffic(path: Path, n: int, *, difficulty: float | None = 0.5, category: str = "billing",
                  expected: str | None = "explain_charge", prompt: str = "Why was I charged twice in March?") -> Path:
    """Write ``n`` JSONL requests (ids r0000...) and return the path."""
    with path.open("w") as f:
        for i in range(n):
            rec = {"id": f"r{i:04d}", "prompt": f"{prompt} (#{i})", "category": category}
            if difficulty is not None:
                rec["difficulty"] = difficulty
            if expected is not None:
                rec["expected"] = expected
            f.write(json.dumps(rec) + "\n")
    return path


@pytest.fixture
def scenario_file(tmp_path):
    """Write a scenario YAML (dedented) next to a traffic file of ``n`` requests; return its path."""

    def make(yaml_text: str, n: int = 200, name: str = "s.yaml", **traffic_kw) -> Path:
        traffic = tmp_path / "traffic.jsonl"
        if not traffic.exists():
            write_traffic(traffic, n, **traffic_kw)
        path = tmp_path / name
        path.write_text(textwrap.dedent(yaml_text))
        return path

    return make


@pytest.fixture
def db(tmp_path) -> Path:
    """Path of a fresh trace database (not created yet)."""
    return tmp_path / "traces.duckdb"


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture
def page(tmp_path):
    """A Playwright page in Debian's headless Chromium (skipped outside CI when it is not installed)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: the README's test command installs it with apt-get")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1300, "height": 900})
        finally:
            browser.close()
