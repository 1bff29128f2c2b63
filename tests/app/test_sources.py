"""The traffic choice: its preview is exactly what the runner replays; files and datasets are listed."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import SCENARIOS

from workbench.app.sources import TrafficChoice, list_datasets, list_traffic_files
from workbench.errors import TrafficError
from workbench.runner import prepare_many
from workbench.scenario import parse_scenario
from workbench.store.outcomes import OutcomeStore

BASELINE = SCENARIOS / "support-baseline.yaml"
TIERED = SCENARIOS / "support-tiered.yaml"
TICKETS = SCENARIOS / "traffic" / "support_tickets.jsonl"


@pytest.mark.parametrize("process", ["poisson", "recorded", "burst"])
def test_preview_is_what_the_run_replays(process):
    choice = TrafficChoice(source=str(TICKETS), sample=25, seed=7, process=process, rate_per_s=0.5, speedup=60)
    frame, line = choice.preview(BASELINE.read_text(), BASELINE, rows=25)
    first = parse_scenario(choice.apply_to_text(BASELINE.read_text(), full=False), source=BASELINE)
    prepared = prepare_many([first, TIERED], **choice.run_options())
    for prep in prepared:  # both scenarios replay the previewed requests at the previewed times
        assert [r.id for r in prep.requests] == list(frame["id"])
        assert [round(t, 2) for t in prep.arrivals] == list(frame["arrival_s"])
        assert prep.seed == 7 and prep.traffic_spec.arrival.process == process
    assert line.startswith(f"25 of 370 requests from support_tickets.jsonl (SHA-256 {prepared[0].traffic_hash[:12]}), "
                           f"{process} arrivals, seed 7, last arrival at ")
    if process == "recorded":  # recorded times sped up 60 times
        assert frame["arrival_s"].iloc[0] == 0 and frame["arrival_s"].is_monotonic_increasing


def test_nothing_chosen_keeps_the_scenario_and_too_large_a_sample_is_refused():
    choice = TrafficChoice()
    text = BASELINE.read_text()
    assert choice.apply_to_text(text) == text and choice.run_options() == {"traffic": None, "requests": None,
                                                                           "seed": None}
    frame, line = choice.preview(text, BASELINE, rows=5)
    assert len(frame) == 5 and line.startswith("370 of 370 requests") and "seed 42" in line
    assert choice.describe() == ("the first scenario's own traffic; the scenario's sample; arrivals as in the "
                                 "scenario; the first scenario's seed")
    choice.sample = 1000
    with pytest.raises(TrafficError, match="asked for 1000 requests but the file holds 370"):
        choice.preview(text, BASELINE)


def test_a_dataset_preview_is_what_the_run_replays(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))
    prompts = pd.DataFrame({"prompt_key": [f"k{i}" for i in range(12)], "seq": range(12),
                            "prompt_id": [f"q{i}" for i in range(12)],
                            "prompt": [f"what is {i} + {i}?" for i in range(12)],
                            "category": "math", "difficulty": 0.5, "expected": [str(2 * i) for i in range(12)]})
    outcomes = pd.DataFrame({"prompt_key": prompts.prompt_key, "model": "gpt-4o", "response": prompts.expected,
                             "prompt_tokens": 10, "completion_tokens": 2, "latency_s": 1.0, "cost_usd": 0.0001,
                             "score": 1.0, "source": "test"})
    OutcomeStore.build("tiny-math", prompts, outcomes, {"source": "written by this test"})
    assert [(d["name"], d["prompts"], d["models"]) for d in list_datasets()] == [("tiny-math", 12, ["gpt-4o"])]
    choice = TrafficChoice(source="dataset:tiny-math", sample=5, seed=3, process="poisson", rate_per_s=2)
    frame, line = choice.preview(BASELINE.read_text(), BASELINE)
    first = parse_scenario(choice.apply_to_text(BASELINE.read_text(), full=False), source=BASELINE)
    assert first.traffic.dataset == "tiny-math" and first.traffic.source is None
    prep, = prepare_many([first], **choice.run_options())
    assert [r.id for r in prep.requests] == list(frame["id"]) and len(frame) == 5
    assert [round(t, 2) for t in prep.arrivals] == list(frame["arrival_s"])
    assert line.startswith("5 of 12 requests from dataset tiny-math")


def test_a_dataset_replaces_the_source():
    choice = TrafficChoice(source="dataset:routellm-gsm8k", sample=50)
    data = choice.apply({"traffic": {"source": "x.jsonl", "arrival": {"process": "recorded"}}}, full=False)
    assert data["traffic"] == {"dataset": "routellm-gsm8k", "arrival": {"process": "recorded"}}
    assert choice.run_options() == {"traffic": None, "requests": 50, "seed": None}


def test_listings(tmp_path, monkeypatch):
    for name in ("b.csv", "a.jsonl", "c.PARQUET", "README.md", "notes.txt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in list_traffic_files(tmp_path)] == ["a.jsonl", "b.csv", "c.PARQUET"]
    assert list_traffic_files(tmp_path / "missing") == []
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))
    assert list_datasets() == []  # no dataset imported there
