"""The Traffic page's log import: pick log files, import them as a dataset, see what was read and a preview.

Why in the app at all: the question "what would this design do to *our* traffic?" starts from a log a
team already has. The picker hands the files to the same function the CLI calls
(:func:`workbench.datasets.logs.import_log`), so the counts shown (read, repeats, skipped and why,
scrubbed per kind, never a value) are the command's; the preview is the dataset's traffic as a run
replays it (:func:`workbench.traffic.load_dataset_traffic`). The uploaded bytes are written to a private
temporary folder, imported, and removed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn

from workbench.app.safe import html
from workbench.app.ui import Messages, guarded
from workbench.errors import InputError

__all__ = ["LogImport", "FORMAT_LABELS"]

#: Picker labels of the log formats (the CLI's FORMAT names).
FORMAT_LABELS = {"LiteLLM Proxy spend logs": "litellm", "OpenAI chat (request/response JSONL)": "openai",
                 "OpenAI Batch API (input + output files)": "openai-batch", "Langfuse export": "langfuse",
                 "OpenTelemetry GenAI spans (OTLP JSON)": "otel", "any table (CSV/Parquet, column map)": "table"}


class LogImport(pn.viewable.Viewer):
    """File picker -> import -> counts and a traffic preview; ``on_done(name)`` after a good import."""

    def __init__(self, on_done: Callable[[str], None] | None = None, **params: Any):
        super().__init__(**params)
        self.on_done = on_done
        self.msg = Messages("log-import")
        g = guarded(self.msg)
        W = pn.widgets
        self.files = W.FileInput(multiple=True, accept=".jsonl,.ndjson,.json,.csv,.parquet",
                                 css_classes=["wb-log-files"])
        self.format = W.Select(label="log format", options=FORMAT_LABELS, value="litellm", width=280,
                               css_classes=["wb-log-format"])
        self.dataset = W.TextInput(label="dataset name", placeholder="my-traffic", width=200,
                                   css_classes=["wb-log-name"])
        self.scrub = W.Checkbox(label="scrub personal data and secrets", value=True, css_classes=["wb-log-scrub"])
        self.names = W.TextAreaInput(label="names to scrub (one a line)", height=70, width=260)
        self.mapping = W.TextInput(label="table format: COLUMN=FIELD, ...", width=320)
        self.button = W.Button(label="Import log", color="primary", css_classes=["wb-log-import"])
        self.button.on_click(g(lambda _e: self.run()))
        self.report = pn.pane.HTML("", css_classes=["wb-log-report"])
        self.preview = W.Tabulator(pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                   selectable=False, height=300, visible=False, css_classes=["wb-log-preview"])
        self._layout = pn.Column(
            pn.pane.Markdown("#### Import a production log\nThe log becomes a dataset: its prompts are traffic, its "
                             "answers the logged model's outcomes (labelled *logged*). The files are only read."),
            self.msg.pane, self.files, pn.Row(self.format, self.dataset, self.button),
            pn.Row(self.scrub, self.names, self.mapping), self.report, self.preview, sizing_mode="stretch_width")

    def __panel__(self) -> pn.Column:
        return self._layout

    def run(self) -> None:
        """Import the picked files (errors are shown in the view's message box by the caller's guard)."""
        from workbench.datasets.logs import import_log, parse_mapping

        files, names = self.files.value, self.files.filename
        if not files:
            raise InputError("pick one or more log files first", field="files")
        if isinstance(files, bytes):
            files, names = [files], [names]
        name = (self.dataset.value or "").strip()
        if not name:
            raise InputError("give the dataset a name", field="dataset name")
        mapping = parse_mapping(p.strip() for p in (self.mapping.value or "").split(",") if p.strip())
        people = [n.strip() for n in (self.names.value or "").splitlines() if n.strip()]
        with tempfile.TemporaryDirectory(prefix="wb-log-") as tmp:
            paths = []
            for i, (data, fname) in enumerate(zip(files, names, strict=True)):
                path = Path(tmp) / f"{i}-{Path(str(fname)).name}"  # the name's suffix picks the reader
                path.write_bytes(data)
                paths.append(path)
            report = import_log(self.format.value, paths, name, scrub=self.scrub.value or bool(people),
                                names=people, mapping=mapping)
        self.msg.ok(f"imported {report.prompts:,} prompts into dataset '{name}'")
        self.report.object = html("<pre>{}</pre>", report.text().replace(tmp, "(upload)"))
        self.preview.value = preview(name)
        self.preview.visible = True
        if self.on_done is not None:
            self.on_done(name)


def preview(name: str, rows: int = 50) -> pd.DataFrame:
    """The first ``rows`` requests of dataset ``name`` as a run replays them (text truncated)."""
    from workbench.traffic import load_dataset_traffic

    out = []
    for r in load_dataset_traffic(name).requests[:rows]:
        m = r.metadata
        out.append({"id": r.id, "arrived": None if r.arrived_at is None else
                    datetime.fromtimestamp(r.arrived_at, UTC).isoformat(timespec="seconds"),
                    "logged model": m.get("logged_model"), "category": r.category, "user": m.get("user"),
                    "session": m.get("session"), "prompt": r.prompt[:160]})
    return pd.DataFrame(out)
