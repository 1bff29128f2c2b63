"""The Traffic page: which requests the next run replays, how many, when they arrive; a preview.

Why the preview goes through the runner's own loader, sampler and arrival clock: what the page shows
is exactly what the run will replay (same sample and order for the same seed), so a surprising mix of
categories or a bursty arrival pattern is seen before any money, simulated or not, is spent.
"""

from __future__ import annotations

import pandas as pd
import panel as pn

from workbench.app.log_import import LogImport
from workbench.app.safe import html
from workbench.app.sources import DATASET_PREFIX, list_datasets, list_traffic_files
from workbench.app.state import AppState
from workbench.app.ui import Messages, guarded
from workbench.errors import InputError

__all__ = ["TrafficView"]

_OWN = "(the first scenario's own traffic)"


class TrafficView(pn.viewable.Viewer):
    """The Traffic tab; ``panel`` is its layout."""

    def __init__(self, state: AppState, **params):
        super().__init__(**params)
        self.state, self.choice = state, state.traffic
        self.msg = Messages("traffic")
        g = guarded(self.msg)
        W, c = pn.widgets, self.choice
        self.source = W.Select(label="traffic file or imported dataset", width=380, css_classes=["wb-traffic-source"])
        self.source.param.watch(g(lambda e: setattr(c, "source", e.new or "")), "value")
        self.sample = W.IntInput.from_param(c.param.sample, label="sample size (0: the scenario's)", width=200)
        self.process = W.Select.from_param(c.param.process, label="arrival process", width=180)
        self.rate = W.FloatInput.from_param(c.param.rate_per_s, label="rate (requests/s)", width=140)
        self.speedup = W.FloatInput.from_param(c.param.speedup, label="speed-up of recorded times", width=180)
        self.bursts = pn.Row(W.FloatInput.from_param(c.param.burst_at_s, label="burst at (s)", width=120),
                             W.FloatInput.from_param(c.param.burst_duration_s, label="lasting (s)", width=120),
                             W.FloatInput.from_param(c.param.burst_rate_per_s, label="burst rate (req/s)", width=140))
        self.seed = W.TextInput(label="seed (blank: the first scenario's)", width=220)
        self.seed.param.watch(g(self._seed), "value")
        self.datasets = W.Tabulator(pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                    selectable=False, visible=False)
        self.summary = pn.pane.HTML("", css_classes=["wb-traffic-summary"])
        self.preview = W.Tabulator(pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                   selectable=False, height=420, css_classes=["wb-traffic-preview"])
        c.param.watch(lambda e: self._update(), ["source", "sample", "process", "rate_per_s", "speedup", "seed",
                                                 "burst_at_s", "burst_duration_s", "burst_rate_per_s"])
        self._update = g(self._update_preview)
        self.panel = pn.Column(
            pn.pane.Markdown("### Traffic for the next run\nEvery scenario of a run replays the same requests at "
                             "the same times with the same seed; what you leave open comes from the first "
                             "scenario of the run."),
            self.msg.pane, pn.Row(self.source, self.sample, self.seed), pn.Row(self.process, self.rate, self.speedup),
            self.bursts, self.datasets, self.summary, self.preview,
            LogImport(on_done=lambda _name: self.refresh()), sizing_mode="stretch_width")
        self._seen: tuple = ()  # what the last refresh listed and previewed
        self.refresh()

    def __panel__(self) -> pn.Column:
        return self.panel

    def refresh(self) -> None:
        """Re-list traffic files and datasets, and redraw the preview; nothing when none of them, nor the
        scenario the preview takes its settings from, changed since the last time (a tab switch is cheap)."""
        options = {_OWN: ""}
        files = list_traffic_files(self.choice.folder)
        for f in files:
            options[f"file: {f.name}"] = str(f)
        datasets = list_datasets()
        for d in datasets:
            options[f"dataset: {d.get('name')} ({d.get('prompts', '?')} prompts)"] = DATASET_PREFIX + str(d.get("name"))
        try:
            base: object = self.state.traffic_base()
        except InputError as exc:  # no scenario yet: the preview says so
            base = str(exc)
        seen = (options, repr(datasets), [(f, f.stat().st_mtime_ns) for f in files if f.exists()], base)
        if seen == self._seen:
            return
        self._seen = seen
        self.source.options = options
        self.source.value = self.choice.source if self.choice.source in options.values() else ""
        self.datasets.value = pd.DataFrame(datasets)
        self.datasets.visible = bool(datasets)
        self._update()

    def _seed(self, event) -> None:
        text = event.new.strip()
        if text and not text.lstrip("-").isdigit():
            raise InputError(f"seed must be a whole number, got {text!r}", field="seed")
        self.choice.seed = int(text) if text else None

    def _update_preview(self) -> None:
        p = self.choice.process
        self.rate.visible = p in ("poisson", "burst")
        self.speedup.visible = p == "recorded"
        self.bursts.visible = p == "burst"
        text, source = self.state.traffic_base()
        frame, line = self.choice.preview(text, source)
        self.msg.clear()
        self.summary.object = html("<p><b>Preview</b> (settings left open come from {}): {}</p>", source.name, line)
        self.preview.value = frame
