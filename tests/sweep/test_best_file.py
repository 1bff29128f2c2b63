"""`workbench sweep --out`: the best design is written over the base scenario's own file, so the base's
comments survive, and it is exactly the trial's design (else it is dumped plain)."""

from __future__ import annotations

import shutil

from conftest import SCENARIOS

from workbench.cli_sweep import _write_best
from workbench.scenario import load_scenario, parse_scenario
from workbench.sweep.space import apply_params

PARAMS = {"fleet.small.model": "gpt-4.1-mini", "router.params.scorer": {"type": "length"},
          "router.params.strong_share": 0.4}
SET = {"router": {"policy": "threshold", "params": {"strong": "large", "weak": "small", "scorer": {"type": "length"},
                                                     "strong_share": 0.5}}}


def _result() -> dict:
    return {"best": {"params": PARAMS, "trial": 7, "run_id": "sw-t007", "cost_per_1k_usd": 1.25, "quality": 0.9},
            "sweep_id": "sw", "constraints": [], "modes": ["simulated"]}


def test_the_best_design_keeps_the_base_files_comments(tmp_path):
    base = load_scenario(SCENARIOS / "support-tiered.yaml")
    trial = apply_params(base, {**SET, **PARAMS}, name="support-tiered-t007")
    out = tmp_path / "best.yaml"
    _write_best(str(out), trial.to_yaml(), _result(), base)
    text = out.read_text()
    original = (SCENARIOS / "support-tiered.yaml").read_text()
    assert [line for line in text.splitlines() if "# Brief" in line or "15:15-15:30" in line] == [
        line for line in original.splitlines() if "# Brief" in line or "15:15-15:30" in line]
    assert "# support-tiered's own comments follow" in text
    assert "    model: gpt-4.1-mini\n" in text and "    handling_time_s: 420\n" in text  # untouched lines as written
    written = parse_scenario(text, source=out)
    assert written.model_dump(exclude={"description", "traffic"}) == trial.model_dump(
        exclude={"description", "traffic"})
    assert written.traffic_path().resolve() == trial.traffic_path().resolve()


def test_without_the_base_file_the_design_is_dumped_plain(tmp_path):
    shutil.copy(SCENARIOS / "support-tiered.yaml", tmp_path / "base.yaml")
    shutil.copytree(SCENARIOS / "traffic", tmp_path / "traffic")
    base = load_scenario(tmp_path / "base.yaml")
    trial = apply_params(base, {**SET, **PARAMS}, name="support-tiered-t007")
    (tmp_path / "base.yaml").unlink()
    out = tmp_path / "best.yaml"
    _write_best(str(out), trial.to_yaml(), _result(), base)
    text = out.read_text()
    assert "Brief" not in text and "own comments follow" not in text
    assert parse_scenario(text, source=out).fleet["small"].model == "gpt-4.1-mini"
