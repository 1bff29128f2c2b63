"""``cascade``: try the cheapest model first and escalate when its answer fails a check.

Why a cascade: most requests are easy, and an easy request answered well by a cheap model need never
reach the expensive one. Both calls of an escalated request are paid and recorded (the first answer,
then the escalation with purpose ``escalation``), so the report shows whether the checks save money
net of the double calls.

The checks, any of which sends the answer up the chain:

* ``min_score``: the scenario's graders scored the answer below it. With an ``exact`` grader this
  compares to the expected answer, which production does not have: it is the upper bound a perfect
  verifier would reach. A deployable check is a judge model or a format rule.
* ``refusal``: the answer matches a refusal pattern ("I can't help with that").
* ``format``: the answer does not match the required format.
"""

from __future__ import annotations

import itertools
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from workbench.policies.base import Decision, Policy, PolicyParams, RouteContext, check_regex, register
from workbench.registry import compile_regex

__all__ = ["Cascade"]


class Cascade(Policy):
    """Answer with ``chain[0]``; on a failed check, escalate to the next model of ``chain``."""

    name = "cascade"

    params: Params  # the validated params: this class's own, not the base PolicyParams

    class Params(PolicyParams):
        """``chain`` cheapest first; at least one of ``min_score``, ``refusal``, ``format``."""

        chain: Annotated[list[str], Field(min_length=2)]
        min_score: Annotated[float, Field(ge=0, le=1)] | None = None
        refusal: str | None = None
        format: str | None = None

        _check_regex = field_validator("refusal", "format")(check_regex)

        @model_validator(mode="after")
        def _some_check(self) -> Cascade.Params:
            if self.min_score is None and self.refusal is None and self.format is None:
                raise ValueError("a cascade needs a check: min_score, refusal or format")
            if len(set(self.chain)) != len(self.chain):
                raise ValueError("chain lists a target twice")
            return self

    def __init__(self, params, scenario):
        super().__init__(params, scenario)
        if params.min_score is not None and not scenario.graders:
            raise scenario.error_at(("router", "params", "min_score"), "min_score needs graders in the scenario")
        self._next = dict(itertools.pairwise(params.chain))
        # RE2: a user's pattern runs on every answer, in linear time (see workbench.registry)
        self._refusal = compile_regex(params.refusal) if params.refusal else None
        self._format = compile_regex(params.format) if params.format else None

    def referenced_targets(self) -> dict[tuple, str]:
        return {("chain", i): t for i, t in enumerate(self.params.chain)}

    def method_notes(self) -> list[str]:
        if self.params.min_score is None:
            return []
        graders = sorted({g.type for g in self.scenario.graders} - {"llm_judge"})
        if not graders:
            return []
        return [f"cascade: min_score checks answers with the graders {', '.join(graders)}, which know the expected "
                "answer or the recorded verdict: a perfect verifier, the upper bound of a cascade, not a "
                "deployable check"]

    def decide(self, req, ctx: RouteContext) -> Decision:
        return Decision(self.params.chain[0], "cascade: cheapest first")

    def review(self, req, ctx: RouteContext, target: str, answer: str | None,
               score: float | None) -> tuple[str, str] | None:
        nxt = self._next.get(target)
        if nxt is None:
            return None
        p = self.params
        if p.min_score is not None and score is not None and score < p.min_score:
            return nxt, f"score {score:.2f} < {p.min_score:g}"
        text = answer or ""
        if self._refusal is not None and self._refusal.search(text):
            return nxt, "answer is a refusal"
        if self._format is not None and not self._format.search(text):
            return nxt, "answer is not in the required format"
        return None


register(Cascade)
