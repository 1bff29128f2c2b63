"""Design spaces: read with line numbers, checked against the scenario, one error naming file, line
and field for each kind of mistake; nothing written by a bad sweep; grid values and dotted paths."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS
from helpers import wb

from workbench.scenario import load_scenario, parse_scenario
from workbench.sweep import SpaceError, apply_params, parse_space
from workbench.sweep.search import GridSearch, RandomSearch, grid_values
from workbench.sweep.space import Param, parse_constraint

TIERED = SCENARIOS / "support-tiered.yaml"
GOOD = """\
sampler: grid
constraints:
  - quality >= 0.85
  - error_rate <= 0.01
params:
  router.params.weights.large: {float: [0.25, 1.0], step: 0.25}
  humans.tier2.agents: {int: [1, 3]}
"""


@pytest.fixture(scope="module")
def tiered():
    return load_scenario(TIERED)


def error(text: str, scenario) -> SpaceError:
    with pytest.raises(SpaceError) as exc:
        parse_space(text, scenario, source="space.yaml")
    return exc.value


def test_a_good_space_parses(tiered):
    space = parse_space(GOOD, tiered, source="space.yaml")
    assert space.params["humans.tier2.agents"].int_ == (1, 3)
    assert [str(parse_constraint(c)) for c in space.constraints] == ["quality>=0.85", "error_rate<=0.01"]


@pytest.mark.parametrize("text, line, field, words", [
    # a key the space schema does not know
    (GOOD.replace("step: 0.25", "stepp: 0.25"), 6, "params.router.params.weights.large.stepp", "unknown field"),
    # a scenario field that does not exist
    (GOOD.replace("humans.tier2.agents", "retries.max_retriez"), 7, "params.retries.max_retriez", "unknown field"),
    # an empty range
    (GOOD.replace("[1, 3]", "[4, 1]"), 7, "params.humans.tier2.agents.int", "empty range"),
    # a constraint on a metric no run has
    (GOOD.replace("error_rate <= 0.01", "eror_rate <= 0.01"), 4, "constraints[1]", "unknown metric 'eror_rate'"),
    # a value the scenario refuses (a weight must be positive): the line of the range
    (GOOD.replace("[0.25, 1.0], step: 0.25", "[-1.0, 1.0]"), 6, "params.router.params.weights.large", "greater than 0"),
    # every trial replays the same traffic
    (GOOD.replace("humans.tier2.agents: {int: [1, 3]}", "traffic.sample: {int: [10, 20]}"), 7,
     "params.traffic.sample", "cannot be varied"),
    # a weight for a target that is not in the fleet (the policy's own check)
    (GOOD.replace("weights.large", "weights.medium"), 6, "params.router.params.weights.medium", "unknown target"),
])
def test_each_mistake_is_one_error_naming_file_line_and_field(tiered, text, line, field, words):
    exc = error(text, tiered)
    assert (exc.file, exc.line, exc.field) == ("space.yaml", line, field), str(exc)
    assert words in str(exc) and str(exc).startswith(f"space.yaml:{line}, field '{field}'")


def test_a_bad_choice_points_at_its_own_line(tiered):
    text = ("params:\n  retries:\n    choices:\n      - {max_retries: 1}\n      - {max_retries: 99}\n")
    exc = error(text, tiered)
    assert (exc.line, exc.field) == (5, "params.retries") and "less than or equal to 20" in str(exc)


def test_a_bad_sweep_writes_nothing(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(GOOD.replace("[1, 3]", "[4, 1]"))
    proc = wb("sweep", str(TIERED), "--space", str(space), "--db", str(tmp_path / "t.duckdb"), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (f"error: {space}:7, field 'params.humans.tier2.agents.int': "
                                   "empty range: low 4 is above high 1")
    assert not (tmp_path / "t.duckdb").exists()
    bad = wb("sweep", str(TIERED), "--space", str(space.with_name("none.yaml")), "--constraint", "q>1",
             "--db", str(tmp_path / "t.duckdb"), cwd=tmp_path)
    assert bad.returncode == 2 and "no such space file" in bad.stderr and not (tmp_path / "t.duckdb").exists()
    space.write_text(GOOD)
    bad = wb("sweep", str(TIERED), "--space", str(space), "--constraint", "qualty>=0.9",
             "--db", str(tmp_path / "t.duckdb"), cwd=tmp_path)
    assert bad.returncode == 2 and "--constraint 'qualty>=0.9': unknown metric 'qualty'" in bad.stderr
    assert not (tmp_path / "t.duckdb").exists()


def test_dotted_paths_reach_keys_with_dots_and_list_items():
    scn = parse_scenario("""\
name: dots
fleet: {gpt-4.1: {model: gpt-4.1}, small: {model: gpt-4o-mini}}
router: {policy: static, params: {target: small}}
fallbacks: {small: [{to: gpt-4.1}]}
traffic: {source: t.jsonl}
""")
    out = apply_params(scn, {"fleet.gpt-4.1.timeout_s": 12.0, "fallbacks.small.0.errors": ["timeout"],
                             "budget.max_usd": 5.0}, name="dots-t001")
    assert out.fleet["gpt-4.1"].timeout_s == 12.0 and [str(e) for e in out.fallbacks["small"][0].errors] == ["timeout"]
    assert out.budget.max_usd == 5.0 and out.name == "dots-t001" and scn.budget is None
    with pytest.raises(ValueError, match="not an index"):
        apply_params(scn, {"fallbacks.small.3.to": "small"})


def test_grid_values_and_draws():
    assert grid_values(Param.model_validate({"int": [1, 7], "step": 3})) == [1, 4, 7]
    assert grid_values(Param.model_validate({"float": [0.2, 0.8], "step": 0.2})) == [0.2, 0.4, 0.6, 0.8]
    assert grid_values(Param.model_validate({"float": [1, 100], "log": True, "points": 3})) == [1.0, 10.0, 100.0]
    assert grid_values(Param.model_validate({"float": [0, 1]})) == [0.0, 0.25, 0.5, 0.75, 1.0]
    with pytest.raises(ValueError, match="log range needs low > 0"):
        Param.model_validate({"float": [0, 1], "log": True})
    space = parse_space(GOOD, load_scenario(TIERED))
    assert len(GridSearch(space, None, 0).ask()) == 12
    capped = GridSearch(space, 5, 0).ask()
    assert len(capped) == 5 and capped == GridSearch(space, 5, 0).ask()
    draws = RandomSearch(space, 50, 3).ask()
    assert draws == RandomSearch(space, 50, 3).ask() != RandomSearch(space, 50, 4).ask()
    assert {d["humans.tier2.agents"] for d in draws} == {1, 2, 3}
    assert {d["router.params.weights.large"] for d in draws} <= {0.25, 0.5, 0.75, 1.0}


def test_the_readme_space_example_is_a_valid_space(tiered):
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    block = readme.split("A space file (pydantic", 1)[1].split("```\n", 2)[1]
    space = parse_space(block, tiered, source="README.md")
    assert set(space.params) == {"router.params.strong_share", "humans.tier2.agents", "budget.max_usd",
                                 "fleet.small.model", "fallbacks.small"}
