"""``choice``: multiple choice, by the letter the answer chose.

Why these rules, in this order: models answer a lettered question in a few recurring shapes, and a
lone capital letter is also an English word ("A cat..."), so a letter counts only where its shape says
it is a choice:

1. a statement of the answer, the last one winning ("the answer is (B)", "Answer: B",
   ``\\boxed{D}``), so "I first thought A, but the answer is C" is C;
2. else a letter opening the answer and closed by punctuation or the end: ``B``, ``B.``, ``(B)``,
   ``B) because...``, ``C: Paris``;
3. else the last option named as such ("I'd pick option C");
4. else the last letter in brackets anywhere: "... so (B)".

Markdown emphasis (``**B**``) is ignored. ``expected`` may be the letter or the full option
(``B. Paris``); one that names no letter cannot be judged (None). An answer that names none scores 0.
"""

from __future__ import annotations

import re
from functools import cached_property

from pydantic import field_validator

from workbench.graders.base import Grader, GraderParams, register

__all__ = ["Choice", "chosen_letter"]


def _patterns(letters: str) -> tuple[re.Pattern, ...]:
    cls = "[" + re.escape(letters) + "]"
    letter = rf"\s*[:\-]?\s*[\(\[]?({cls})(?![\w'])"
    return (
        re.compile(rf"(?i:\banswer\b(?:\s+is)?){letter}|\\boxed\{{\s*({cls})\s*\}}"),
        re.compile(rf"\s*[\(\[]?({cls})(?:[\)\].:,]|\s*$)"),
        re.compile(rf"(?i:\b(?:option|choice)\b){letter}"),
        re.compile(rf"[\(\[]({cls})[\)\]]"),
    )


def chosen_letter(text: str, letters: str = "ABCD") -> str | None:
    """The letter ``text`` chose among ``letters`` by the rules above, or None."""
    return _find(text, _patterns(letters))


def _last(pattern: re.Pattern, text: str) -> str | None:
    matches = list(pattern.finditer(text))
    return next(g for g in matches[-1].groups() if g) if matches else None


def _find(text: str, rules: tuple[re.Pattern, ...]) -> str | None:
    answer, leading, option, bracketed = rules
    text = text.replace("*", "")
    found = _last(answer, text)
    if found is None:
        m = leading.match(text)
        found = m[1] if m else _last(option, text) or _last(bracketed, text)
    return found


@register
class Choice(Grader):
    """1 when the answer chose the expected letter, 0 when it chose another or none."""

    name = "choice"

    params: Params  # the validated params: this class's own, not the base GraderParams

    class Params(GraderParams):
        """``letters``: the option letters, in order (``ABCD`` by default)."""

        letters: str = "ABCD"

        @field_validator("letters")
        @classmethod
        def _distinct_capitals(cls, value: str) -> str:
            if not value or not all(c.isalpha() and c.isupper() for c in value) or len(set(value)) != len(value):
                raise ValueError("letters must be distinct capital letters, such as ABCD")
            return value

    @cached_property
    def _rules(self) -> tuple[re.Pattern, ...]:
        return _patterns(self.params.letters)

    @cached_property
    def _expected_rule(self) -> re.Pattern:
        # expected is written by the traffic's author: any case, alone or opening the full option
        return re.compile(rf"\s*[\(\[]?([{re.escape(self.params.letters)}])(?:[\)\].:,\s]|$)", re.I)

    def score(self, req, text, provider_score):
        if req.expected is None or text is None:
            return None
        m = self._expected_rule.match(req.expected)
        if m is None:
            return None
        return 1.0 if _find(text, self._rules) == m[1].upper() else 0.0
