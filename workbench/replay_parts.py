"""Two self-contained parts of the replay engine: circuit breakers and LLM-judge calls.

Why apart from :mod:`workbench.replay`: each is a small state machine the engine drives (a breaker
counts failures per target in a sliding window; a judge turns one answer into one more paid, timed
call whose verdict joins the others), and keeping them here keeps the engine's event loop readable.
The judge methods are a mixin of the engine: they schedule calls through its ``call`` and finish
through its ``accept``, so a judge's call is an attempt like any other (``purpose = judge``).
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from workbench.errors import ErrorKind
from workbench.providers.base import Outcome

if TYPE_CHECKING:  # pragma: no cover
    from workbench.replay import _Req

__all__ = ["_Breaker", "_JudgeCalls"]

_JUDGE_KEY = 0x1D6E1D6E1D6E  # a judge model's draws differ from its draws when answering


class _Breaker:
    """Per-target circuit breakers: more than ``allowed_fails`` failures within ``window_s`` opens the
    circuit for ``cooldown_s``; ``kind`` remembers the failure that opened it, for fallback choice."""

    __slots__ = ("allowed", "window", "cooldown", "errors", "fails", "open_until", "kind")

    def __init__(self, spec, targets):
        self.allowed, self.window, self.cooldown = spec.allowed_fails, spec.window_s, spec.cooldown_s
        self.errors = frozenset(spec.errors)
        self.fails: dict[str, deque] = {t: deque() for t in targets}
        self.open_until: dict[str, float] = {t: -math.inf for t in targets}
        self.kind: dict[str, ErrorKind] = {}

    def failed(self, target: str, kind: ErrorKind, now: float) -> None:
        if kind not in self.errors:
            return
        q = self.fails[target]
        q.append(now)
        while q and q[0] <= now - self.window:
            q.popleft()
        if len(q) > self.allowed:
            self.open_until[target], self.kind[target] = now + self.cooldown, kind
            q.clear()



class _JudgeCalls:
    """Engine mixin: after an answer, each LLM judge of the scenario is called in turn."""

    # --- LLM judges: each one a paid, timed call after the answer ------------------------------
    def judge_next(self, st: _Req, now: float) -> None:
        target, purpose, out, score, verdicts, i = st.judged
        if i < len(self.judges):
            judge = self.judges[i]
            st.target, st.purpose = judge.params.model, "judge"
            self.call(st, now, judge.judge_request(st.req, out.text, out.score), st.rkey ^ _JUDGE_KEY ^ i)
            return
        scores = [v for v in verdicts.values() if v is not None]  # every grader's verdict, judges included
        score = sum(scores) / len(scores) if scores else None
        st.target, st.purpose, st.judged = target, purpose, None
        self.accept(st, now, target, out, score, verdicts)

    def on_judge_end(self, st: _Req, now: float, out: Outcome) -> None:
        judge = self.judges[st.judged[5]]
        verdict = judge.parse(out.text) if out.ok else None  # a failed judge call cannot judge
        label = self.judge_labels[st.judged[5]]
        st.judged[4][label] = verdict
        self.record(st, now, out, verdict, st.target, self.models[st.target],
                    out.source or self.modes.get(st.target, "?"), 0.0, {label: verdict})
        st.judged[5] += 1
        self.judge_next(st, now)

