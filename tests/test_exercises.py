"""Interview exercises: every start design fails its rubric on exactly the flaws its brief names, every
reference solution passes, and the CLI prints what ``score_submission`` measured."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import SCENARIOS
from helpers import run

from workbench.cli import main
from workbench.errors import InputError, ScenarioError
from workbench.exercises import METRICS, list_exercises, load_rubric, score_submission

EXERCISES = SCENARIOS / "exercises"

#: The criteria each start design must fail: the flaws its brief describes, and no others.
START_FAILS = {
    "customer-service": {"cost_per_1k_usd", "p95_latency_s", "handoff_rate", "fallback for gpt-4o"},
    "cost-overrun": {"cost per 1k tickets", "daily budget guard"},
    "loan-approval": {"quality", "no decline without a person", "human node", "audit trail"},
    "failure-drill": {"error_rate", "fallback for gpt-4o", "circuit breaker", "human node"},
}


@pytest.fixture(scope="module")
def scored():
    """Each exercise's start and solution, scored once for the module."""
    return {(name, kind): score_submission(name, EXERCISES / name / f"{kind}.yaml")
            for name in START_FAILS for kind in ("start", "solution")}


def _renderings(target: float) -> set[str]:
    """Ways a brief may write a target: 0.85, 250, $3.00, $5,500, 0.5%, 120 s."""
    return {f"{target:g}", f"{target:,g}", f"{target:.2f}", f"${target:,g}", f"${target:,.2f}", f"{target * 100:g}%"}


def test_the_library_lists_four_exercises_with_all_their_files():
    found = list_exercises()
    assert [e.name for e in found] == sorted(START_FAILS)
    for e in found:
        assert all(p.is_file() for p in (e.brief, e.start, e.rubric, e.solution))
        rubric = load_rubric(e.rubric)
        assert e.title == rubric.title
        brief = e.brief.read_text()
        criteria = rubric.criteria + rubric.levels.exceeds.criteria
        for c in criteria:  # the brief states every numeric target of the rubric, the top level's too
            assert any(r in brief for r in _renderings(c.target)), (e.name, c.metric, c.target)


@pytest.mark.parametrize("name", sorted(START_FAILS))
def test_start_fails_exactly_its_flaws_and_the_solution_passes(scored, name):
    start, solution = scored[name, "start"], scored[name, "solution"]
    failed = {c.name for c in start.criteria if not c.passed and c.level == "meets"}
    assert failed == START_FAILS[name]
    assert start.level == "fails" and solution.level == "exceeds"
    assert not start.all_passed and start.passed == start.total - len(failed)
    assert solution.all_passed, [c for c in solution.criteria if not c.passed]
    assert solution.points == solution.max_points > start.points
    assert start.holdout == solution.holdout  # both replayed on the same held-out requests
    rubric = load_rubric(EXERCISES / name / "rubric.yaml")
    assert start.holdout["seeds"] == rubric.holdout.seeds and 42 not in rubric.holdout.seeds  # not the scenario's own
    assert len(rubric.holdout.seeds) >= 3 and list(start.runs) == rubric.holdout.seeds


def test_measured_values_are_the_flaws_the_briefs_describe(scored):
    def measured(name, kind, crit):
        return next(c.measured for c in scored[name, kind].criteria if c.name == crit)

    # customer-service: "two tickets in five reach them" (the agents), and customers wait minutes
    assert 0.35 < measured("customer-service", "start", "handoff_rate") < 0.5
    assert measured("customer-service", "start", "p95_latency_s") > 300
    assert measured("customer-service", "solution", "handoff_rate") < 0.08
    # cost-overrun: "about three times" the plan's $2.70 per 1k; the fix is below the plan ($2.34, the
    # solution's comments), at quality 0.863
    assert 2.5 < measured("cost-overrun", "start", "cost per 1k tickets") / 2.70 < 3.6
    assert measured("cost-overrun", "solution", "cost per 1k tickets") == pytest.approx(2.34, abs=0.01)
    assert measured("cost-overrun", "solution", "quality") == pytest.approx(0.863, abs=0.001)
    # loan-approval: the pilot declines dozens of the 240 held-out applications with nobody looking
    assert measured("loan-approval", "start", "no decline without a person") == 93
    assert measured("loan-approval", "solution", "no decline without a person") == 0
    assert measured("loan-approval", "solution", "audit trail") == "on"
    # failure-drill: "more than half of the tickets in the drill fail" today; none with the solution
    assert measured("failure-drill", "start", "error_rate") > 0.5
    assert measured("failure-drill", "solution", "error_rate") == 0.0
    assert measured("failure-drill", "solution", "circuit breaker") == "5 fails in 30 s, cooldown 20 s"


def test_yaml_text_scores_like_the_file(scored):
    text = (EXERCISES / "cost-overrun" / "start.yaml").read_text()
    from_text = score_submission("cost-overrun", text)
    assert from_text.submission == "<submission>"
    by_file = scored["cost-overrun", "start"]
    assert [(c.name, c.passed, c.measured) for c in from_text.criteria] == \
        [(c.name, c.passed, c.measured) for c in by_file.criteria]


def test_changing_the_world_fails_unchanged_conditions(tmp_path):
    text = (EXERCISES / "cost-overrun" / "solution.yaml").read_text()
    cheaper_o1 = text.replace("model: o1\n", "model: o1\n    price: {input_per_mtok: 1, output_per_mtok: 1}\n")
    assert cheaper_o1 != text
    result = score_submission("cost-overrun", cheaper_o1)
    bad = {c.name: c for c in result.criteria if not c.passed}
    assert set(bad) == {"conditions unchanged"}
    assert "premium" in bad["conditions unchanged"].measured and "differ from start.yaml" in \
        bad["conditions unchanged"].measured


def test_the_scored_run_is_kept_when_a_database_is_given(tmp_path):
    db = tmp_path / "kept.duckdb"
    result = score_submission("cost-overrun", EXERCISES / "cost-overrun" / "solution.yaml", db=db)
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        n, seed = con.execute("SELECT requests_planned, seed FROM runs WHERE run_id = ?", [result.run_id]).fetchone()
        kept = dict(con.execute("SELECT seed, run_id FROM runs").fetchall())
    assert (n, seed) == (300, 11)
    assert kept == result.runs and sorted(kept) == [11, 12, 13]  # one kept run per held-out seed


def _copy_exercise(tmp_path, rubric_text: str):
    root = tmp_path / "exercises"
    shutil.copytree(EXERCISES / "cost-overrun", root / "cost-overrun")
    (root / "cost-overrun" / "rubric.yaml").write_text(rubric_text)
    return root


@pytest.mark.parametrize("bad, line, field, words", [
    ("  - {metric: cost_per_1k, comparison: '<=', target: 3}", 8, "criteria[0].metric", "unknown metric"),
    ("  - {metric: quality, comparison: '<', target: 3}", 8, "criteria[0].comparison", "'<='"),
    ("  - {metric: quality, comparison: '>=', target: 0.8, weight: 2}", 8, "criteria[0].weight", "unknown field"),
])
def test_a_malformed_rubric_names_its_file_line_and_field(tmp_path, bad, line, field, words):
    text = (EXERCISES / "cost-overrun" / "rubric.yaml").read_text().splitlines()
    assert text[7].startswith("  - {name: cost per 1k tickets")  # line 8 is the first criterion
    text[7] = bad
    root = _copy_exercise(tmp_path, "\n".join(text) + "\n")
    with pytest.raises(InputError) as err:
        score_submission("cost-overrun", EXERCISES / "cost-overrun" / "solution.yaml", root=root)
    msg = str(err.value)
    assert f"rubric.yaml:{line}, field '{field}'" in msg and words in msg
    assert err.value.line == line and err.value.field == field


def test_a_rubric_that_is_not_a_mapping_or_not_yaml(tmp_path):
    with pytest.raises(InputError, match=r"rubric.yaml:1: a rubric is a YAML mapping"):
        score_submission("cost-overrun", "x.yaml", root=_copy_exercise(tmp_path / "a", "- just a list\n"))
    with pytest.raises(InputError, match=r"rubric.yaml:2: invalid YAML"):
        score_submission("cost-overrun", "x.yaml", root=_copy_exercise(tmp_path / "b", "title: x\n  bad: [\n"))


def test_unknown_exercise_and_bad_submission():
    with pytest.raises(InputError, match=r"unknown exercise 'nope' \(available: cost-overrun, customer-service"):
        score_submission("nope", "x.yaml")
    text = (EXERCISES / "cost-overrun" / "solution.yaml").read_text().replace("seed: 42", "seeds: 42")
    with pytest.raises(ScenarioError, match=r"^<scenario>:27, field 'seeds': unknown field"):
        score_submission("cost-overrun", text)  # YAML text: errors name the line in the text


def test_every_rubric_metric_is_a_run_summary_key(tmp_path):
    _, summary = run(SCENARIOS / "cost-overrun-fixed.yaml", tmp_path / "t.duckdb", requests=5)
    assert set(METRICS) <= set(summary)
    assert all(isinstance(summary[k], (int, float)) for k in METRICS if k != "quality")


def test_cli_text_and_json_agree_and_exit_codes(capsys, tmp_path):
    sub = str(EXERCISES / "cost-overrun" / "start.yaml")
    assert main(["exercise", "score", "cost-overrun", sub]) == 1
    text = capsys.readouterr().out.splitlines()
    assert main(["exercise", "score", "cost-overrun", sub, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    rows = [line for line in text if line.startswith(("  PASS", "  FAIL"))]
    assert len(rows) == len(data["criteria"]) == data["total"] + 2 == 8  # 6 to pass, 2 more to exceed
    for line, c in zip(rows, data["criteria"]):
        assert line.startswith(f"  {'PASS' if c['passed'] else 'FAIL'}  ")
    cost = data["criteria"][0]
    assert (cost["name"], cost["passed"], cost["target"]) == ("cost per 1k tickets", False, 3.0)
    assert f"measured ${cost['measured']:,.3f} (seed {cost['worst_seed']})" in rows[0]
    assert "target <= $3.000  (2 points)" in rows[0]
    assert f"measured {data['criteria'][1]['measured']:.3f}" in rows[1]
    assert f"total: {data['passed']}/6 criteria passed, {data['points']}/{data['max_points']} points" in text
    assert (data["passed"], data["points"], data["max_points"], data["all_passed"]) == (4, 5, 8, False)
    assert data["level"] == "fails" and "level: fails" in text and data["next_level"] == "meets"
    assert [m["name"] for m in data["missed"]] == ["cost per 1k tickets", "daily budget guard"]

    assert main(["exercise", "score", "cost-overrun", str(EXERCISES / "cost-overrun" / "solution.yaml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "total: 6/6 criteria passed, 8/8 points" in out and out[-1] == "level: exceeds"

    bad = tmp_path / "bad.yaml"
    bad.write_text((EXERCISES / "cost-overrun" / "solution.yaml").read_text().replace("budget:", "budgte:"))
    assert main(["exercise", "score", "cost-overrun", str(bad)]) == 2
    err = capsys.readouterr()
    assert err.out == "" and err.err.startswith(f"error: {bad}:") and "field 'budgte': unknown field" in err.err

    assert main(["exercise", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in listed] == sorted(START_FAILS)
    assert main(["exercise", "list"]) == 0
    assert "failure-drill      Survive a provider outage" in capsys.readouterr().out
