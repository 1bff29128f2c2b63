"""Family profiles: matching by model name, and the MEASURED figures recomputed from RouteLLM's data."""

from __future__ import annotations

import csv
import glob

import pytest
from conftest import routellm_dir

from workbench.providers.simulated import family_defaults, profile_for
from workbench.scenario import ModelSpec

GPT4, MIXTRAL = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"


@pytest.mark.parametrize("model,family", [
    ("gpt-4o", "frontier"), ("gpt-4-1106-preview", "frontier"), ("claude-sonnet-4-5", "frontier"),
    ("gpt-4o-mini", "small"), ("gpt-4.1-mini", "small"), ("claude-3-5-haiku-20241022", "small"),
    ("together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1", "small"), ("ollama/llama3", "local"),
    ("ollama/llama3:70b", "local"), ("acme/unknown", "default"),
])
def test_family_by_model_name(model, family):
    assert profile_for(ModelSpec(model=model))["family"] == family


def test_scenario_overrides_win():
    prof = profile_for(ModelSpec(model="gpt-4o", sim={"ttft_s": 9.0, "error_rates": {"rate_limit": 0.5}}))
    assert prof["ttft_s"] == 9.0 and prof["tokens_per_s"] == family_defaults()["frontier"]["tokens_per_s"]
    assert {k.value: v for k, v in prof["error_rates"].items()} == {"rate_limit": 0.5}


def _share(rows: list[dict], column: str) -> float:
    return sum(r[column] == "True" for r in rows) / len(rows)


def test_measured_quality_matches_routellm_gsm8k():
    with open(routellm_dir() / "gsm8k" / "gsm8k_responses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1319
    fam = family_defaults()
    for family, column in (("frontier", GPT4), ("small", MIXTRAL)):
        mean_quality = (fam[family]["quality_easy"] + fam[family]["quality_hard"]) / 2
        assert mean_quality == pytest.approx(_share(rows, column), abs=0.001), family


def test_measured_mmlu_figures_quoted_in_profiles():
    rows = []
    for path in sorted(glob.glob(str(routellm_dir() / "mmlu" / "mmlu_*.csv"))):
        with open(path, newline="") as f:
            rows.extend(csv.DictReader(f))
    assert len(rows) == 14042
    assert round(_share(rows, GPT4), 3) == 0.806 and round(_share(rows, MIXTRAL), 3) == 0.681
