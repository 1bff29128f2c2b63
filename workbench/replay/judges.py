"""LLM-judge calls: a collaborator of the replay engine that turns an answer into more paid, timed calls.

Why a collaborator with its own state: after a graded answer, each LLM judge of the scenario is called
in turn, on the same clock and through the same call path as any attempt (``purpose = judge``), and its
verdict joins the other graders'. An answer whose quality includes a judge's verdict has provenance
``judged`` (``simulated`` when the answer or a verdict was simulated: a simulated judge is no evidence).
What must survive between those calls (the answer being judged, its
verdicts so far, which judge is next) is a :class:`Judging` with named fields, hung on the request; the
engine is reached only through the three methods of :class:`JudgeHost`, so neither side reads the
other's private attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from workbench.graders import Grader
from workbench.graders.judge import LlmJudge
from workbench.providers.base import Outcome
from workbench.replay.state import RequestState
from workbench.traffic import Request

__all__ = ["JudgeCalls", "Judging", "JudgeHost"]

_JUDGE_KEY = 0x1D6E1D6E1D6E  # a judge model's draws differ from its draws when answering


@dataclass(slots=True)
class Judging:
    """An answer under judgement: who gave it, its grading so far, and the next judge to call."""

    target: str
    purpose: str
    out: Outcome
    verdicts: dict[str, float | None]
    next: int = 0
    sources: set[str] = field(default_factory=set)  # where the judges' verdicts came from (simulated, live...)


class JudgeHost(Protocol):
    """What the judges need of the engine: make a call, write its attempt row, accept a graded answer."""

    modes: dict[str, str]
    """Fleet model -> its provider's mode: where a judge's verdict came from when its call does not say."""

    def call(self, st: RequestState, now: float, req: Request, rkey: int) -> None:
        """Start one provider call for ``st`` to ``st.target``."""

    def record_call(self, st: RequestState, now: float, out: Outcome, score: float | None,
                    verdicts: dict[str, float | None] | None) -> None:
        """Write the attempt row of a finished call to ``st.target``."""

    def accept(self, st: RequestState, now: float, target: str, out: Outcome, score: float | None,
               verdicts: dict[str, float | None] | None) -> None:
        """Finish (or escalate) a graded answer."""


class JudgeCalls:
    """Calls each LLM judge of a scenario in turn after an answer, and folds its verdict in."""

    __slots__ = ("host", "judges", "labels", "models")

    def __init__(self, host: JudgeHost, graders: Sequence[Grader], labels: Sequence[str]):
        self.host = host
        pairs = [(g, lab) for g, lab in zip(graders, labels, strict=True) if g.needs_call]
        self.judges: list[LlmJudge] = [g for g, _ in pairs if isinstance(g, LlmJudge)]
        if len(self.judges) != len(pairs):
            raise TypeError("a grader with needs_call must be an LlmJudge (the engine calls its model)")
        self.labels = [lab for _, lab in pairs]
        self.models = [_judging_model(g) for g in self.judges]  # the fleet model each judge calls

    def __bool__(self) -> bool:
        return bool(self.judges)

    def begin(self, st: RequestState, now: float, target: str, out: Outcome,
              verdicts: dict[str, float | None] | None) -> None:
        """Judge ``out`` (``target``'s answer to ``st``): the first judge's call starts now."""
        st.judged = Judging(target, st.purpose, out, verdicts or {})
        self.next(st, now)

    def next(self, st: RequestState, now: float) -> None:
        """Call the next judge, or, when all have spoken, accept the answer with the mean verdict."""
        j = st.judged
        assert j is not None  # set by begin() until the last judge has spoken
        if j.next < len(self.judges):
            judge = self.judges[j.next]
            st.target, st.purpose = self.models[j.next], "judge"
            self.host.call(st, now, judge.judge_request(st.req, j.out.text, j.out.score),
                           st.rkey ^ _JUDGE_KEY ^ j.next)
            return
        scores = [v for v in j.verdicts.values() if v is not None]  # every grader's verdict, judges included
        score = sum(scores) / len(scores) if scores else None
        st.target, st.purpose, st.judged = j.target, j.purpose, None
        if j.sources and st.source != "simulated":  # a simulated answer stays simulated, however judged
            st.source = "simulated" if "simulated" in j.sources else "judged"
        self.host.accept(st, now, j.target, j.out, score, j.verdicts)

    def on_end(self, st: RequestState, now: float, out: Outcome) -> None:
        """A judge's call ended: record it with its verdict, then go on to the next judge."""
        j = st.judged
        assert j is not None
        verdict = self.judges[j.next].parse(out.text) if out.ok else None  # a failed judge call cannot judge
        label = self.labels[j.next]
        j.verdicts[label] = verdict
        if verdict is not None:
            j.sources.add(out.source or self.host.modes.get(st.target, "?"))
        self.host.record_call(st, now, out, verdict, {label: verdict})
        j.next += 1
        self.next(st, now)


def _judging_model(judge: LlmJudge) -> str:
    params = judge.params
    assert isinstance(params, LlmJudge.Params)  # an LlmJudge is always built with its own Params
    return params.model
