"""One virtual clock for two engines: the baseline's and the candidate's events on one heap.

Why one heap and two engines (not one engine over a merged fleet): each design keeps everything that
makes it that design (its fleet, policy, retries, fallbacks, breaker, budget, concurrency and graders)
in its own unchanged :class:`~workbench.replay.engine.Engine`; only time is shared. Each request is
handed to one engine when it arrives, so the trace is one run whose requests each carry their ``arm``,
and a rollout decision taken at an arrival sees exactly the requests that had finished by then (no
look-ahead: requests in flight are not evidence yet).
"""

from __future__ import annotations

import gc
import heapq
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from workbench.errors import ErrorKind
from workbench.providers.base import Answer, Outcome
from workbench.replay.state import RequestState
from workbench.traffic import Request

if TYPE_CHECKING:  # pragma: no cover
    from workbench.replay.clocks import Handler
    from workbench.replay.engine import Engine

__all__ = ["SharedHeap", "ArmClock"]


class SharedHeap:
    """The events of every arm: ``(time, sequence, handler, request)``; one sequence keeps ties ordered."""

    __slots__ = ("heap", "counter")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Handler, RequestState]] = []
        self.counter = 0

    def run(self, engines: Sequence[Engine], requests: Sequence[Request], arrivals: Sequence[float],
            pick: Callable[[int, float], int], cancel: Callable[[], bool] | None = None) -> float:
        """Play every arrival and event; ``pick(i, now)`` names the engine (index) request ``i`` goes to
        (it may look at the guardrails first). Returns the last event's time."""
        was_enabled = gc.isenabled()
        gc.disable()  # as VirtualClock.run: the loop's short-lived objects are acyclic
        try:
            now = self._loop(engines, requests, arrivals, pick, cancel)
        finally:
            if was_enabled:
                gc.enable()
        for e in engines:
            e.flush()
        return now

    def _loop(self, engines: Sequence[Engine], requests: Sequence[Request], arrivals: Sequence[float],
              pick: Callable[[int, float], int], cancel: Callable[[], bool] | None) -> float:
        heap, pop = self.heap, heapq.heappop
        n, i, now, checks = len(requests), 0, 0.0, 0
        while i < n or heap:
            if i < n and (not heap or arrivals[i] <= heap[0][0]):
                now = arrivals[i]
                engines[pick(i, now)].arrive(i, requests[i], now)
                i += 1
            else:
                now, _, handler, st = pop(heap)
                handler(st, now)
            for e in engines:  # Engine.pump, inlined
                waitq = e.waitq
                while e.inflight < e.concurrency and waitq:
                    e.start(waitq.popleft(), now)
            checks += 1
            if cancel is not None and checks % 512 == 0 and cancel():
                for e in engines:
                    e.stats.cancelled = True
                break
        return now


class ArmClock:
    """One engine's view of the shared heap (the :class:`~workbench.replay.clocks.Clock` protocol)."""

    __slots__ = ("shared", "engine", "answer", "timeouts", "on_end")
    stopping = False  # a virtual run is never signalled part way

    def __init__(self, shared: SharedHeap):
        self.shared = shared

    def attach(self, engine: Engine) -> None:
        """Serve ``engine`` (a rollout replays simulated or recorded fleets: answers are synchronous)."""
        self.engine = engine
        self.answer = cast(dict[str, Answer], engine.answer)
        self.timeouts, self.on_end = engine.timeouts, engine.on_end

    def at(self, t: float, handler: Handler, st: RequestState) -> None:
        """Push an event on the shared heap."""
        sh = self.shared
        sh.counter += 1
        heapq.heappush(sh.heap, (t, sh.counter, handler, st))

    def call(self, st: RequestState, target: str, req: Request, rkey: int, now: float) -> None:
        """Draw the call's outcome now (capped at the target's timeout); its end is an event."""
        out = self.answer[target](req, rkey, now, st.attempt_no)
        limit = self.timeouts[target]
        if out.latency_s > limit:
            out = Outcome(False, limit, ErrorKind.TIMEOUT, prompt_tokens=out.prompt_tokens)
        st.out = out
        sh = self.shared
        sh.counter += 1
        heapq.heappush(sh.heap, (now + out.latency_s, sh.counter, self.on_end, st))

    def run(self, requests: Sequence[Request], arrivals: Sequence[float], seqs: Sequence[int]) -> float:
        """Not used: :meth:`SharedHeap.run` drives both engines."""
        raise NotImplementedError("a rollout's engines are driven by SharedHeap.run")
