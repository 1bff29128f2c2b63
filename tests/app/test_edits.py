"""Form edits on a scenario's YAML data: each edit, and the scenario parser's verdict on the result."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS

from workbench.app import edits
from workbench.app.state import validate_text
from workbench.errors import InputError
from workbench.scenario import load_scenario, parse_scenario

TIERED = SCENARIOS / "support-tiered.yaml"


@pytest.fixture
def data() -> dict:
    return edits.load_yaml_data(TIERED.read_text())


def check(data: dict):
    """The scenario the edited data dumps to (validated as the app validates it)."""
    scn, error = validate_text(edits.dump_yaml(data), TIERED)
    assert error == ""
    return scn


def test_dump_round_trips_to_an_equal_scenario(data):
    assert parse_scenario(edits.dump_yaml(data), source=TIERED) == load_scenario(TIERED)


def test_yaml_12_strings_survive_a_form_edit():
    data = edits.load_yaml_data("a: no\nb: on\nc: true\n")
    assert data == {"a": "no", "b": "on", "c": True}
    assert edits.load_yaml_data(edits.dump_yaml(data)) == data


def test_swap_a_model_keeps_its_other_settings(data):
    edits.set_model(data, "large", "gpt-4.1")
    scn = check(data)
    assert scn.fleet["large"].model == "gpt-4.1" and scn.fleet["large"].limits.tpm == 30000
    assert scn.fleet["large"].sim.outages[0].start_s == 29400
    with pytest.raises(InputError, match="field 'fleet.large.model': a model name is required"):
        edits.set_model(data, "large", "  ")


def test_add_and_remove_models(data):
    edits.add_model(data, "backup", "claude-3-5-haiku-20241022")
    assert check(data).fleet["backup"].model == "claude-3-5-haiku-20241022"
    with pytest.raises(InputError, match="'tier2' is already a fleet model or a human node"):
        edits.add_model(data, "tier2", "gpt-4o")
    with pytest.raises(InputError, match="'two words' is not a name"):
        edits.add_model(data, "two words", "gpt-4o")
    edits.remove_model(data, "large")
    assert "large" not in data["fleet"] and "large" not in data["fallbacks"]
    assert data["fallbacks"]["small"] == [{"to": "tier2"}]  # the rule to the removed model went too
    scn, error = validate_text(edits.dump_yaml(data), TIERED)  # the router still names it
    assert scn is None and error.endswith("field 'router.params.weights.large': unknown target 'large' "
                                          "(known: small, backup, tier2)")


def test_fallback_chain_edits(data):
    edits.add_fallback(data, "large", "tier2", ["timeout"])
    assert [(r.to, [e.value for e in r.errors or []]) for r in check(data).fallbacks["large"]] == [
        ("small", ["server_error", "timeout", "rate_limit"]), ("tier2", ["timeout"])]
    edits.remove_fallback(data, "large", 0)
    edits.remove_fallback(data, "large", 0)
    assert "large" not in data["fallbacks"] and list(check(data).fallbacks) == ["small"]
    with pytest.raises(InputError, match="no fallback rule 3 for 'small'"):
        edits.remove_fallback(data, "small", 3)
    edits.add_fallback(data, "small", "nowhere")
    scn, error = validate_text(edits.dump_yaml(data), TIERED)
    assert scn is None and "field 'fallbacks.small[2].to': unknown target 'nowhere'" in error


def test_policy_params_as_yaml_or_json(data):
    edits.set_policy(data, "static", edits.parse_params('{"target": "small"}'))
    assert check(data).router.params == {"target": "small"}
    edits.set_policy(data, "weighted", edits.parse_params("weights: {small: 1, large: 3}"))
    assert check(data).router.params == {"weights": {"small": 1, "large": 3}}
    with pytest.raises(InputError, match="field 'router.params': params are a mapping"):
        edits.parse_params("[small, large]")
    with pytest.raises(InputError, match=r"field 'router.params': not YAML or JSON \(line 1\)"):
        edits.parse_params("{target: small")
    edits.set_policy(data, "static", {"target": "ghost"})
    scn, error = validate_text(edits.dump_yaml(data), TIERED)
    assert scn is None and "field 'router.params.target': unknown target 'ghost'" in error


def test_humans_and_budget(data):
    edits.set_human(data, "tier3", 5, 900, 12.5, 0.99)
    edits.add_fallback(data, "large", "tier3")
    scn = check(data)
    assert scn.humans["tier3"].agents == 5 and scn.humans["tier3"].cost_per_request_usd == 12.5
    edits.remove_human(data, "tier3")
    assert "tier3" not in data["humans"] and all(r["to"] != "tier3" for r in data["fallbacks"]["large"])
    with pytest.raises(InputError, match="'small' is already a fleet model"):
        edits.set_human(data, "small", 1, 60, 1)
    edits.set_budget(data, 2.5, "downgrade", "small")
    assert check(data).budget.model_dump() == {"max_usd": 2.5, "on_exceed": "downgrade", "downgrade_to": "small"}
    edits.set_budget(data, None)
    assert check(data).budget is None


def test_top_level_fields_and_the_name_line(data):
    edits.set_field(data, "concurrency", 4)
    edits.set_field(data, "description", "")
    scn = check(data)
    assert scn.concurrency == 4 and scn.description == ""
    text = TIERED.read_text()
    renamed = edits.set_name_line(text, "tiered-copy")
    assert renamed.count("name: tiered-copy") == 1 and "# Brief:" in renamed  # comments kept
    assert renamed.replace("name: tiered-copy", "name: support-tiered") == text
    assert edits.set_name_line("seed: 1\n", "x") == "name: x\nseed: 1\n"
