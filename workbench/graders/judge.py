"""``llm_judge``: a fleet model reads the answer and says PASS or FAIL.

Why the grader only builds the question and reads the verdict: the judge's call is a model call like
any other (it costs, takes time, can fail, and is recorded as an attempt), so the replay engine makes
it, through the same providers, and scores the request with :meth:`LlmJudge.parse`. The grader's own
:meth:`score` therefore returns None (``needs_call`` tells :func:`~workbench.graders.base.grade_all` to
leave it out).

The judge request keeps the judged request's category and difficulty, and its ``expected`` verdict is
the one the answer deserves by its provider's score (PASS at 0.5 or more): a simulated judge then
answers right as often as the simulated judge model is accurate on such a request, and wrong with the
other word (``metadata.choices``). With no provider score there is no right verdict to simulate.

Verdicts are read as whole words and the last one wins, so "not a FAIL... PASS" is a pass. The words
are looked for as written first, so "FAIL: the answer does not pass" is a fail; only a reply without
them is read case-insensitively ("Pass."). A reply with neither word cannot be scored (None).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from workbench.graders.base import Grader, GraderParams, register
from workbench.traffic import Request

__all__ = ["LlmJudge", "DEFAULT_CRITERIA"]

#: The rubric used when a scenario gives none.
DEFAULT_CRITERIA = ("The answer is correct, complete and responsive to the question, with no invented "
                    "facts. Style does not matter.")

_Word = Annotated[str, Field(min_length=1, pattern=r"^\S+$")]


@register
class LlmJudge(Grader):
    """Builds the judge's request and parses its verdict; the replay engine makes the call."""

    name = "llm_judge"
    needs_call = True

    params: Params  # the validated params: this class's own, not the base GraderParams

    class Params(GraderParams):
        """``model``: the judging fleet model; ``criteria``: the rubric; the two verdict words."""

        model: Annotated[str, Field(min_length=1)]
        criteria: Annotated[str, Field(min_length=1)] = DEFAULT_CRITERIA
        pass_word: _Word = "PASS"
        fail_word: _Word = "FAIL"

        @field_validator("fail_word")
        @classmethod
        def _distinct(cls, fail_word: str, info: ValidationInfo) -> str:
            pass_word = info.data.get("pass_word")
            if pass_word is not None and pass_word.casefold() == fail_word.casefold():
                raise ValueError(f"fail_word must differ from pass_word ('{pass_word}')")
            return fail_word

    def bind(self, scenario, loc):
        if self.params.model not in scenario.fleet:
            raise scenario.error_at((*loc, "params", "model"), f"'{self.params.model}' is not a fleet model "
                                    f"(fleet: {', '.join(scenario.fleet)})")

    @cached_property
    def _verdicts(self) -> tuple[re.Pattern, re.Pattern]:
        words = "|".join(re.escape(w) for w in (self.params.pass_word, self.params.fail_word))
        rx = rf"(?<!\w)(?:{words})(?!\w)"
        return re.compile(rx), re.compile(rx, re.IGNORECASE)

    def judge_request(self, req: Request, answer_text: str | None, provider_score: float | None) -> Request:
        """The request sent to the judge model about ``answer_text``, the answer to ``req``."""
        p = self.params
        prompt = (f"You are grading an answer to a question.\n\nCriteria: {p.criteria}\n\n"
                  f"Question:\n{req.prompt}\n\nAnswer:\n{answer_text or '(no answer)'}\n\n"
                  f"Does the answer meet the criteria? Reply with one word: {p.pass_word} if it does, "
                  f"{p.fail_word} if it does not.")
        expected = None
        if provider_score is not None:
            expected = p.pass_word if provider_score >= 0.5 else p.fail_word
        return Request(id=f"{req.id}#judge", prompt=prompt, category=req.category, difficulty=req.difficulty,
                       expected=expected, metadata={"choices": [p.pass_word, p.fail_word]})

    def parse(self, judge_text: str | None) -> float | None:
        """1.0 for the pass word, 0.0 for the fail word (the last one in the text wins), None for neither."""
        if not judge_text:
            return None
        for rx in self._verdicts:
            matches = list(rx.finditer(judge_text))
            if matches:
                last = matches[-1]
                return 1.0 if last[0].casefold() == self.params.pass_word.casefold() else 0.0
        return None

    def score(self, req, text, provider_score):
        return None
