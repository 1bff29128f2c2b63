"""``classifier``: a small fleet model labels each request, and the label picks the route (LLM as router).

Why the label call is an ordinary attempt: a router model is not free. Its call is made by the
replay as an attempt with purpose ``route``, with its own tokens, cost, latency and failures, so a
report's savings are net of the router's cost, and a slow or failing router shows in latency and in
the share of requests sent to ``default``.

How a simulated classifier can be right or wrong: ``truth`` says what the right label of a request is
(from its difficulty, or its category). The consult request carries that label as its expected answer
and the labels as its choices, so the simulated router model answers it correctly with its own
quality at the request's difficulty, and otherwise names another label. Live and recorded providers
ignore ``truth``: the model's real answer decides.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from workbench.policies.base import Consult, Decision, Policy, PolicyParams, RouteContext, register
from workbench.traffic import Request

__all__ = ["Classifier"]

DEFAULT_PROMPT = ("You route customer requests. Answer with exactly one label from: {labels}.\n"
                  "Request:\n{prompt}\nLabel:")


class ByDifficulty(PolicyParams):
    """Right label: ``high`` when the request's difficulty is above ``threshold``, else ``low``."""

    by: Literal["difficulty"]
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.5
    low: str
    high: str


class ByCategory(PolicyParams):
    """Right label: ``labels[category]`` (requests of other categories have none)."""

    by: Literal["category"]
    labels: dict[str, str]


class Classifier(Policy):
    """Ask fleet model ``model`` for a label, then route by ``routes[label]`` (``default`` otherwise)."""

    name = "classifier"

    params: Params  # the validated params: this class's own, not the base PolicyParams

    class Params(PolicyParams):
        """``model`` labels; ``routes`` maps label -> target; ``default`` catches failures and strays."""

        model: str
        routes: Annotated[dict[str, str], Field(min_length=2)]
        default: str
        prompt: str = DEFAULT_PROMPT
        truth: Annotated[ByDifficulty | ByCategory, Field(discriminator="by")] | None = None

        @field_validator("prompt")
        @classmethod
        def _has_prompt(cls, value: str) -> str:
            if "{prompt}" not in value:
                raise ValueError("prompt must contain {prompt}")
            return value

    def __init__(self, params, scenario):
        super().__init__(params, scenario)
        if params.model not in scenario.fleet:
            raise scenario.error_at(("router", "params", "model"),
                                    f"'{params.model}' must be a fleet model (fleet: {', '.join(scenario.fleet)})")
        t = params.truth
        named = {t.low, t.high} if isinstance(t, ByDifficulty) else set(t.labels.values()) if t else set()
        unknown = named - set(params.routes)
        if unknown:
            raise scenario.error_at(("router", "params", "truth"), "truth names labels that are not routes: "
                                    f"{', '.join(sorted(unknown))} (routes: {', '.join(params.routes)})")
        self._labels = list(params.routes)
        self._choices = self._labels
        # Longest first, so "very_complex" is found before "complex" inside an answer.
        self._pattern = re.compile(r"\b(" + "|".join(re.escape(lb) for lb in
                                                    sorted(self._labels, key=len, reverse=True)) + r")\b",
                                   re.IGNORECASE)
        self._lower = {lb.lower(): lb for lb in self._labels}
        self._text = params.prompt.replace("{labels}", ", ".join(self._labels))

    def referenced_targets(self) -> dict[tuple, str]:
        refs: dict[tuple, str] = {("routes", label): target for label, target in self.params.routes.items()}
        refs[("default",)] = self.params.default
        return refs

    def truth_label(self, req: Request) -> str | None:
        """The right label of ``req`` under ``truth`` (None without truth or for an unmapped category)."""
        t = self.params.truth
        if t is None:
            return None
        if isinstance(t, ByDifficulty):
            return None if req.difficulty is None else (t.high if req.difficulty > t.threshold else t.low)
        return None if req.category is None else t.labels.get(req.category)

    def decide(self, req: Request, ctx: RouteContext) -> Decision:
        ask = Request(id=f"{req.id}#route", prompt=self._text.replace("{prompt}", req.prompt),
                      category=req.category, difficulty=req.difficulty, expected=self.truth_label(req),
                      metadata={"choices": self._choices})
        return Decision(None, f"asked {self.params.model} for a label",
                        consult=Consult(self.params.model, ask))

    def after_consult(self, req: Request, ctx: RouteContext, answer: str | None) -> Decision:
        p = self.params
        if answer is None:
            return Decision(p.default, f"classifier {p.model} failed: default")
        found = self._pattern.search(answer)
        if found is None:
            return Decision(p.default, f"classifier said {answer[:40]!r}, not a label: default")
        label = self._lower[found.group(1).lower()]
        return Decision(p.routes[label], f"classifier {p.model} said '{label}'")


register(Classifier)
