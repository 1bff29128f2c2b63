"""The notebooks run top to bottom: each in the venv's python3 kernel (nbclient), in a temporary folder
with its own trace database and data directory, on small samples; no cell may fail, each shows the
figures it promises, and the stored notebooks carry no outputs."""

from __future__ import annotations

import os
import sys

import nbformat
import pytest
from conftest import ROOT, routellm_dir
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

NOTEBOOKS = ROOT / "notebooks"
SAMPLE = 100  # requests per replay (the failure drill keeps its own 3,200: its outage is placed in time)

#: What each notebook must show (in its cells' outputs, text or image types).
EXPECT = {
    "01-quickstart": ["support-tiered", "cost per 1k requests", "d_quality_lo", "image/svg+xml"],
    "02-cost-diagnosis": ["cost-overrun-fixed", "strong_share", "-> premium [o1]   because: money (category: billing)",
                          "-> large [gpt-4o]   because: static route", "over_budget", "image/svg+xml"],
    "03-failure-drill": ["failure-drill-no-fallback", "failure-drill-human-safety-net", "server_error",
                         "image/svg+xml"],
    "04-audit-trail": [f"intact: {SAMPLE} rows", "'human_overrides': ", '"human_override": true',
                       "flip the final answer", "field request.response: the stored traces differ from what was sealed",
                       "make it free", "field request.cost_usd: ", "edit its sealed row", "field row_json.human_override: "],
    "05-routing-on-real-outcomes": ["imported: ['routellm-gsm8k']", "routellm-gsm8k: 1,319 prompts", "gsm8k-cascade",
                                    "gsm8k-threshold-0.30", "APGR", "image/svg+xml"],
}


def test_every_notebook_is_tested_and_stored_without_outputs():
    found = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == sorted(EXPECT)
    for name in found:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(c.outputs == [] and c.execution_count is None for c in code), name
        assert "widgets" not in nb.metadata, f"{name}: stored with widget state"


def _texts(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for mime, value in out.get("data", {}).items():
                parts.append(mime)
                parts.append(value if isinstance(value, str) else "")
    return "\n".join(parts)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_notebook_runs_top_to_bottom(name, tmp_path):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nb.cells.insert(0, new_code_cell("import sys; print('kernel:', sys.executable)"))
    env = {**os.environ, "WORKBENCH_DB": str(tmp_path / "traces.duckdb"), "WORKBENCH_SCENARIOS": str(ROOT / "scenarios"),
           "WORKBENCH_NOTEBOOK_SAMPLE": str(SAMPLE), "WORKBENCH_DATA_DIR": str(tmp_path / "data"),
           "WORKBENCH_ROUTELLM_PATH": str(routellm_dir()), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    client = NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}})
    # No emulation of ipywidgets' Output widget: nbclient answers each Output update with a comm message
    # sent on the shell socket while it awaits the cell's execute_reply on that same socket, and here a
    # reply arriving during such a send sat unread for 100-300 s in about one run in three (seen with
    # jupyter_client 8.10, pyzmq 27.3, ipykernel 6.31 and 7.4 alike). Without it, what a notebook draws
    # into an Output widget lands in the cell's own outputs, which is where this test reads it.
    client.widget_registry = {}
    client.execute(env=env)  # raises CellExecutionError, naming the cell, on the first error

    assert nb.cells[0].outputs[0]["text"].strip() == f"kernel: {sys.executable}"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors  # e.g. an error printed by a widget callback, which does not stop the run
    stderr = [o["text"] for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not any("Traceback" in s or "Warning" in s for s in stderr), stderr
    text = _texts(nb)
    missing = [e for e in EXPECT[name] if e not in text]
    assert not missing, f"{name} did not show {missing}"
    assert (tmp_path / "traces.duckdb").is_file()  # the runs went to $WORKBENCH_DB
