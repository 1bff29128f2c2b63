"""Batch lanes: requests routed to a ``tier: batch`` model wait in a provider batch, not in a real-time call.

Why a collaborator of the engine and not a provider: a batch changes *when* a request is answered and
*what happens if it is late*, which are the engine's decisions (concurrency, fallbacks, rows); the
provider still answers each line (its tokens, cost, errors and quality are the calibrated ones), and
the price engineer's pricing turns ``Outcome.tier == "batch"`` into the batch price.

The mechanics (the schema and the completion profiles are in :mod:`workbench.batch_schema`):

* A request routed to a lane gets its deadline (traffic ``deadline_s``, else the category rule, else the
  default) and joins the lane's open batch. A request that could not be answered in time even by a
  batch sent at the end of the current window goes straight to the failover model instead.
* Waiting in a batch holds no real-time concurrency slot: a real client uploads the file and polls; no
  connection and no worker is tied up. The slot is freed when the request joins, and taken again (ahead
  of new arrivals) if it fails over to the real-time route.
* A batch is sent when it is ``window_s`` old or ``max_size`` full. In virtual time its completion delay
  is drawn (seeded by the run's seed, the lane and the batch's number) from the profile; a delay beyond
  the provider's 24 h window is an expired batch. Live, it is uploaded through litellm's Files and
  Batches API and polled every ``poll_s`` wall seconds.
* Each request's line is one attempt row with ``batch_id`` and tier ``batch``. A request whose batch has
  not completed ``margin_s`` before its deadline, whose line errored, or whose batch expired gets a
  failed attempt row and fails over (``is_fallback``) to ``failover``. A late line is still billed
  (the provider completes and bills it later: counted at once, conservatively); an expired batch's
  unfinished lines are not billed (as OpenAI and Anthropic document).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from workbench.batch_schema import PROVIDER_WINDOW_S, BatchSpec
from workbench.errors import ErrorKind
from workbench.providers.base import Answer, Outcome
from workbench.replay.clocks import AsyncioClock
from workbench.replay.state import RequestState
from workbench.seeds import key64, unit

if TYPE_CHECKING:  # pragma: no cover
    from workbench.replay.engine import Engine
    from workbench.traffic import Request

__all__ = ["Batch", "BatchLanes", "BatchResult", "deadline_of"]

_SALT_DELAY = 0xBA7C4
#: What a live batch round trip returns: (provider batch id, final status, custom_id -> outcome).
BatchResult = tuple[str, str, dict[str, Outcome]]
#: ``run_batch(model, requests, poll_s) -> BatchResult``: a live provider's batch API.
BatchRunner = Callable[[str, list["Request"], float], Awaitable[BatchResult]]


class Batch:
    """One provider batch of one lane: its members and, once sent, when and how it ends."""

    __slots__ = ("id", "n", "target", "members", "opened", "sent", "done_at", "status", "finished", "handle")

    def __init__(self, n: int, target: str, opened: float):
        self.id, self.n, self.target, self.opened = f"batch-{target}-{n}", n, target, opened
        self.members: list[RequestState] = []
        self.sent: float | None = None
        self.done_at = 0.0
        self.status = "collecting"  # then in_progress, completed, expired (OpenAI's status names)
        self.finished = False
        self.handle: RequestState  # the state an event of this batch is scheduled with (see _handle)


def deadline_of(req: Request, spec: BatchSpec) -> float:
    """Seconds after arrival ``req`` must be answered by: traffic ``deadline_s``, else the rule for its
    traffic ``class``, else the rule for its category, else the default."""
    value = req.metadata.get("deadline_s")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    rules = spec.deadlines
    cls = req.metadata.get("class")  # a traffic ``class`` field names a rule before the category does
    if isinstance(cls, str) and cls in rules:
        return rules[cls]
    if req.category is not None and req.category in rules:
        return rules[req.category]
    return spec.default_deadline_s


class BatchLanes:
    """Every batch lane of one replay: collects, sends, completes and fails over on the engine's clock."""

    def __init__(self, engine: Engine):
        spec = engine.scn.batch
        assert spec is not None  # the engine builds lanes only for a scenario with a batch block
        self.e, self.spec = engine, spec
        self.targets = [n for n, m in engine.scn.fleet.items() if m.tier == "batch"]
        self.open: dict[str, Batch] = {}
        self.sent = 0
        self.key = key64("batch", str(engine.seed))
        self.live = {t: engine.provider.is_async(t) for t in self.targets}

    # --- joining ----------------------------------------------------------------------------
    def enqueue(self, st: RequestState, now: float) -> None:
        """``st`` joins its lane's open batch (freeing its slot), or fails over if no batch can be in time."""
        e, spec, target = self.e, self.spec, st.target
        st.deadline = deadline = deadline_of(st.req, spec)
        b = self.open.get(target)
        send_by = (b.opened if b is not None else now) + spec.window_s
        if send_by > st.arrival + deadline - spec.margin_s:
            self.reroute(st)  # it still holds its slot: straight on to the real-time route
            e.attempt(st, now)
            return
        if b is None:
            self.sent += 1
            b = self.open[target] = Batch(self.sent, target, now)
            b.handle = _handle(st, b)
            e.clock.at(now + spec.window_s, self.on_window, b.handle)
        if st.slot:
            st.slot = False
            e.inflight -= 1
        st.attempt_no += 1
        st.att_start = now
        st.batch = b
        e.fleet.in_flight[target] += 1
        b.members.append(st)
        if len(b.members) >= spec.max_size:
            self.send(b, now)

    def on_window(self, handle: RequestState, now: float) -> None:
        """The window of the batch behind ``handle`` is over: send it unless it was sent full."""
        b = handle.batch
        if b is not None and b.sent is None:
            self.send(b, now)

    # --- sending ----------------------------------------------------------------------------
    def send(self, b: Batch, now: float) -> None:
        """Close the batch and submit it; schedule its completion and each member's deadline watch."""
        del self.open[b.target]
        b.sent, b.status = now, "in_progress"
        margin, clock = self.spec.margin_s, self.e.clock
        if self.live[b.target]:
            assert isinstance(clock, AsyncioClock)  # only the wall clock runs live models
            clock.spawn(self._live(b, self.runner(b.target)), self.on_done, b.handle)
            b.done_at = float("inf")
        else:
            self._draw(b, now)
            clock.at(b.done_at, self.on_done, b.handle)
        for st in b.members:
            due = st.arrival + (st.deadline or 0.0) - margin
            if b.done_at > due:
                clock.at(max(now, due), self.on_late, st)

    def _draw(self, b: Batch, now: float) -> None:
        delay = self.spec.completion.delay(unit(self.key ^ key64(b.target), _SALT_DELAY + b.n))
        expired = delay >= PROVIDER_WINDOW_S  # not done within the window: expired (OpenAI, Anthropic)
        b.done_at = now + (PROVIDER_WINDOW_S if expired else delay)
        b.status = "expired" if expired else "completed"
        answer: Answer = self.e.answer[b.target]  # type: ignore[assignment]  # a simulated lane answers synchronously
        for st in b.members:
            out = answer(st.req, st.rkey, now, st.attempt_no)
            out.tier = "batch"
            st.out = out

    def runner(self, target: str) -> BatchRunner:
        """The live provider's batch API for ``target``."""
        provider: Any = self.e.provider
        run = getattr(provider.provider_of(target), "run_batch", None)
        if run is None:
            raise TypeError(f"fleet model '{target}' is a live batch lane but its provider has no batch API")
        return run

    async def _live(self, b: Batch, run: BatchRunner) -> None:
        bid, status, outs = await run(b.target, [st.req for st in b.members], self.spec.poll_s)
        b.id, b.status = bid, status
        for st in b.members:
            out = outs.get(st.req.id)
            if out is None:
                out = Outcome(False, 0.0, ErrorKind.TIMEOUT, message=f"batch {bid} {status}: no result")
            out.tier = "batch"
            st.out = out

    # --- ending -----------------------------------------------------------------------------
    def on_done(self, handle: RequestState, now: float) -> None:
        """The batch ended: members still waiting get their answer (or fail over on an error or expiry)."""
        b = handle.batch
        assert b is not None
        b.finished = True
        for st in b.members:
            if st.batch is not b:
                continue  # failed over already
            out = st.out
            if b.status != "completed" or not out.ok:
                why = f"batch {b.id} {b.status}" if b.status != "completed" else f"line failed in batch {b.id}"
                billed = b.status == "completed"
                self.fail(st, now, out.error if not out.ok and out.error else ErrorKind.TIMEOUT, why, billed)
                continue
            out.latency_s = now - st.att_start
            self.e.on_end(st, now)
            if st.batch is b:  # (a cascade may have sent it on to another lane meanwhile)
                st.batch = None

    def on_late(self, st: RequestState, now: float) -> None:
        """``st``'s deadline (less the margin) came before its batch: fail it over to the real-time route."""
        b = st.batch
        if b is None or b.finished:
            return
        # virtual time knows the line will complete (and be billed) later; live, nobody knows yet
        billed = b.status == "completed" and not self.live[b.target]
        self.fail(st, now, ErrorKind.TIMEOUT, f"batch {b.id} not complete {self.spec.margin_s:g} s before the "
                  "deadline", billed)

    def fail(self, st: RequestState, now: float, kind: ErrorKind, why: str, billed: bool) -> None:
        """A failed batch attempt row for ``st``, then its failover (it queues for a real-time slot)."""
        e, b, target = self.e, st.batch, st.target
        assert b is not None
        e.fleet.in_flight[target] -= 1
        line = st.out if billed else None  # set when the batch was sent (virtual) or ended (live)
        out = Outcome(False, now - st.att_start, kind, message=why, tier="batch")
        if line is not None:
            out.prompt_tokens, out.completion_tokens = line.prompt_tokens, line.completion_tokens
            out.cost_usd = line.cost_usd
        e.record(st, now, out, None, target, e.models[target], e.modes.get(target, "?"),
                 (b.sent or now) - st.att_start)
        st.batch = None
        st.last_error = kind
        self.reroute(st)
        e.waitq.appendleft(st)  # ahead of new arrivals: it has a deadline

    def reroute(self, st: RequestState) -> None:
        """Point ``st`` at the failover model (a fallback), with that model's own fallback chain."""
        e, f = self.e, self.spec.failover
        st.visited.add(f)
        st.chain.extend(r for r in e.fallbacks.get(f, ()) if r.to not in st.visited)
        e.switch(st, f)


def _handle(first: RequestState, b: Batch) -> RequestState:
    """A state that carries only ``b``: a batch's own events (window, completion) are scheduled with it."""
    h = RequestState(-1, first.req, 0, first.arrival)
    h.batch = b
    return h
