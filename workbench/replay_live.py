"""The replay engine on the wall clock, for fleets with live (litellm) models.

Why a subclass and not a second engine: a live run must make exactly the decisions a simulated run
makes (routing, retries with backoff, fallbacks by error kind, circuit breakers, cascades, budget,
human queues), or comparing them would compare engines, not designs. So this module reuses
:class:`workbench.replay._Engine` and changes only how time passes: arrivals and scheduled events
(retries, human hand-offs) are ``loop.call_at`` timers on the wall clock, and a provider call is an
asyncio task; a simulated model in a live run sleeps its simulated latency. Requests in flight are
bounded by the scenario's ``concurrency``, as in virtual time.

Why flush on the clock and on signals: a live answer is paid for. Rows are written every
``flush_interval_s`` wall seconds (2 s by default) besides the count-based batch, so a SIGKILL loses at
most the last seconds' answers; SIGTERM and SIGINT (when the run owns the main thread) stop new
requests, let the calls in flight end (at most ``DRAIN_S`` seconds; a second signal stops at once),
write every finished request, and raise :class:`~workbench.errors.RunInterrupted`, so the run is
marked interrupted and ``workbench resume`` re-sends only requests not yet recorded. A request whose
call was dropped, or that still needed a retry or a fallback, is left unrecorded and replayed whole.

Test hooks: :mod:`workbench.faults` (``WORKBENCH_TEST_STOP_AFTER_FLUSHES`` / ``_REQUESTS``) signal
the process at an exact point; the base engine calls them, the timed flush included.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import signal
import threading
import warnings
from collections.abc import Sequence

from workbench.errors import ErrorKind, RunInterrupted
from workbench.providers.base import Outcome
from workbench.replay import _END, _RETRY, ReplayStats, _Engine, _Req
from workbench.seeds import request_key
from workbench.traffic import Request

__all__ = ["LiveEngine", "is_live", "FLUSH_INTERVAL_S"]

#: Wall seconds between two writes of a live run's finished requests.
FLUSH_INTERVAL_S = 2.0
#: Wall seconds a signalled run waits for its calls in flight before it drops them.
DRAIN_S = 10.0
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def is_live(provider, scenario) -> bool:
    """True when any fleet model answers through a coroutine (a live provider)."""
    return any(inspect.iscoroutinefunction(provider.bind(n)) for n in scenario.fleet)


class LiveEngine(_Engine):
    """:class:`_Engine` with wall-clock timers and asynchronous provider calls."""

    def __init__(self, *args, flush_interval_s: float = FLUSH_INTERVAL_S, **kw):
        super().__init__(*args, **kw)
        self.is_async = {n: inspect.iscoroutinefunction(fn) for n, fn in self.answer.items()}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.t0 = 0.0
        self.done: asyncio.Event | None = None
        self.tasks: set[asyncio.Task] = set()
        self.flush_interval_s = flush_interval_s
        self.signalled: str | None = None  # name of the signal that stopped the run

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
        if self.signalled is not None:  # stopping: no new request starts; done once calls in flight end
            if not self.tasks:
                self.done.set()
            return
        while self.inflight < self.concurrency and self.waitq:
            self.start(self.waitq.popleft(), now)
        if self.stats.requests >= self.total or (self.cancel is not None and self.cancel()):
            self.stats.cancelled = self.stats.requests < self.total
            self.done.set()

    # --- calls ------------------------------------------------------------------------------
    def call(self, st: _Req, now: float, req: Request, rkey: int) -> None:
        if self.signalled is not None:  # stopping: no new call (a retry, a fallback); the request is
            return                      # left unrecorded, and resume replays it whole
        target = st.target
        st.attempt_no += 1
        st.att_start = now
        self.fleet.in_flight[target] += 1
        task = self.loop.create_task(self._call(st, target, req, rkey, st.attempt_no))
        self.tasks.add(task)
        task.add_done_callback(self._call_done)

    def _call_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if self.signalled is not None and not self.tasks:
            self.done.set()

    async def _call(self, st: _Req, target: str, req: Request, rkey: int, attempt: int) -> None:
        limit = self.timeouts[target]
        answer = self.answer[target]
        try:
            if self.is_async[target]:
                out = await asyncio.wait_for(answer(req, rkey, st.att_start, attempt), timeout=limit + 1.0)
            else:  # a simulated model inside a live run: it takes its simulated time
                out = answer(req, rkey, st.att_start, attempt)
                await asyncio.sleep(min(out.latency_s, limit))
        except TimeoutError:
            out = Outcome(False, limit, ErrorKind.TIMEOUT)
        if out.latency_s > limit or math.isinf(out.latency_s):
            out = Outcome(False, limit, ErrorKind.TIMEOUT, prompt_tokens=out.prompt_tokens)
        st.out = out
        now = self.now()
        self.on_end(st, now)
        self._pump(now)

    # --- rows -------------------------------------------------------------------------------
    def _tick(self) -> None:
        # Time-based flush: a slow live run writes its paid answers every few seconds, whatever the batch.
        if self.done.is_set():
            return
        self.flush()
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
        self.loop.call_later(self.flush_interval_s, self._tick)
        owns = self._own_signals()
        try:
            await self.done.wait()
        finally:
            if watch is not None:
                watch.cancel()
            if self.tasks:
                _cancel_quietly(self.tasks)
            self.flush()
            if owns:
                for sig in _SIGNALS:
                    self.loop.remove_signal_handler(sig)
        self.stats.virtual_s = self.now()
        if self.signalled is not None:
            raise RunInterrupted(self.signalled, self.run_id, self.written, self.total)
        if self.progress:
            self.progress(self.stats.requests, self.total, self.stats.cost_usd, self.stats.failed)
        return self.stats

    async def _watch_cancel(self) -> None:
        while not self.done.is_set():
            await asyncio.sleep(0.2)
            if self.cancel():
                self.stats.cancelled = True
                self.done.set()


def _cancel_quietly(tasks: set[asyncio.Task]) -> None:
    """Cancel calls in flight. litellm builds its request coroutine in an executor thread, so a call
    cancelled at that step leaves a coroutine that is never awaited; its RuntimeWarning would only
    repeat that the call was dropped (which the run's status already says), so it is silenced."""
    warnings.filterwarnings("ignore", message=r"coroutine .* was never awaited", category=RuntimeWarning)
    for task in list(tasks):
        task.cancel()
