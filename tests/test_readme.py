"""The README's YAML examples are real: the scenario reference loads, every policy example builds."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from helpers import fake_key

from workbench.policies import build_policy
from workbench.scenario import parse_scenario

BLOCKS = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
FLEET = """name: readme
fleet: {small: {model: gpt-4o-mini}, large: {model: gpt-4o}, router: {model: gpt-4o-mini}}
humans: {tier2: {agents: 1, handling_time_s: 60, cost_per_request_usd: 1}}
graders: [{type: exact}]
traffic: {source: t.jsonl}
"""


def test_the_scenario_reference_is_a_valid_scenario():
    reference = next(b for b in BLOCKS if b.startswith("name:"))
    scn = parse_scenario(reference, source="README.md")
    assert scn.circuit_breaker is not None and scn.budget is not None and scn.humans


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.startswith("router:")])
def test_every_policy_example_builds(block):
    assert build_policy(parse_scenario(FLEET + block, source="README.md")).name in block


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.startswith("fleet:")])
def test_every_fleet_example_loads(block, monkeypatch):
    from workbench.providers import make_provider

    if "provider: recorded" in block:  # needs a dataset: its structure is checked here, its answers in
        scn = parse_scenario("name: f\n" + block + "router: {policy: static, params: {target: strong}}\n",
                             source="README.md")  # tests/providers/test_recorded.py
        assert scn.mode == "recorded" and scn.traffic.dataset == "routellm-gsm8k"
        return
    scn = parse_scenario("name: f\n" + block + "router: {policy: static, params: {target: gpt4o}}\n"
                         "traffic: {source: t.jsonl}\n", source="README.md")
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "LITELLM_PROXY_KEY"):
        monkeypatch.setenv(var, fake_key())
    assert set(make_provider(scn, [], 0).modes.values()) == {"live"}  # every model is priced and built
