"""The replay engine on the wall clock, for fleets with live (litellm) models.

Why a subclass and not a second engine: a live run must make exactly the decisions a simulated run
makes (routing, retries with backoff, fallbacks by error kind, circuit breakers, cascades, budget,
human queues), or comparing them would compare engines, not designs. So this module reuses
:class:`workbench.replay._Engine` and changes only how time passes: arrivals and scheduled events
(retries, human hand-offs) are ``loop.call_at`` timers on the wall clock, and a provider call is an
asyncio task; a simulated model in a live run sleeps its simulated latency. Requests in flight are
bounded by the scenario's ``concurrency``, as in virtual time.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from typing import Sequence

from workbench.errors import ErrorKind
from workbench.providers.base import Outcome
from workbench.replay import _END, _RETRY, ReplayStats, _Engine, _Req
from workbench.seeds import request_key
from workbench.traffic import Request

__all__ = ["LiveEngine", "is_live"]


def is_live(provider, scenario) -> bool:
    """True when any fleet model answers through a coroutine (a live provider)."""
    return any(inspect.iscoroutinefunction(provider.bind(n)) for n in scenario.fleet)


class LiveEngine(_Engine):
    """:class:`_Engine` with wall-clock timers and asynchronous provider calls."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.is_async = {n: inspect.iscoroutinefunction(fn) for n, fn in self.answer.items()}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.t0 = 0.0
        self.done: asyncio.Event | None = None
        self.tasks: set[asyncio.Task] = set()

    def now(self) -> float:
        return self.loop.time() - self.t0

    # --- time -------------------------------------------------------------------------------
    def push(self, t: float, code: int, st: _Req) -> None:
        self.loop.call_at(self.t0 + t, self._fire, code, st)

    def _fire(self, code: int, st: _Req) -> None:
        now = self.now()
        if code == _RETRY:
            self.attempt(st, now)
        elif code == _END:
            self.on_end(st, now)
        else:
            self.on_human_end(st, now)
        self._pump(now)

    def _arrive(self, seq: int, req: Request) -> None:
        now = self.now()
        self.waitq.append(_Req(seq, req, request_key(self.seed, req.id), now))
        self._pump(now)

    def _pump(self, now: float) -> None:
        while self.inflight < self.concurrency and self.waitq:
            self.start(self.waitq.popleft(), now)
        if self.stats.requests >= self.total or (self.cancel is not None and self.cancel()):
            self.stats.cancelled = self.stats.requests < self.total
            self.done.set()

    # --- calls ------------------------------------------------------------------------------
    def call(self, st: _Req, now: float, req: Request, rkey: int) -> None:
        target = st.target
        st.attempt_no += 1
        st.att_start = now
        self.fleet.in_flight[target] += 1
        task = self.loop.create_task(self._call(st, target, req, rkey, st.attempt_no))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _call(self, st: _Req, target: str, req: Request, rkey: int, attempt: int) -> None:
        limit = self.timeouts[target]
        answer = self.answer[target]
        try:
            if self.is_async[target]:
                out = await asyncio.wait_for(answer(req, rkey, st.att_start, attempt), timeout=limit + 1.0)
            else:  # a simulated model inside a live run: it takes its simulated time
                out = answer(req, rkey, st.att_start, attempt)
                await asyncio.sleep(min(out.latency_s, limit))
        except asyncio.TimeoutError:
            out = Outcome(False, limit, ErrorKind.TIMEOUT)
        if out.latency_s > limit or math.isinf(out.latency_s):
            out = Outcome(False, limit, ErrorKind.TIMEOUT, prompt_tokens=out.prompt_tokens)
        st.out = out
        now = self.now()
        self.on_end(st, now)
        self._pump(now)

    # --- the run ----------------------------------------------------------------------------
    async def run_async(self, requests: Sequence[Request], arrivals: Sequence[float],
                        seqs: Sequence[int]) -> ReplayStats:
        self.loop = asyncio.get_running_loop()
        self.done = asyncio.Event()
        if not requests:
            return self.stats
        # The clock reads the first arrival's time now: no idle wait before it, and a resumed run
        # keeps its requests' original arrival times.
        self.t0 = self.loop.time() - arrivals[0]
        for seq, req, t in zip(seqs, requests, arrivals):
            self.loop.call_at(self.t0 + t, self._arrive, seq, req)
        watch = self.loop.create_task(self._watch_cancel()) if self.cancel is not None else None
        try:
            await self.done.wait()
        finally:
            if watch is not None:
                watch.cancel()
            for task in list(self.tasks):
                task.cancel()
            self.flush()
        self.stats.virtual_s = self.now()
        if self.progress:
            self.progress(self.stats.requests, self.total, self.stats.cost_usd, self.stats.failed)
        return self.stats

    async def _watch_cancel(self) -> None:
        while not self.done.is_set():
            await asyncio.sleep(0.2)
            if self.cancel():
                self.stats.cancelled = True
                self.done.set()
