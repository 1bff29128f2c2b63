"""The grader contract: ``grade_all`` (mean and verdicts by label), ``grade``, and ``bind`` at build."""

from __future__ import annotations

import pytest

from workbench.errors import ScenarioError
from workbench.graders import base
from workbench.graders.base import Grader, grade, grade_all, grader_labels, grader_names
from workbench.traffic import Request

REQ = Request(id="r", prompt="How many?", expected="18")


def test_grade_all_labels_repeats_and_averages_those_that_judge(make_graders):
    graders = make_graders("""
        - type: exact
        - type: numeric
        - type: contains
        - type: numeric
          params: {abs_tol: 1}
        - type: exact
        - type: provider_score
    """)
    assert grader_labels(graders) == ["exact", "numeric", "contains", "numeric#2", "exact#2", "provider_score"]
    mean, verdicts = grade_all(graders, REQ, "The answer is 18.5", None)
    assert verdicts == {"exact": 0.0, "numeric": 0.0, "contains": 1.0, "numeric#2": 1.0, "exact#2": 0.0,
                        "provider_score": None}
    assert mean == pytest.approx(2 / 5)
    assert grade(graders, REQ, "The answer is 18.5", None) == mean
    assert grade_all(graders, REQ, "18", 0.5) == (pytest.approx(5.5 / 6), {
        "exact": 1.0, "numeric": 1.0, "contains": 1.0, "numeric#2": 1.0, "exact#2": 1.0, "provider_score": 0.5})


def test_nobody_can_judge():
    assert grade_all([], REQ, "18", 1.0) == (None, {})
    assert grade([], REQ, "18", 1.0) is None


@pytest.fixture
def spy_grader():
    """A grader type ``spy`` that records how it was bound; unregistered afterwards."""

    class Spy(Grader):
        name = "spy"
        bound: list = []

        def bind(self, scenario, loc):
            Spy.bound.append((scenario.name, loc))
            if loc == ("graders", 3):
                raise scenario.error_at((*loc, "params"), "spy refuses the fourth place")

        def score(self, req, text, provider_score):
            return 1.0

    base.register(Spy)
    yield Spy
    del base._REGISTRY._items["spy"]


def test_build_binds_each_grader_with_its_location(make_graders, spy_grader):
    assert "spy" in grader_names()
    graders = make_graders("- type: spy\n- type: exact\n- type: spy")
    assert [g.name for g in graders] == ["spy", "exact", "spy"]
    assert spy_grader.bound == [("g", ("graders", 0)), ("g", ("graders", 2))]
    with pytest.raises(ScenarioError) as info:
        make_graders("- type: spy\n- type: exact\n- type: exact\n- type: spy")
    assert (info.value.line, info.value.field) == (11, "graders[3].params")
    assert "spy refuses the fourth place" in str(info.value)


def test_every_grader_of_the_brief_is_registered():
    assert {"numeric", "choice", "regex", "json_schema", "embedding", "human_label", "recorded_score",
            "llm_judge", "exact", "contains", "provider_score"} <= set(grader_names())
