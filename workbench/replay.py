"""The replay engine: a discrete-event loop that plays traffic through a routing design.

Why discrete events on a virtual clock: a simulated day of traffic, with its queues, rate limits,
backoffs and outages, replays in seconds, exactly and repeatably, because time jumps from one event
to the next instead of passing. The engine receives its provider, policy, graders and sink as
arguments (one seam per layer): it does not know whether answers are simulated or recorded, nor
where rows end up.

What it models, per request: a concurrency slot (requests beyond ``concurrency`` wait in FIFO order),
the policy's decision (or the budget guard's), then provider attempts. A failed attempt is retried
on the same target with exponential backoff and jitter (a retry-after is honoured) while its kind is
retryable and retries remain; then the fallback chain is walked: the next rule of the routed model's
list whose ``errors`` match the error kind, a fallback target's own rules appended, no target twice. A
human node is a queue of agents (first come, first served; exponential handling time); a request
handed to a human frees its concurrency slot. Every provider call becomes one attempt row, failed
ones included; a request row is written together with its attempts, in batches.

The live path (wall clock, asyncio) is this engine with other clocks: ``workbench/replay_live.py``.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import json
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from workbench.errors import ErrorKind
from workbench.faults import StopHook
from workbench.graders import Grader
from workbench.graders.base import grade_all, grader_labels
from workbench.policies import Decision, FleetState, Policy, RouteContext
from workbench.providers.base import Outcome
from workbench.replay_parts import _Breaker, _JudgeCalls
from workbench.scenario import FallbackRule, Scenario
from workbench.seeds import key64, request_key, unit
from workbench.traffic import Request, prompt_key

__all__ = ["replay", "ReplayStats", "Sink", "Progress"]

_END, _RETRY, _HUMAN_END = 0, 1, 2
_SALT_JITTER, _SALT_HANDLE, _SALT_HUMAN_Q = 0x7177E2, 0x4A4D, 0x4855
_CONSULT_KEY = 0x5C0FFEE5C0FFEE  # a consulted model's draws differ from its draws when answering


class Sink(Protocol):
    """Where finished request rows and their attempt rows go (a :class:`TraceStore`, a list...)."""

    def write(self, requests: Sequence[tuple], attempts: Sequence[tuple]) -> None: ...


#: ``progress(done, total, cost_usd, failed)``, called about 200 times per run and at the end.
Progress = Callable[[int, int, float, int], None]


@dataclass(slots=True)
class ReplayStats:
    """Counters of a finished (or cancelled) replay."""

    requests: int = 0
    ok: int = 0
    failed: int = 0
    rejected: int = 0
    attempts: int = 0
    cost_usd: float = 0.0
    virtual_s: float = 0.0
    cancelled: bool = False


class _Req:
    """Mutable state of one request in flight."""

    __slots__ = ("seq", "req", "rkey", "arrival", "start", "route", "reason", "dscore", "target",
                 "chain", "visited", "attempt_no", "retries_here", "retries", "fallbacks", "next_retry",
                 "next_fallback", "cost", "ptok", "ctok", "rows", "out", "att_start", "last_error",
                 "slot", "human", "purpose", "escalations", "skips", "judged")

    def __init__(self, seq: int, req: Request, rkey: int, arrival: float):
        self.seq, self.req, self.rkey, self.arrival = seq, req, rkey, arrival
        self.purpose = "answer"
        self.escalations = self.skips = 0
        self.attempt_no = self.retries_here = self.retries = self.fallbacks = 0
        self.next_retry = self.next_fallback = self.slot = False
        self.cost = 0.0
        self.ptok = self.ctok = 0
        self.rows: list[tuple] = []
        self.last_error = self.human = self.out = self.judged = None


class _Engine(_JudgeCalls):
    def __init__(self, scenario: Scenario, provider, policy: Policy, graders: list[Grader], seed: int,
                 run_id: str, sink: Sink, progress: Progress | None, flush_every: int,
                 cancel: Callable[[], bool] | None, total: int):
        self.scn, self.provider, self.policy, self.graders = scenario, provider, policy, graders
        self.seed, self.run_id, self.sink, self.progress = seed, run_id, sink, progress
        self.flush_every, self.cancel, self.total = flush_every, cancel, total
        self.flushes = self.written = 0
        self.hook = StopHook.from_env()  # test-only: None unless a fault test asks for an exact stop
        self.modes: dict[str, str] = getattr(provider, "modes", {})
        self.answer = {n: provider.bind(n) for n in scenario.fleet}
        # Graders that must call a model (an LLM judge) run after the others, as paid attempts.
        self.judges = [g for g in graders if g.needs_call]
        self.labels = grader_labels(graders)
        self.judge_labels = [lab for g, lab in zip(graders, self.labels) if g.needs_call]
        self.pkeys: dict[str, str] = {}
        self.models = {n: m.model for n, m in scenario.fleet.items()}
        self.timeouts = {n: m.timeout_s or scenario.timeouts.attempt_s for n, m in scenario.fleet.items()}
        r = scenario.retries
        self.retry_on, self.max_retries = frozenset(r.errors), r.max_retries
        self.backoff, self.mult, self.max_backoff, self.jitter = r.backoff_s, r.multiplier, r.max_backoff_s, r.jitter
        self.fallbacks = scenario.fallbacks
        self.humans = scenario.humans
        self.agents = {h: [0.0] * spec.agents for h, spec in scenario.humans.items()}
        self.hkeys = {h: key64("human", h) for h in scenario.humans}
        self.budget = scenario.budget
        self.concurrency = scenario.concurrency
        self.policy_name = scenario.router.policy
        self.fleet = FleetState(scenario.targets)
        self.reviews = type(policy).review is not Policy.review
        self.breaker = _Breaker(scenario.circuit_breaker, scenario.fleet) if scenario.circuit_breaker else None
        self.heap: list = []
        self.counter = 0
        self.inflight = 0
        self.waitq: deque[_Req] = deque()
        self.stats = ReplayStats()
        self.req_rows: list[tuple] = []
        self.att_rows: list[tuple] = []
        self.every = max(1, total // 200)

    # --- scheduling --------------------------------------------------------------------------
    def push(self, t: float, code: int, st: _Req) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (t, self.counter, code, st))

    def run(self, requests: Sequence[Request], arrivals: Sequence[float], seqs: Sequence[int]) -> ReplayStats:
        heap, n, i, now = self.heap, len(requests), 0, 0.0
        seed = self.seed
        checks = 0
        while i < n or heap:
            if i < n and (not heap or arrivals[i] <= heap[0][0]):
                now = arrivals[i]
                req = requests[i]
                self.waitq.append(_Req(seqs[i], req, request_key(seed, req.id), now))
                i += 1
            else:
                now, _, code, st = heapq.heappop(heap)
                if code == _END:
                    self.on_end(st, now)
                elif code == _RETRY:
                    self.attempt(st, now)
                else:
                    self.on_human_end(st, now)
            while self.inflight < self.concurrency and self.waitq:
                self.start(self.waitq.popleft(), now)
            checks += 1
            if self.cancel is not None and checks % 512 == 0 and self.cancel():
                self.stats.cancelled = True
                break
        self.flush()
        self.stats.virtual_s = now
        if self.progress:
            self.progress(self.stats.requests, self.total, self.stats.cost_usd, self.stats.failed)
        return self.stats

    # --- a request's life --------------------------------------------------------------------
    def start(self, st: _Req, now: float) -> None:
        st.start = now
        st.slot = True
        self.inflight += 1
        b = self.budget
        if b is not None and self.stats.cost_usd >= b.max_usd:
            if b.on_exceed == "reject":
                st.route, st.reason, st.dscore = None, f"budget of ${b.max_usd:g} spent: rejected", None
                self.finish(st, now, "rejected")
                return
            d = Decision(b.downgrade_to, f"budget of ${b.max_usd:g} spent: downgraded")
        else:
            d = self.policy.decide(st.req, self.ctx(now, st))
            if d.consult is not None:  # ask a model first (an LLM as router): a paid, timed attempt
                st.purpose, st.target, st.reason = "route", d.consult.model, d.reason
                self.call(st, now, d.consult.request, st.rkey ^ _CONSULT_KEY)
                return
        self.route(st, d, now)

    def ctx(self, now: float, st: _Req) -> RouteContext:
        return RouteContext(now, self.stats.cost_usd, st.rkey, self.fleet)

    def route(self, st: _Req, d: Decision, now: float) -> None:
        st.route, st.reason, st.dscore, st.target = d.target, d.reason, d.score, d.target
        st.purpose = "answer"
        st.chain = list(self.fallbacks.get(d.target, ()))
        st.visited = {d.target}
        self.attempt(st, now)

    def attempt(self, st: _Req, now: float) -> None:
        target = st.target
        if target in self.humans:
            self.handoff(st, now)
            return
        if self.breaker is not None and self.breaker.open_until[target] > now:
            st.skips += 1  # circuit open: go straight to the fallback the failures call for
            nxt = self.next_fallback(st, self.breaker.kind[target])
            if nxt is None:
                st.last_error = ErrorKind.CIRCUIT_OPEN
                self.finish(st, now, "failed")
                return
            self.switch(st, nxt)
            self.attempt(st, now)
            return
        self.call(st, now, st.req, st.rkey)

    def call(self, st: _Req, now: float, req: Request, rkey: int) -> None:
        target = st.target
        st.attempt_no += 1
        out: Outcome = self.answer[target](req, rkey, now, st.attempt_no)
        limit = self.timeouts[target]
        if out.latency_s > limit:
            out = Outcome(False, limit, ErrorKind.TIMEOUT, prompt_tokens=out.prompt_tokens)
        st.out, st.att_start = out, now
        self.fleet.in_flight[target] += 1
        self.push(now + out.latency_s, _END, st)

    def switch(self, st: _Req, target: str) -> None:
        st.target, st.retries_here = target, 0
        st.fallbacks += 1
        st.next_fallback = True

    def on_end(self, st: _Req, now: float) -> None:
        out: Outcome = st.out
        target = st.target
        self.fleet.in_flight[target] -= 1
        # A failed call counts as slow as the timeout (as litellm's latency routing penalises
        # failures): otherwise a target that fails fast would look like the fastest one.
        self.fleet.observe(target, out.latency_s if out.ok else self.timeouts[target])
        if st.purpose == "judge":
            self.on_judge_end(st, now, out)
            return
        score = verdicts = None
        if out.ok and self.graders and st.purpose != "route":
            score, verdicts = grade_all(self.graders, st.req, out.text, out.score, self.labels)
        self.record(st, now, out, score, target, self.models[target], out.source or self.modes.get(target, "?"),
                    0.0, verdicts)
        if st.purpose == "route":
            self.route(st, self.policy.after_consult(st.req, self.ctx(now, st), out.text if out.ok else None), now)
            return
        if out.ok:
            if self.judges:
                st.judged = [target, st.purpose, out, score, verdicts or {}, 0]
                self.judge_next(st, now)
                return
            self.accept(st, now, target, out, score, verdicts)
            return
        kind = out.error
        st.last_error = kind
        if self.breaker is not None:
            self.breaker.failed(target, kind, now)
        if kind in self.retry_on and st.retries_here < self.max_retries:
            st.retries_here += 1
            st.retries += 1
            st.next_retry = True
            self.push(now + self.backoff_delay(st, out), _RETRY, st)
            return
        nxt = self.next_fallback(st, kind)
        if nxt is None:
            self.finish(st, now, "failed")
            return
        self.switch(st, nxt)
        self.attempt(st, now)

    def accept(self, st: _Req, now: float, target: str, out: Outcome, score, verdicts) -> None:
        """A graded answer: the policy may escalate it (a cascade), else the request is done."""
        if self.reviews and self.escalate(st, now, out.text, score):
            return
        self.finish(st, now, "ok", target, score, out.text, verdicts=verdicts)

    def escalate(self, st: _Req, now: float, text: str | None, score: float | None) -> bool:
        """Ask the policy whether the answer passes; if not, start the next model (both are paid)."""
        verdict = self.policy.review(st.req, self.ctx(now, st), st.target, text, score)
        if verdict is None or verdict[0] in st.visited:
            return False
        target, why = verdict
        st.visited.add(target)
        st.chain.extend(r for r in self.fallbacks.get(target, ()) if r.to not in st.visited)
        st.target, st.retries_here, st.purpose = target, 0, "escalation"
        st.escalations += 1
        st.reason = f"{st.reason}; escalated to {target}: {why}"
        self.attempt(st, now)
        return True

    def backoff_delay(self, st: _Req, out: Outcome) -> float:
        base = min(self.max_backoff, self.backoff * self.mult ** (st.retries_here - 1))
        delay = base * (1.0 + self.jitter * (2.0 * unit(st.rkey, _SALT_JITTER + st.attempt_no) - 1.0))
        if out.retry_after_s is not None and out.retry_after_s > delay:
            delay = out.retry_after_s
        return delay

    def next_fallback(self, st: _Req, kind: ErrorKind) -> str | None:
        chain: list[FallbackRule] = st.chain
        for idx, rule in enumerate(chain):
            if rule.to not in st.visited and rule.matches(kind):
                del chain[idx]
                st.visited.add(rule.to)
                chain.extend(r for r in self.fallbacks.get(rule.to, ()) if r.to not in st.visited)
                return rule.to
        return None

    def handoff(self, st: _Req, now: float) -> None:
        h = st.target
        spec = self.humans[h]
        if st.slot:  # the machine pipeline is done with it; a person takes over
            st.slot = False
            self.inflight -= 1
        st.attempt_no += 1
        agents = self.agents[h]
        begin = max(now, heapq.heappop(agents))
        u = unit(st.rkey ^ self.hkeys[h], _SALT_HANDLE + st.attempt_no)
        end = begin - spec.handling_time_s * math.log(1.0 - u)
        heapq.heappush(agents, end)
        st.human, st.att_start = begin, now
        self.push(end, _HUMAN_END, st)

    def on_human_end(self, st: _Req, now: float) -> None:
        h = st.target
        spec = self.humans[h]
        req = st.req
        correct = unit(st.rkey ^ self.hkeys[h], _SALT_HUMAN_Q) < spec.accuracy
        text = (req.expected if correct else "needs follow-up") if req.expected is not None else "[human answer]"
        out = Outcome(True, now - st.att_start, None, 0, 0, spec.cost_per_request_usd, text,
                      1.0 if correct else 0.0)
        score, verdicts = grade_all(self.graders, req, text, out.score, self.labels) if self.graders else (None, None)
        self.record(st, now, out, score, h, "human", "human", st.human - st.att_start, verdicts)
        self.finish(st, now, "ok", h, score, text, handoff=True, verdicts=verdicts)

    # --- rows --------------------------------------------------------------------------------
    def record(self, st: _Req, now: float, out: Outcome, score, target: str, model: str, provider: str,
               wait: float, verdicts: dict | None = None) -> None:
        st.cost += out.cost_usd
        st.ptok += out.prompt_tokens
        st.ctok += out.completion_tokens
        self.stats.cost_usd += out.cost_usd
        self.stats.attempts += 1
        err = out.error
        st.rows.append((self.run_id, st.req.id, st.attempt_no, target, model, provider, st.next_retry,
                        st.next_fallback, st.att_start, now, wait, out.ok, None if err is None else err.value,
                        out.retry_after_s, out.prompt_tokens, out.completion_tokens, out.cost_usd, score,
                        st.purpose, out.text, _json(verdicts), out.message))
        st.next_retry = st.next_fallback = False

    def finish(self, st: _Req, now: float, status: str, final: str | None = None, quality=None,
               text: str | None = None, handoff: bool = False, verdicts: dict | None = None) -> None:
        if st.slot:
            st.slot = False
            self.inflight -= 1
        req = st.req
        err = st.last_error if status == "failed" else None
        pkey = self.pkeys.get(req.id)
        if pkey is None:
            pkey = self.pkeys[req.id] = prompt_key(req)
        self.req_rows.append((
            self.run_id, st.seq, req.id, req.category, req.difficulty, st.arrival, st.start, now,
            now - st.arrival, self.policy_name, st.route, st.reason, st.dscore, final, status,
            None if err is None else err.value, st.attempt_no, st.retries, st.fallbacks, handoff, st.ptok,
            st.ctok, st.cost, quality, text, st.escalations, st.skips, _json(verdicts), pkey))
        self.att_rows.extend(st.rows)
        s = self.stats
        s.requests += 1
        if status == "ok":
            s.ok += 1
        elif status == "failed":
            s.failed += 1
        else:
            s.rejected += 1
        if self.hook is not None and self.hook.after == "requests":
            self.hook.reached(s.requests, self.written, len(self.req_rows), req.id)
        if len(self.req_rows) >= self.flush_every:
            self.flush()
        if self.progress and s.requests % self.every == 0:
            self.progress(s.requests, self.total, s.cost_usd, s.failed)

    def flush(self) -> None:
        if self.req_rows:
            n = len(self.req_rows)
            self.sink.write(self.req_rows, self.att_rows)
            self.req_rows, self.att_rows = [], []
            self.flushes += 1
            self.written += n
            if self.hook is not None and self.hook.after == "flushes":
                self.hook.reached(self.flushes, self.written, 0)


_JSON: dict[tuple, str] = {}


def _json(verdicts: dict | None) -> str | None:
    # Verdict sets repeat (a few graders, a few scores): serialise each distinct one once.
    if not verdicts:
        return None
    key = tuple(verdicts.items())
    text = _JSON.get(key)
    if text is None:
        text = json.dumps(verdicts, separators=(",", ":"))
        if len(_JSON) < 65536:
            _JSON[key] = text
    return text


def replay(scenario: Scenario, requests: Sequence[Request], arrivals: Sequence[float], *, provider,
           policy: Policy, graders: list[Grader], seed: int, run_id: str, sink: Sink,
           progress: Progress | None = None, flush_every: int = 5000,
           cancel: Callable[[], bool] | None = None, seqs: Sequence[int] | None = None) -> ReplayStats:
    """Replay ``requests`` arriving at ``arrivals`` (seconds, ascending) through ``scenario``.

    Rows go to ``sink`` in batches of ``flush_every`` finished requests, each request with all its
    attempts. ``cancel`` is polled now and then; a cancelled replay flushes what finished and stops.
    ``seqs`` are the requests' positions in the full run (a resumed run replays only some of them).
    """
    if len(requests) != len(arrivals):
        raise ValueError("one arrival time per request")
    seqs = range(len(requests)) if seqs is None else seqs
    from workbench.replay_live import LiveEngine, is_live

    if is_live(provider, scenario):  # wall clock: see workbench/replay_live.py
        engine = LiveEngine(scenario, provider, policy, graders, seed, run_id, sink, progress, flush_every,
                            cancel, len(requests))
        return asyncio.run(engine.run_async(requests, arrivals, seqs))
    engine = _Engine(scenario, provider, policy, graders, seed, run_id, sink, progress, flush_every,
                     cancel, len(requests))
    # The loop allocates millions of short-lived, acyclic objects (events, outcomes, rows); the cyclic
    # collector's passes over them find nothing and cost about a fifth of the run. Reference counting
    # still frees everything; the collector's previous state is restored afterwards.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return engine.run(requests, arrivals, seqs)
    finally:
        if was_enabled:
            gc.enable()
