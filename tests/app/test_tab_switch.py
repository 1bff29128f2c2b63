"""A tab switch does no work when nothing changed, and still shows runs stored elsewhere.

The pages over stored runs (Compare, Audit, Sweep) re-read the store only when ``AppState.runs_changed``
is bumped: by a job of the page, a run labelled or deleted on the page, or a switch that finds the
store's fingerprint of its runs changed (a run written by another process, as the CLI does). The app
is the one `build_app` gives a browser session, driven through its tabs as a click would; the store
reads are counted by wrapping the real listing functions (they still read the real DuckDB file).
"""

from __future__ import annotations

from collections import Counter

import panel as pn
import pytest
from helpers import run, scenario_folder

from workbench.app import audit, compare, shell, sweep
from workbench.app.shell import TABS, build_app


@pytest.fixture
def served(tmp_path, monkeypatch):
    """build_app over two demo scenarios and one stored run; a counter of each page's store reads."""
    folder = scenario_folder(tmp_path, "support-baseline.yaml", "support-tiered.yaml")
    db = tmp_path / "t.duckdb"
    run(folder / "support-baseline.yaml", db, requests=20)
    reads: Counter[str] = Counter()
    for module, name in ((compare, "list_runs"), (audit, "list_runs"), (sweep, "list_sweeps")):
        real = getattr(module, name)

        def counted(*args, _real=real, _page=module.__name__.rsplit(".", 1)[1], **kw):
            reads[_page] += 1
            return _real(*args, **kw)
        monkeypatch.setattr(module, name, counted)
    monkeypatch.setattr(shell, "warm", lambda: None)  # no background loads: this test reads no catalog
    return build_app(db, folder), folder, db, reads


def _picker(app: pn.Column, css: str):
    return next(w for w in app.select(pn.widgets.Widget) if css in w.css_classes)


# Bokeh's ColumnDataSource.from_df (behind every Tabulator the whole app builds) calls pandas'
# reset_index(inplace=True), deprecated in pandas 3.1: Bokeh's to fix, not a warning of ours.
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index is deprecated")
def test_switching_tabs_reads_the_runs_only_when_they_changed(served):
    app, folder, db, reads = served
    tabs = app[1]
    for name in TABS:  # every page once: the first look at a page over runs reads them (once for all three)
        tabs.active = TABS.index(name)
    built = dict(reads)
    assert built == {"compare": 1, "audit": 1, "sweep": 2}, built  # Sweep's table is filled once at build too
    for _ in range(3):
        for name in ("Compare", "Audit", "Sweep", "Scenarios", "Traffic"):
            tabs.active = TABS.index(name)
    assert dict(reads) == built  # nothing changed: no page re-read its runs
    assert len(_picker(app, "wb-compare-pick").options) == 1
    # a run written by another process (as `workbench run` does) shows on the next switch, read once
    run(folder / "support-tiered.yaml", db, requests=20)
    tabs.active = TABS.index("Compare")
    assert len(_picker(app, "wb-compare-pick").options) == 2
    assert reads["compare"] == built["compare"] + 1 and reads["audit"] == built["audit"] + 1
    assert any("support-tiered" in label for label in _picker(app, "wb-audit-run").options)
    tabs.active = TABS.index("Audit")
    tabs.active = TABS.index("Compare")
    assert reads["compare"] == built["compare"] + 1  # and not again
