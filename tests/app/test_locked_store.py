"""A trace database held by another process: one clear line in the view that needed it, no traceback.

The holder is a real second process with DuckDB's write lock (DuckDB lets one process write a file);
the app is the one `build_app` gives a browser session, driven through its tabs as a click would.
The same in Chromium: tests/app/test_hostile.py::test_locked_store_is_one_message_in_compare_and_audit.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from contextlib import contextmanager

import panel as pn
import pytest
from conftest import SCENARIOS
from helpers import run

from workbench.app.jobs import RunJob
from workbench.app.shell import build_app


@contextmanager
def held(db):
    """Another process holding ``db`` open for writing; yields its PID."""
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,sys; c=duckdb.connect({str(db)!r}); "
                               "print('ready', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder.pid
    finally:
        holder.stdin.close()
        code = holder.wait(timeout=30)
        holder.stdout.close()
    assert code == 0


def said(db, pid: int) -> re.Pattern:
    return re.compile(rf"the trace database is locked by another process \({re.escape(str(db))}, held by PID "
                      rf"{pid}, python[0-9.]*\): close it and retry")


def box(app: pn.Column, name: str) -> pn.pane.Alert:
    (alert,) = [a for a in app.select(pn.pane.Alert) if f"wb-msg-{name}" in a.css_classes]
    return alert


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "t.duckdb"
    run(SCENARIOS / "support-baseline.yaml", path, requests=20)
    return path


# Bokeh's ColumnDataSource.from_df (behind every Tabulator the whole app builds) calls pandas'
# reset_index(inplace=True), deprecated in pandas 3.1: Bokeh's to fix, not a warning of ours.
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index is deprecated")
def test_compare_and_audit_say_the_store_is_locked(db, caplog):
    app = build_app(db, SCENARIOS)
    tabs = app[1]
    caplog.set_level(logging.DEBUG)
    with held(db) as pid:
        for index, name in ((3, "compare"), (4, "audit")):
            tabs.active = index
            alert = box(app, name)
            assert alert.visible and alert.alert_type == "danger"
            assert said(db, pid).search(alert.object), alert.object
            assert "Traceback" not in alert.object and "--db" not in alert.object
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    tabs.active = 3  # released: the next look reads the store and the message goes
    assert not box(app, "compare").visible
    compare = [w for w in app.select(pn.widgets.MultiChoice) if "wb-compare-pick" in w.css_classes][0]
    assert len(compare.options) == 1
    tabs.active = 4
    assert not box(app, "audit").visible


def test_a_run_into_a_locked_store_fails_with_the_same_line(db):
    job = RunJob()
    with held(db) as pid:
        job.start([SCENARIOS / "support-baseline.yaml"], db, requests=10)
        assert job.wait(120)
    assert job.state == "failed" and said(db, pid).fullmatch(job.message), job.message
