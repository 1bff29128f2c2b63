"""The one YAML reader and writer (workbench/yamlio.py, ruamel.yaml round-trip): YAML 1.2 scalars,
duplicate keys as file:line:field errors, the parser's own line numbers, and edits that keep a file's
comments and key order byte for byte."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS
from ruamel.yaml import YAML

from workbench.app import edits
from workbench.errors import InputError, ScenarioError
from workbench.scenario import load_scenario, parse_scenario
from workbench.yamlio import dump_yaml, patch, read_tree, read_yaml

TIERED = SCENARIOS / "support-tiered.yaml"


def test_yaml_12_booleans_and_plain_python_types():
    data, _ = read_yaml("a: yes\nb: on\nc: off\nd: no\ne: true\nf: False\ng: 017\nh: 3.50\ni: 0x1F\n"
                        "j: '5'\nk: !!str 5\nl: ~\n", "x.yaml")
    assert data == {"a": "yes", "b": "on", "c": "off", "d": "no", "e": True, "f": False, "g": 17, "h": 3.5,
                    "i": 31, "j": "5", "k": "5", "l": None}
    # what pydantic validates is Python's own types, not ruamel's ScalarInt, ScalarFloat or quoted strings
    assert [type(v) for v in data.values()] == [str, str, str, str, bool, bool, int, float, int, str, str,
                                                type(None)]
    assert type(next(iter(read_yaml("{x: 1}", "x")[0]))) is str


def test_a_yaml_11_directive_is_refused_not_obeyed():
    with pytest.raises(ScenarioError) as info:
        read_yaml("%YAML 1.1\n---\naudit: yes\n", "x.yaml")
    assert (info.value.file, info.value.line) == ("x.yaml", 1) and "YAML 1.2" in info.value.reason


def test_duplicate_key_names_the_file_line_and_field():
    text = "name: x\nfleet:\n  small:\n    model: a\n    provider: simulated\n    model: b\n"
    with pytest.raises(ScenarioError) as info:
        read_yaml(text, "dup.yaml")
    err = info.value
    assert (err.file, err.line, err.field) == ("dup.yaml", 6, "fleet.small.model")
    assert str(err) == "dup.yaml:6, field 'fleet.small.model': invalid YAML: duplicate key 'model'"


def test_line_numbers_of_nested_fields_come_from_the_parser():
    text = ("# a comment\n"
            "name: x\n"
            "fleet:\n"
            "  large:\n"
            "    sim:\n"
            "      outages:\n"
            "        - {start_s: 1, end_s: 2}\n"
            "\n"
            "        - start_s: 3\n"
            "          end_s: 4\n"
            "limits: {rpm: 5,\n"
            "         tpm: 6}\n")
    _, lines = read_yaml(text, "x.yaml")
    assert lines[()] == 2
    assert lines[("fleet", "large", "sim", "outages")] == 6
    assert lines[("fleet", "large", "sim", "outages", 0)] == 7
    assert lines[("fleet", "large", "sim", "outages", 0, "end_s")] == 7
    assert lines[("fleet", "large", "sim", "outages", 1)] == 9
    assert lines[("fleet", "large", "sim", "outages", 1, "end_s")] == 10
    assert lines[("limits", "tpm")] == 12


def test_a_validation_error_deep_in_a_list_names_its_own_line():
    text = TIERED.read_text().replace("kind: server_error}", "kind: server_error, end: 1}")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source="t.yaml")
    lineno = next(i for i, line in enumerate(text.splitlines(), 1) if "end: 1}" in line)
    assert (info.value.line, info.value.field) == (lineno, "fleet.large.sim.outages[0].end")


def test_each_file_is_parsed_once(monkeypatch):
    calls = {"load": 0, "compose": 0}
    for name in calls:
        real = getattr(YAML, name)
        monkeypatch.setattr(YAML, name, lambda self, s, _real=real, _name=name: (
            calls.__setitem__(_name, calls[_name] + 1), _real(self, s))[1])
    load_scenario(TIERED)
    assert calls == {"load": 1, "compose": 0}


def test_every_library_file_round_trips_byte_for_byte_but_the_two_with_wrapped_flow_lines():
    """The dumper's settings are the library's style: loading and dumping a file gives it back."""
    changed = []
    for path in sorted(SCENARIOS.rglob("*.yaml")):
        tree, _, _ = read_tree(path.read_text(), str(path))
        if dump_yaml(tree) != path.read_text():
            changed.append(path.name)
    # ruamel keeps a flow mapping's content, not where its author broke its line
    assert changed == ["support-space.yaml"]


def test_a_form_edit_changes_only_the_edited_value():
    original = TIERED.read_text()
    tree = edits.load_yaml_data(original)
    edits.set_model(tree, "large", "gpt-4.1")
    edits.set_field(tree, "seed", 7)
    assert original.count("    model: gpt-4o\n") == 1 and original.count("seed: 42\n") == 1
    assert edits.dump_yaml(tree) == original.replace("    model: gpt-4o\n", "    model: gpt-4.1\n").replace(
        "seed: 42\n", "seed: 7\n")


def test_a_policy_edit_keeps_the_comments_around_it():
    original = TIERED.read_text().replace("  policy: weighted\n", "  policy: weighted   # a coin toss\n")
    tree = edits.load_yaml_data(original)
    edits.set_policy(tree, "weighted", {"weights": {"small": 0.5, "large": 0.5}})
    text = edits.dump_yaml(tree)
    assert text == original.replace("{small: 0.75, large: 0.25}", "{small: 0.5, large: 0.5}")
    # removing a model drops its rules in place: the other rules and every comment stay
    edits.remove_model(tree, "large")
    text = edits.dump_yaml(tree)
    assert [line for line in text.splitlines() if "#" in line] == [
        line for line in original.splitlines() if "#" in line and "15:15-15:30" not in line]  # its outage went
    assert "  small:\n    - {to: tier2}\n" in text and "large" not in text.split("fallbacks:")[1].split("retries")[0]


def test_added_nodes_are_written_inline_when_short():
    tree = edits.load_yaml_data(TIERED.read_text())
    edits.add_model(tree, "mini", "gpt-4.1-mini")
    edits.set_budget(tree, 5.0, "downgrade", "small")
    text = edits.dump_yaml(tree)
    assert "  mini: {model: gpt-4.1-mini, provider: simulated}\n" in text
    assert text.endswith("budget: {max_usd: 5.0, on_exceed: downgrade, downgrade_to: small}\n")
    assert parse_scenario(text, source=TIERED).fleet["mini"].model == "gpt-4.1-mini"


def test_patch_writes_a_new_design_over_the_old_file():
    """What `workbench sweep --out` does with the base scenario's file: only changed values move."""
    original = TIERED.read_text()
    base = load_scenario(TIERED)
    new = base.model_dump(mode="json", exclude_defaults=True)
    new["router"] = {"policy": "static", "params": {"target": "large"}}
    del new["humans"]
    new["fallbacks"]["small"] = new["fallbacks"]["small"][:1]
    tree, _, _ = read_tree(original, "t.yaml")
    patch(tree, base.model_dump(mode="json", exclude_defaults=True), new)
    text = dump_yaml(tree)
    assert text.startswith(original[:original.index("humans:")])  # the brief and the fleet as written
    assert "  policy: static\n  params:\n    target: large\n" in text and "tier2" not in text
    assert parse_scenario(text, source=TIERED).model_dump(mode="json", exclude_defaults=True) == new


def test_plain_data_dumps_in_block_style_and_loads_back():
    scn = load_scenario(TIERED)
    assert parse_scenario(scn.to_yaml(), source=TIERED) == scn
    assert "fleet:\n  small:\n    model: gpt-4o-mini\n" in scn.to_yaml()


def test_bad_params_in_the_form_name_their_line():
    with pytest.raises(InputError) as info:
        edits.parse_params("weights:\n  small: 1\n  small: 2\n")
    assert str(info.value) == "field 'router.params': not YAML or JSON (line 3): duplicate key 'small'"
