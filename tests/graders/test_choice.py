"""``choice``: the letter an answer chose, in the shapes models write it; expected letter or option."""

from __future__ import annotations

import pytest

from workbench.errors import ScenarioError
from workbench.graders.choice import chosen_letter
from workbench.traffic import Request


@pytest.mark.parametrize("text, letter", [
    ("B", "B"), ("B.", "B"), ("(B)", "B"), ("[B]", "B"), (" B\n", "B"), ("B) Paris", "B"), ("C: Paris", "C"),
    ("Answer: B", "B"), ("answer: (D)", "D"), ("The answer is B) Paris, because...", "B"),
    ("The correct answer is: C.", "C"), ("**Answer:** **D**", "D"), ("\\boxed{C}", "C"),
    ("Answer:\nB", "B"),
    ("I first thought A, but the answer is C, not option A.", "C"),  # an answer statement beats options
    ("The answer is a bit subtle. Options (A) and (C) are wrong, so (B).", "B"),  # 'a' is a word
    ("I would pick option D here.", "D"),
    ("A cat is a mammal, so the statement holds.", None),  # an article, not a choice
    ("Paris", None), ("The answer is E", None), ("", None),
])
def test_chosen_letter(text, letter):
    assert chosen_letter(text) == letter


def test_other_letters():
    assert chosen_letter("The answer is E", "ABCDE") == "E"
    assert chosen_letter("(b)", "AB") is None  # letters are capitals


@pytest.mark.parametrize("expected, text, score", [
    ("B", "The answer is B) Paris", 1.0),
    ("B. Paris", "(B)", 1.0),
    ("b", "B.", 1.0),
    ("(C)", "Answer: C", 1.0),
    ("B", "Answer: C", 0.0),
    ("B", "I don't know", 0.0),
    ("Paris", "B", None),   # expected names no letter: cannot judge
    (None, "B", None),
])
def test_scores_against_the_expected_letter(make_graders, expected, text, score):
    (grader,) = make_graders("- type: choice")
    assert grader.score(Request(id="r", prompt="q", expected=expected), text, None) == score


def test_five_letters_from_params(make_graders):
    (grader,) = make_graders("- {type: choice, params: {letters: ABCDE}}")
    assert grader.score(Request(id="r", prompt="q", expected="E. none"), "The answer is E.", None) == 1.0


@pytest.mark.parametrize("letters", ["''", "AAB", "ab", "A1"])
def test_bad_letters_name_the_field(make_graders, letters):
    with pytest.raises(ScenarioError) as info:
        make_graders(f"- {{type: choice, params: {{letters: {letters}}}}}")
    assert info.value.field == "graders[0].params.letters" and info.value.line == 8, str(info.value)
    assert "distinct capital letters" in str(info.value) or "at least 1" in str(info.value)
