"""``numeric``: compare the final number of an answer with the expected number, as GSM8K scores it.

Why this extraction: GSM8K solutions end with ``#### 18``, and models asked to reason step by step
put their answer last. So the final number is the first number after the last ``####`` when there is
one, else the last number in the text. The same rule reads ``expected``, which may be a bare number
or a whole GSM8K solution. Numbers are read the way people write them: ``$1,234.50`` (commas only in
groups of three, so a list ``3,4,5`` is three numbers), ``-54`` and ``$-15`` (a minus right after a
digit or a word is subtraction, not a sign: in ``16-3`` the last number is 3), ``0.5``, ``18.``
(the full stop ends the sentence) and fractions ``3/4``. They are compared as numbers, within
``abs_tol``, so ``$20.00`` is right when 20 is expected.

Measured on RouteLLM's GSM8K outcomes (``tests/graders/test_numeric.py``, 1,319 questions): this
grader agrees with the recorded True/False on 99.2% of Mixtral's answers and 96.7% of GPT-4's. Where
it passes an answer the recorded labels fail (6 and 42), the number is right but not written as a bare
integer (``$20.00``, ``#### 7 packs and 2 extra``); where the labels pass one it fails (5 and 1), the
answer is a different number (0.5 for 5, -54 for 54).

An answer without any number scores 0; an ``expected`` without one cannot be judged (None).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

from workbench.graders.base import Grader, GraderParams, register

__all__ = ["Numeric", "final_number"]

_NUMBER = re.compile(r"""
    \$?(?P<neg>(?<![\w)\]])-\s?)?\$?\s?             # a sign only where it cannot be subtraction
    (?<![\d.])(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)
    (?:\s?/\s?(?P<den>\d+(?:\.\d+)?)(?![\d/]))?      # 3/4, but not a date 12/25/2024
""", re.VERBOSE)


def final_number(text: str) -> float | None:
    """The first number after the last ``####``, else the last number in ``text``; None if none."""
    if "####" in text:
        tail = text.rsplit("####", 1)[1]
        match = _NUMBER.search(tail)
    else:
        matches = list(_NUMBER.finditer(text))
        match = matches[-1] if matches else None
    if match is None:
        return None
    value = float(match["num"].replace(",", ""))
    den = float(match["den"]) if match["den"] else 0.0
    if den:
        value /= den
    return -value if match["neg"] else value


@register
class Numeric(Grader):
    """1 when the answer's final number equals the expected number within ``abs_tol``, else 0."""

    name = "numeric"

    class Params(GraderParams):
        """``abs_tol``: the largest difference still counted as equal."""

        abs_tol: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1e-6

    def score(self, req, text, provider_score):
        if req.expected is None or text is None:
            return None
        want = final_number(req.expected)
        if want is None:
            return None
        got = final_number(text)
        return 1.0 if got is not None and abs(got - want) <= self.params.abs_tol else 0.0
