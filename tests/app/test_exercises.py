"""The Exercises page's helpers: briefs found on disk, the scorer found if present, results shown per criterion."""

from __future__ import annotations

import importlib

from workbench.app import exercises
from workbench.exercises import CriterionResult, ExerciseResult


def test_lists_folders_with_a_brief(tmp_path):
    assert exercises.list_exercises(tmp_path) == {}
    for name in ("b-drill", "a-overrun"):
        (tmp_path / "exercises" / name).mkdir(parents=True)
        (tmp_path / "exercises" / name / "brief.md").write_text(f"# {name}")
    (tmp_path / "exercises" / "no-brief").mkdir()
    found = exercises.list_exercises(tmp_path)
    assert list(found) == ["a-overrun", "b-drill"] and found["b-drill"] == tmp_path / "exercises" / "b-drill"


def test_scorer_is_the_exercise_module_or_none(monkeypatch):
    assert exercises.scorer() is importlib.import_module("workbench.exercises").score_submission
    real = importlib.import_module

    def missing(name, *a):
        if name == "workbench.exercises":
            raise ImportError(name)
        return real(name, *a)

    monkeypatch.setattr(exercises.importlib, "import_module", missing)
    assert exercises.scorer() is None


def test_result_per_criterion():
    result = ExerciseResult("cost-overrun", "design.yaml", "mine", "mine-1", "simulated", {}, [
        CriterionResult("cost per 1k tickets", "metric", False, 9.0337, 3.0, "<=", 2, "cost_per_1k_usd"),
        CriterionResult("quality (0-1)", "metric", True, 0.897, 0.85, ">=", 2, "quality"),
        CriterionResult("daily budget guard", "element", False, "none", "a budget of at most $1.5", "=", 1,
                        detail="no budget: section")])
    html = exercises.result_html(result)
    assert "<b>1/3 criteria passed</b>, 2/5 points (replayed on held-out traffic, simulated, run mine-1)" in html
    assert html.count("data-pass='false'") == 2 and html.count("data-pass='true'") == 1
    assert "FAIL <b>cost per 1k tickets</b>: measured $9.034, target &lt;= $3.000 </li>" in html  # money in $
    assert "no budget: section" in html
    plain = exercises.result_html({"criteria": {"fallback for large": True, "budget": {"passed": False}}})
    assert plain.count("<li") == 2 and "PASS <b>fallback for large</b>" in plain and "FAIL <b>budget</b>" in plain
    assert exercises.result_html("42 points") == "<pre>42 points</pre>"


def test_the_level_and_the_criteria_above_passing_are_shown():
    result = ExerciseResult("cost-overrun", "design.yaml", "mine", "mine-1", "simulated", {}, [
        CriterionResult("cost per 1k tickets", "metric", True, 2.7046, 3.0, "<=", 2, "cost_per_1k_usd"),
        CriterionResult("cost per 1k tickets", "metric", False, 2.7046, 2.5, "<=", 1, "cost_per_1k_usd",
                        level="exceeds", worst_seed=12)], top_level="exceeds")
    html = exercises.result_html(result)
    assert "<p class='wb-level'>level: <b>meets</b></p>" in html
    assert "PASS <b>cost per 1k tickets</b>: measured $2.705, target &lt;= $3.000 </li>" in html
    assert "FAIL [exceeds] <b>cost per 1k tickets</b>: measured $2.705, target &lt;= $2.500 </li>" in html
    assert "wb-level" not in exercises.result_html({"criteria": {"budget": True}})  # no level: none shown


def test_the_candidate_never_sees_the_panel_section():
    from conftest import SCENARIOS

    for brief in sorted((SCENARIOS / "exercises").glob("*/brief.md")):
        text = brief.read_text()
        shown = exercises.candidate_brief(text)
        assert "## Your task" in shown and "What the panel looks for" in text
        assert "What the panel looks for" not in shown and "Follow-up questions" not in shown
    assert exercises.candidate_brief("# no panel section") == "# no panel section"


def test_rates_are_percentages_and_a_missing_value_says_so():
    result = ExerciseResult("failure-drill", "design.yaml", "mine", "mine-1", "simulated", {}, [
        CriterionResult("errors", "metric", False, 0.0412, 0.02, "<=", 2, "error_rate"),
        CriterionResult("quality (0-1)", "metric", False, None, 0.85, ">=", 2, "quality")])
    html = exercises.result_html(result)
    assert "FAIL <b>errors</b>: measured 4.12%, target &lt;= 2.00% </li>" in html
    assert "FAIL <b>quality (0-1)</b>: not measured, target &gt;= 0.850 </li>" in html
    assert "None" not in html
