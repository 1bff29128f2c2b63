"""Shared pieces of the browser tests: `workbench serve` in a subprocess, tabs, the multi-choice picker.

The server is started as a user starts it (the console script, loopback, a free port) and stopped with
the app's own Ctrl-C handling; it must exit 0 and log no error of ours (a traceback in the server log
fails the test that started it).
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import ROOT


@contextmanager
def serve_app(folder: Path, db: Path, cwd: Path) -> Iterator[str]:
    """Run ``workbench serve --scenarios FOLDER --db DB``; yields its URL; checks how it ended."""
    script = Path(sys.executable).parent / "workbench"
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DB"}
    proc = subprocess.Popen([str(script), "serve", "--port", "0", "--db", str(db), "--scenarios", str(folder)],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield url_of(proc)
    finally:
        proc.send_signal(signal.SIGINT)  # the app's own Ctrl-C handling: stop the server, exit 0
        try:
            # generous: on a loaded machine the first-use loads (litellm, vl-convert's bundle) may still be
            # running in their threads when the server is told to stop
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, f"exit {proc.returncode}: {err[-2000:]}"
    # tornado may log a write to a websocket the closing browser already shut; nothing of ours may fail
    records = re.split(r"\n(?=[A-Z]+:)", err.strip())
    assert all("WebSocketClosedError" in r for r in records if r.startswith("ERROR") or "Traceback" in r), err[-3000:]
    assert str(ROOT / "workbench") not in err, err[-3000:]


def url_of(proc: subprocess.Popen, timeout: float = 90) -> str:
    """The URL `workbench serve` prints on stdout (it must be loopback)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if "http://" in line:
                assert line.startswith("workbench app: http://127.0.0.1:"), line  # loopback by default
                return line.split()[2]
        if proc.poll() is not None:
            raise AssertionError(f"workbench serve exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
    raise AssertionError("workbench serve printed no URL in time")


def tab(page, name: str) -> None:
    """Show the app's tab ``name``."""
    page.locator(".bk-tab", has_text=name).click()


def start_run(page, requests: int) -> None:
    """On the Run tab, with runs picked: set the request count, start, and wait until the run completes."""
    from playwright.sync_api import expect

    count = page.locator(".wb-run-requests input")
    count.fill(str(requests))
    count.press("Enter")
    page.locator(".wb-run-start button").click()
    expect(page.locator(".wb-live[data-state=completed]")).to_have_count(1, timeout=90_000)


def choose(page, picker: str, *labels: str) -> None:
    """Pick ``labels``, in order, in the multi-choice ``picker`` (a CSS selector) by clicking its entries.

    A page re-lists its options when shown (the widget is redrawn): wait until every label is listed,
    then open the list and click; a click that lands on a list being redrawn is retried.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    items = page.locator(f"{picker} .choices__item--choice")
    chosen = page.locator(f"{picker} .choices__list--multiple")
    for label in labels:
        expect(items.filter(has_text=label)).to_have_count(1)
    for label in labels:
        for _ in range(5):
            page.locator(f"{picker} input").click()
            try:
                items.filter(has_text=label).click(timeout=3_000)
                break
            except PlaywrightTimeout:
                page.keyboard.press("Escape")
        expect(chosen).to_contain_text(label)
    page.keyboard.press("Escape")
