"""The two clocks the replay engine runs on: a virtual heap of events, and asyncio's wall clock.

Why a seam here and nowhere else: the engine's decisions must not depend on how time passes, or a live
run and a simulated run of one design would differ by engine, not by design. A clock does three things
for the engine: run a bound method at a later time (:meth:`Clock.at`), carry out one provider call and
run ``engine.on_end`` when it ends (:meth:`Clock.call`), and drive a whole run: arrivals, and starting
waiting requests after every event (:meth:`Clock.run`). Every event is dispatched in one place per clock
(``VirtualClock.run``'s loop, ``AsyncioClock._fire``) as ``handler(state, now)``.

:class:`VirtualClock`: time jumps from one event to the next, so a simulated day with its queues, rate
limits, backoffs and outages replays in seconds, exactly and repeatably. A call's outcome is known when
it starts (the provider draws it), so its end is one more event on the heap.

:class:`AsyncioClock`: for fleets with live (litellm) models. Arrivals and scheduled events are
``loop.call_at`` timers; a call is an asyncio task (a simulated model in a live run sleeps its simulated
latency). Rows are also written every ``flush_interval_s`` wall seconds, so a SIGKILL loses at most the
last seconds' paid answers; SIGTERM and SIGINT (when the run owns the main thread) stop new calls, let
the calls in flight end (at most :data:`DRAIN_S` seconds; a second signal stops at once), write every
finished request and raise :class:`~workbench.errors.RunInterrupted`, so ``workbench resume`` re-sends
only the requests not recorded. Test hooks (:mod:`workbench.faults`) fire from the engine's flush, the
timed one included.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import math
import signal
import threading
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from workbench.errors import ErrorKind, RunInterrupted
from workbench.providers.base import Answer, Outcome
from workbench.replay.state import RequestState
from workbench.traffic import Request

if TYPE_CHECKING:  # pragma: no cover
    from workbench.replay.engine import Engine

__all__ = ["Clock", "VirtualClock", "AsyncioClock", "FLUSH_INTERVAL_S", "DRAIN_S"]

#: Wall seconds between two writes of a live run's finished requests.
FLUSH_INTERVAL_S = 2.0
#: Wall seconds a signalled run waits for its calls in flight before it drops them.
DRAIN_S = 10.0
_SIGNALS = (signal.SIGTERM, signal.SIGINT)

#: An engine event: a bound method called with the request and the time it fires.
Handler = Callable[[RequestState, float], None]


class Clock(Protocol):
    """How time passes for an :class:`~workbench.replay.engine.Engine`."""

    @property
    def stopping(self) -> bool:
        """True once no new call may start (a signalled live run)."""

    def attach(self, engine: Engine) -> None:
        """Drive ``engine`` (called once, by the engine's constructor)."""

    def at(self, t: float, handler: Handler, st: RequestState) -> None:
        """Run ``handler(st, t)`` at time ``t`` (seconds since the run's start)."""

    def call(self, st: RequestState, target: str, req: Request, rkey: int, now: float) -> None:
        """Call ``target`` for ``st``; set ``st.out`` and run ``engine.on_end`` when the call ends."""

    def run(self, requests: Sequence[Request], arrivals: Sequence[float], seqs: Sequence[int]) -> float:
        """Play the run to its end, flush every finished request; return the clock's final time."""


class VirtualClock:
    """Discrete-event time: a heap of ``(time, sequence, handler, request)``; no wall time passes."""

    __slots__ = ("heap", "counter", "engine", "answer", "timeouts", "on_end")
    stopping = False  # a virtual run is never signalled part way

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Handler, RequestState]] = []
        self.counter = 0

    def attach(self, engine: Engine) -> None:
        """Drive ``engine`` (its answer table, timeouts and end handler are kept at hand: one call per attempt)."""
        self.engine = engine
        # synchronous answers only: replay() never gives this clock a fleet that declares itself asynchronous
        self.answer = cast(dict[str, Answer], engine.answer)
        self.timeouts, self.on_end = engine.timeouts, engine.on_end

    def at(self, t: float, handler: Handler, st: RequestState) -> None:
        """Push an event (the sequence number keeps equal times in scheduling order)."""
        self.counter += 1
        heapq.heappush(self.heap, (t, self.counter, handler, st))

    def call(self, st: RequestState, target: str, req: Request, rkey: int, now: float) -> None:
        """Draw the call's outcome now (capped at the target's timeout); its end is an event."""
        out = self.answer[target](req, rkey, now, st.attempt_no - st.step_calls)
        limit = self.timeouts[target]
        if out.latency_s > limit:
            out = Outcome(False, limit, ErrorKind.TIMEOUT, prompt_tokens=out.prompt_tokens, version=out.version,
                          tier=out.tier)
        st.out = out
        self.counter += 1  # self.at, inlined: this runs once per attempt
        heapq.heappush(self.heap, (now + out.latency_s, self.counter, self.on_end, st))

    def run(self, requests: Sequence[Request], arrivals: Sequence[float], seqs: Sequence[int]) -> float:
        """The event loop, with the cyclic garbage collector paused (see :meth:`_loop`)."""
        # The loop allocates millions of short-lived, acyclic objects (events, outcomes, rows); the cyclic
        # collector's passes over them find nothing and cost about a fifth of the run. Reference counting
        # still frees everything; the collector's previous state is restored afterwards.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            now = self._loop(requests, arrivals, seqs)
        finally:
            if was_enabled:
                gc.enable()
        self.engine.flush()
        return now

    def _loop(self, requests: Sequence[Request], arrivals: Sequence[float], seqs: Sequence[int]) -> float:
        e, heap, pop = self.engine, self.heap, heapq.heappop
        n, i, now, checks = len(requests), 0, 0.0, 0
        cancel, waitq, start, concurrency = e.cancel, e.waitq, e.start, e.concurrency
        while i < n or heap:
            if i < n and (not heap or arrivals[i] <= heap[0][0]):
                now = arrivals[i]
                e.arrive(seqs[i], requests[i], now)
                i += 1
            else:
                now, _, handler, st = pop(heap)
                handler(st, now)  # the one dispatch: a bound method of the engine
            while e.inflight < concurrency and waitq:  # Engine.pump, inlined: this runs once per event
                start(waitq.popleft(), now)
            checks += 1
            if cancel is not None and checks % 512 == 0 and cancel():
                e.stats.cancelled = True
                break
        return now


class AsyncioClock:
    """Wall-clock time on an asyncio loop, for live calls; flushes on a timer and drains on a signal."""

    __slots__ = ("engine", "loop", "t0", "done", "tasks", "flush_interval_s", "signalled", "is_async")

    def __init__(self, flush_interval_s: float = FLUSH_INTERVAL_S):
        self.flush_interval_s = flush_interval_s
        self.t0 = 0.0
        self.tasks: set[asyncio.Task[None]] = set()
        self.signalled: str | None = None  # name of the signal that stopped the run
        self.is_async: dict[str, bool] = {}

    @property
    def stopping(self) -> bool:
        """True once a signal asked the run to stop."""
        return self.signalled is not None

    def attach(self, engine: Engine) -> None:
        """Drive ``engine``; its live models are awaited, the others sleep their simulated latency."""
        self.engine = engine
        self.is_async = {n: engine.provider.is_async(n) for n in engine.modes}

    def now(self) -> float:
        """Seconds since the run's clock started."""
        return self.loop.time() - self.t0

    # --- events -----------------------------------------------------------------------------
    def at(self, t: float, handler: Handler, st: RequestState) -> None:
        """A wall-clock timer."""
        self.loop.call_at(self.t0 + t, self._fire, handler, st)

    def _fire(self, handler: Handler, st: RequestState) -> None:
        now = self.now()
        handler(st, now)  # the one dispatch: a bound method of the engine
        self._pump(now)

    def _arrive(self, seq: int, req: Request) -> None:
        now = self.now()
        self.engine.arrive(seq, req, now)
        self._pump(now)

    def _pump(self, now: float) -> None:
        e = self.engine
        if self.signalled is not None:  # stopping: no new request starts; done once calls in flight end
            if not self.tasks:
                self.done.set()
            return
        e.pump(now)
        if e.stats.requests >= e.total or (e.cancel is not None and e.cancel()):
            e.stats.cancelled = e.stats.requests < e.total
            self.done.set()

    # --- calls ------------------------------------------------------------------------------
    def call(self, st: RequestState, target: str, req: Request, rkey: int, now: float) -> None:
        """Start the call as a task; its end is an event like any other."""
        task = self.loop.create_task(self._call(st, target, req, rkey, st.attempt_no - st.step_calls))
        self.tasks.add(task)
        task.add_done_callback(self._call_done)

    def spawn(self, work: Awaitable[None], handler: Handler, st: RequestState) -> None:
        """Run ``work`` (a batch lane's round trip) as a task, then ``handler(st, now)`` as an event."""
        async def run() -> None:
            await work
            self._fire(handler, st)

        task = self.loop.create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self._call_done)

    def _call_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if self.signalled is not None and not self.tasks:
            self.done.set()

    async def _call(self, st: RequestState, target: str, req: Request, rkey: int, attempt: int) -> None:
        e = self.engine
        limit = e.timeouts[target]
        answer: Callable[..., Any] = e.answer[target]
        try:
            if self.is_async[target]:
                out = await asyncio.wait_for(answer(req, rkey, st.att_start, attempt), timeout=limit + 1.0)
            else:  # a simulated model inside a live run: it takes its simulated time
                out = answer(req, rkey, st.att_start, attempt)
                await asyncio.sleep(min(out.latency_s, limit))
        except TimeoutError:
            out = Outcome(False, limit, ErrorKind.TIMEOUT)
        if out.latency_s > limit or math.isinf(out.latency_s):
            out = Outcome(False, limit, ErrorKind.TIMEOUT, prompt_tokens=out.prompt_tokens, version=out.version,
                          tier=out.tier)
        st.out = out
        self._fire(e.on_end, st)

    # --- the run ----------------------------------------------------------------------------
    def run(self, requests: Sequence[Request], arrivals: Sequence[float], seqs: Sequence[int]) -> float:
        """Run the asyncio loop until every request is done, the run is cancelled or a signal stops it."""
        return asyncio.run(self._run(requests, arrivals, seqs))

    async def _run(self, requests: Sequence[Request], arrivals: Sequence[float], seqs: Sequence[int]) -> float:
        e = self.engine
        self.loop = asyncio.get_running_loop()
        self.done = asyncio.Event()
        if not requests:
            return 0.0
        # The clock reads the first arrival's time now: no idle wait before it, and a resumed run
        # keeps its requests' original arrival times.
        self.t0 = self.loop.time() - arrivals[0]
        for seq, req, t in zip(seqs, requests, arrivals, strict=True):
            self.loop.call_at(self.t0 + t, self._arrive, seq, req)
        watch = self.loop.create_task(self._watch_cancel(e.cancel)) if e.cancel is not None else None
        self.loop.call_later(self.flush_interval_s, self._tick)
        owns = self._own_signals()
        try:
            await self.done.wait()
        finally:
            if watch is not None:
                watch.cancel()
            if self.tasks:
                _cancel_quietly(self.tasks)
            e.flush()
            if owns:
                for sig in _SIGNALS:
                    self.loop.remove_signal_handler(sig)
        if self.signalled is not None:
            raise RunInterrupted(self.signalled, e.run_id, e.written, e.total)
        return self.now()

    def _tick(self) -> None:
        # Time-based flush: a slow live run writes its paid answers every few seconds, whatever the batch.
        if self.done.is_set():
            return
        self.engine.flush()
        self.loop.call_later(self.flush_interval_s, self._tick)

    def _on_signal(self, sig: signal.Signals) -> None:
        # First signal: start nothing new, let the calls in flight (already paid for) end and be
        # recorded, for at most DRAIN_S seconds. A second signal stops at once.
        if self.signalled is None:
            self.signalled = sig.name
            self.loop.call_later(DRAIN_S, self.done.set)
            self._pump(self.now())
        else:
            self.done.set()

    def _own_signals(self) -> bool:
        """Install SIGTERM/SIGINT handlers when this run owns the process's main thread."""
        if threading.current_thread() is not threading.main_thread():
            return False  # the app runs jobs in threads: the process's owner handles signals
        try:
            for sig in _SIGNALS:
                self.loop.add_signal_handler(sig, self._on_signal, sig)
        except NotImplementedError:  # Windows' event loops: the default handling stays
            return False
        return True

    async def _watch_cancel(self, cancel: Callable[[], bool]) -> None:
        while not self.done.is_set():
            await asyncio.sleep(0.2)
            if cancel():
                self.engine.stats.cancelled = True
                self.done.set()


def _cancel_quietly(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel calls in flight. litellm builds its request coroutine in an executor thread, so a call
    cancelled at that step leaves a coroutine that is never awaited; its RuntimeWarning would only
    repeat that the call was dropped (which the run's status already says), so it is silenced."""
    warnings.filterwarnings("ignore", message=r"coroutine .* was never awaited", category=RuntimeWarning)
    for task in list(tasks):
        task.cancel()
