"""Exercise levels and robust scoring: no reflex design reaches an exercise's top level, every reference
solution does (on the rubric's held-out seeds, on its own seed and five others), a criterion passes
only when it holds on every seed, and the output names the next level's missed targets and gaps."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import SCENARIOS

from workbench.cli import main
from workbench.errors import InputError
from workbench.exercises import format_result, list_exercises, load_rubric, reflex_design, score_submission

EXERCISES = SCENARIOS / "exercises"
NAMES = [e.name for e in list_exercises()]
#: The scenario's own seed (42) and five others, none of them a rubric's held-out seed.
OTHER_SEEDS = [42, 1, 2, 3, 4, 5]
#: The reflexes every rubric lists, by a word of their names.
REFLEX_KINDS = ("largest", "smallest", "people", "only a budget")

REVERT = (EXERCISES / "cost-overrun" / "start.yaml").read_text().replace(
    "router:\n  policy: rules\n  params:\n    default: large\n    rules:\n"
    "      - {name: money, to: premium, category: [billing, refund]}\n"
    "      - {name: enterprise, to: premium, metadata: {plan: enterprise}}\n",
    "router: {policy: static, params: {target: large}}\n"
    "budget: {max_usd: 1.20, on_exceed: downgrade, downgrade_to: small}\n")


def test_the_revert_design_meets_and_the_solution_exceeds_on_the_command_line(capsys, tmp_path):
    revert = tmp_path / "revert.yaml"
    assert REVERT != (EXERCISES / "cost-overrun" / "start.yaml").read_text()
    revert.write_text(REVERT)
    assert main(["exercise", "score", "cost-overrun", str(revert)]) == 0  # it passes: level meets
    text = capsys.readouterr().out.splitlines()
    assert "level: meets" in text and "level: exceeds" not in text
    missed = text[text.index("missed for exceeds:") + 1:]
    assert len(missed) == 1 and missed[0].startswith("  cost per 1k tickets: $2.705 on seed 12, target <= $2.500:")
    assert missed[0].endswith("over by $0.205")
    assert main(["exercise", "score", "cost-overrun", str(revert), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["level"], data["all_passed"], data["next_level"]) == ("meets", True, "exceeds")
    assert data["missed"] == [{"name": "cost per 1k tickets", "measured": pytest.approx(2.7046, abs=1e-4),
                               "comparison": "<=", "target": 2.5, "gap": pytest.approx(0.2046, abs=1e-4),
                               "worst_seed": 12}]

    assert main(["exercise", "score", "cost-overrun", str(EXERCISES / "cost-overrun" / "solution.yaml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "level: exceeds" and not any(line.startswith("missed for") for line in out)


@pytest.mark.parametrize("name", NAMES)
def test_no_reflex_reaches_the_top_level_and_each_measures_its_stated_level(name):
    rubric = load_rubric(EXERCISES / name / "rubric.yaml")
    assert rubric.top_level == "exceeds"
    for kind in REFLEX_KINDS:  # all to the largest model, to the smallest, to people, start + a budget
        assert any(kind in r.name for r in rubric.reflexes), (name, kind)
    for reflex in rubric.reflexes:
        result = score_submission(name, reflex_design(name, reflex))
        assert result.level == reflex.level != "exceeds", (name, reflex.name)


@pytest.mark.parametrize("name", NAMES)
def test_the_solution_exceeds_on_its_own_seed_and_five_others(name):
    rubric = load_rubric(EXERCISES / name / "rubric.yaml")
    assert not set(OTHER_SEEDS) & set(rubric.holdout.seeds)
    result = score_submission(name, EXERCISES / name / "solution.yaml", seeds=OTHER_SEEDS)
    assert result.level == "exceeds", [c for c in result.criteria if not c.passed]
    assert list(result.runs) == OTHER_SEEDS and result.holdout["seeds"] == OTHER_SEEDS


def _copy(tmp_path, rubric_text: str):
    root = tmp_path / "exercises"
    shutil.copytree(EXERCISES / "cost-overrun", root / "cost-overrun")
    traffic = f"{SCENARIOS / 'traffic'}/"  # the held-out file, from the copy too
    (root / "cost-overrun" / "rubric.yaml").write_text(rubric_text.replace("../../traffic/", traffic))
    return root


def test_a_criterion_passes_only_when_it_holds_on_every_seed(tmp_path):
    start = EXERCISES / "cost-overrun" / "start.yaml"
    quality = next(c for c in score_submission("cost-overrun", start).criteria if c.metric == "quality")
    values = sorted(quality.by_seed.values())  # seeds 11, 12, 13: 0.867, 0.893, 0.897
    assert len(values) == 3 and values[0] < values[1]
    assert quality.measured == values[0] and quality.by_seed[quality.worst_seed] == values[0]
    # a target two seeds of three meet fails, and shows the third seed's value
    middle = (values[0] + values[1]) / 2
    text = (EXERCISES / "cost-overrun" / "rubric.yaml").read_text().replace(
        "{metric: quality, comparison: \">=\", target: 0.85, points: 2}",
        f"{{metric: quality, comparison: \">=\", target: {middle:.4f}, points: 2}}")
    result = score_submission("cost-overrun", start, root=_copy(tmp_path, text))
    strict = next(c for c in result.criteria if c.metric == "quality" and c.level == "meets")
    assert sum(v >= middle for v in strict.by_seed.values()) == 2
    assert not strict.passed and strict.measured == values[0] and strict.worst_seed == quality.worst_seed
    assert f"quality (0-1)                    measured {values[0]:.3f} (seed {quality.worst_seed})" in \
        format_result(result)
    # on one seed alone (the one that meets it) the same target passes: the seeds, not luck, decide
    best = max(strict.by_seed, key=strict.by_seed.get)
    alone = score_submission("cost-overrun", start, root=_copy(tmp_path / "b", text), seeds=[best])
    assert next(c for c in alone.criteria if c.metric == "quality" and c.level == "meets").passed


@pytest.mark.parametrize("seeds, words", [("[11, 12]", "at least 3 items"), ("[11, 12, 11]", "a seed is listed twice")])
def test_a_rubric_needs_three_distinct_held_out_seeds(tmp_path, seeds, words):
    text = (EXERCISES / "cost-overrun" / "rubric.yaml").read_text()
    old = text.splitlines()[3]
    assert old.startswith("  seeds: [11, 12, 13]")  # line 4
    with pytest.raises(InputError) as err:
        score_submission("cost-overrun", "x.yaml", root=_copy(tmp_path, text.replace(old, f"  seeds: {seeds}")))
    assert "rubric.yaml:4, field 'holdout.seeds'" in str(err.value) and words in str(err.value)


def test_a_reflex_that_is_not_a_valid_design_names_its_field(tmp_path):
    rubric = load_rubric(EXERCISES / "cost-overrun" / "rubric.yaml")
    bad = rubric.reflexes[0].model_copy(update={"design": {"routr": {"policy": "static"}}})
    with pytest.raises(InputError) as err:
        reflex_design("cost-overrun", bad)
    assert str(err.value).startswith(f"{EXERCISES / 'cost-overrun' / 'rubric.yaml'}, field 'design.routr': "
                                     f"reflex '{bad.name}' is not a valid design: unknown field")


@pytest.mark.parametrize("name", NAMES)
def test_the_brief_has_a_marked_panel_section_with_follow_up_questions(name):
    brief = (EXERCISES / name / "brief.md").read_text()
    candidate, marker, panel = brief.partition("<!-- panel-only")
    assert marker and "What the panel looks for" in panel and "What the panel" not in candidate
    assert "**Follow-up questions.**" in panel and panel.count("\n1. ") == 1 and "\n3. " in panel
    rubric = load_rubric(EXERCISES / name / "rubric.yaml")
    for reflex in rubric.reflexes:  # every reflex's measured level is in the panel's table
        assert reflex.level in panel


def test_a_rubric_without_levels_tops_out_at_meets(tmp_path):
    text = (EXERCISES / "cost-overrun" / "rubric.yaml").read_text()
    bare = text[:text.index("levels:")] + text[text.index("reflexes:"):]
    result = score_submission("cost-overrun", REVERT, root=_copy(tmp_path, bare))
    assert (result.top_level, result.level, result.next_level, result.missed()) == ("meets", "meets", None, [])
    assert {c.level for c in result.criteria} == {"meets"}
    out = format_result(result).splitlines()
    assert out[-1] == "level: meets" and not any(line.startswith(("exceeds", "missed")) for line in out)


def test_seeds_given_to_the_scorer_must_be_distinct():
    with pytest.raises(InputError, match=r"held-out seeds must be distinct and at least one, got \[1, 1\]"):
        score_submission("cost-overrun", REVERT, seeds=[1, 1])
    with pytest.raises(InputError, match="at least one"):
        score_submission("cost-overrun", REVERT, seeds=[])
