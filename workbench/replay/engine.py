"""The replay engine: what happens to one request, event by event, whatever clock drives it.

Why one engine over a clock seam: a live run must make exactly the decisions a simulated run makes
(routing, retries with backoff, fallbacks by error kind, circuit breakers, cascades, budget, human
queues), or comparing them would compare engines, not designs. So the engine never reads a clock nor
sleeps: it is handed ``now`` by its :class:`~workbench.replay.clocks.Clock` and asks it to run a bound
method (``on_end``, ``attempt``, ``on_human_end``) at a later time, or to carry out a provider call. The
virtual clock (a heap: a day of traffic in seconds, exactly repeatable) and the asyncio wall clock (live
calls) are the only two places where time passes.

What it models, per request: a concurrency slot (requests beyond ``concurrency`` wait in FIFO order),
the policy's decision (or the budget guard's), then provider attempts. A failed attempt is retried on
the same target with exponential backoff and jitter (a retry-after is honoured) while its kind is
retryable and retries remain; then the fallback chain is walked: the next rule of the routed model's
list whose ``errors`` match the error kind, a fallback target's own rules appended, no target twice. A
human node is a queue of agents (first come, first served; exponential handling time); a request
handed to a human frees its concurrency slot. Every provider call becomes one attempt row, failed ones
included; a request row is written together with its attempts, in batches. Circuit breakers, LLM
judges and a route's tool and data steps are collaborators (:mod:`~workbench.replay.breaker`,
:mod:`~workbench.replay.judges`, :mod:`~workbench.replay.steps`; the steps' hooks are skipped when no
route declares a step). A scenario's monitors (:mod:`workbench.monitors`) see every attempt and request
as it ends, in clock order; what their alarms do to the run (pin, remove, switch) is
:mod:`~workbench.replay.actions`.
"""

from __future__ import annotations

import heapq
import json
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from workbench.errors import ErrorKind
from workbench.faults import StopHook, flush_every_from_env
from workbench.graders import Grader
from workbench.graders.base import grade_all, grader_labels
from workbench.monitors.watch import Monitors
from workbench.policies import Decision, FleetState, Policy, RouteContext
from workbench.pricing import ZERO as _NO_PARTS
from workbench.providers.base import Outcome
from workbench.replay.actions import MonitorActions
from workbench.replay.batching import BatchLanes
from workbench.replay.breaker import CircuitBreaker
from workbench.replay.judges import JudgeCalls
from workbench.replay.state import Fleet, Progress, ReplayStats, RequestState, Sink
from workbench.replay.steps import StepCalls
from workbench.scenario import Scenario
from workbench.seeds import key64, request_key, unit
from workbench.store.rows import AttemptRow, RequestRow
from workbench.traffic import Request, prompt_key

if TYPE_CHECKING:  # pragma: no cover
    from workbench.replay.clocks import Clock

__all__ = ["Engine"]

_SALT_JITTER, _SALT_HANDLE, _SALT_HUMAN_Q = 0x7177E2, 0x4A4D, 0x4855
_CONSULT_KEY = 0x5C0FFEE5C0FFEE  # a consulted model's draws differ from its draws when answering
_new = tuple.__new__  # builds a row type without NamedTuple.__new__'s keyword handling (hot path)
Verdicts = dict[str, float | None]


class Engine(MonitorActions):
    """The routing, retry, fallback, hand-off and row-writing logic of one replay, on a given clock."""

    __slots__ = ("scn", "policy", "graders", "seed", "run_id", "sink", "progress", "flush_every", "cancel",
                 "total", "flushes", "written", "hook", "modes", "answer", "labels", "judges", "pkeys",
                 "models", "timeouts", "retry_on", "max_retries", "backoff", "mult", "max_backoff", "jitter",
                 "fallbacks", "humans", "agents", "hkeys", "budget", "concurrency", "policy_name", "fleet",
                 "reviews", "breaker", "inflight", "waitq", "stats", "req_rows", "att_rows", "every", "clock",
                 "provider", "steps", "monitors", "removed", "redirect", "lanes", "batched",
                 "arm")

    def __init__(self, scenario: Scenario, provider: Fleet, policy: Policy, graders: list[Grader], seed: int,
                 run_id: str, sink: Sink, progress: Progress | None, flush_every: int,
                 cancel: Callable[[], bool] | None, total: int, clock: Clock):
        self.scn, self.policy, self.graders = scenario, policy, graders
        self.seed, self.run_id, self.sink, self.progress = seed, run_id, sink, progress
        self.flush_every, self.cancel, self.total = flush_every_from_env(flush_every), cancel, total
        self.flushes = self.written = 0
        self.hook = StopHook.from_env()  # test-only: None unless a fault test asks for an exact stop
        self.provider = provider
        self.modes: dict[str, str] = provider.modes
        self.answer = {n: provider.bind(n) for n in scenario.fleet}
        self.labels = grader_labels(graders)
        # Graders that must call a model (an LLM judge) run after the others, as paid attempts.
        self.judges = JudgeCalls(self, graders, self.labels)
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
        spec = scenario.circuit_breaker
        self.breaker = CircuitBreaker(spec, scenario.fleet) if spec is not None else None
        self.inflight = 0
        self.waitq: deque[RequestState] = deque()
        self.stats = ReplayStats()
        self.req_rows: list[RequestRow] = []
        self.att_rows: list[AttemptRow] = []
        self.every = max(1, total // 200)
        self.clock = clock
        # Tool and data steps around a route's model call; None (no hook runs) when no route declares one.
        self.steps = StepCalls(self, scenario) if StepCalls.wanted(scenario) else None
        # monitors (workbench/monitors/): None unless the scenario has some, so a run without pays nothing
        self.monitors = Monitors(scenario.monitors, self, run_id) if scenario.monitors else None
        self.removed: set[str] = set()  # targets a monitor took out of routing
        self.redirect: dict[str, str] = {}  # target -> where a monitor switched its traffic
        self.arm: str | None = None  # a rollout's arm ('baseline', 'candidate'): stored in every request row
        clock.attach(self)
        # Batch lanes (fleet models with tier: batch) are a collaborator; without them nothing changes.
        self.lanes = BatchLanes(self) if scenario.batch is not None else None
        self.batched = frozenset(self.lanes.targets) if self.lanes is not None else frozenset()

    def run(self, requests: Sequence[Request], arrivals: Sequence[float], seqs: Sequence[int]) -> ReplayStats:
        """Replay ``requests`` on the clock; every finished request is written when this returns."""
        self.stats.virtual_s = self.clock.run(requests, arrivals, seqs)
        if self.monitors is not None:
            self.stats.alerts = self.monitors.alerts
        if self.progress:
            self.progress(self.stats.requests, self.total, self.stats.cost_usd, self.stats.failed)
        return self.stats

    # --- what a clock calls ------------------------------------------------------------------
    def arrive(self, seq: int, req: Request, now: float) -> None:
        """A request arrives: it waits for a concurrency slot."""
        self.waitq.append(RequestState(seq, req, request_key(self.seed, req.id), now))

    def pump(self, now: float) -> None:
        """Start waiting requests while concurrency slots are free."""
        waitq = self.waitq
        while self.inflight < self.concurrency and waitq:
            self.start(waitq.popleft(), now)

    # --- a request's life --------------------------------------------------------------------
    def start(self, st: RequestState, now: float) -> None:
        """Take a slot, then route (or reject or downgrade under the budget, or consult a model first)."""
        st.slot = True
        self.inflight += 1
        if st.attempt_no:  # back from a batch lane (failed over): its real-time attempt starts now
            self.attempt(st, now)
            return
        st.start = now
        b = self.budget
        if b is not None and self.stats.cost_usd >= b.max_usd:
            if b.on_exceed == "reject":
                st.route, st.reason, st.dscore = None, f"budget of ${b.max_usd:g} spent: rejected", None
                self.finish(st, now, "rejected")
                return
            assert b.downgrade_to is not None  # the scenario requires it with on_exceed: downgrade
            d = Decision(b.downgrade_to, f"budget of ${b.max_usd:g} spent: downgraded")
        else:
            d = self.policy.decide(st.req, self.ctx(now, st))
            if d.consult is not None:  # ask a model first (an LLM as router): a paid, timed attempt
                st.purpose, st.target, st.reason = "route", d.consult.model, d.reason
                self.call(st, now, d.consult.request, st.rkey ^ _CONSULT_KEY)
                return
        self.route(st, d, now)

    def ctx(self, now: float, st: RequestState) -> RouteContext:
        """What the policy may read when it decides for ``st``."""
        return RouteContext(now, self.stats.cost_usd, st.rkey, self.fleet)

    def route(self, st: RequestState, d: Decision, now: float) -> None:
        """Send ``st`` where the decision says, with the target's fallback chain."""
        target = d.target
        if target is None:  # only a consult may leave the target open, and after_consult must fill it
            raise ValueError(f"policy '{self.policy_name}' decided no target for request {st.req.id}")
        st.route, st.reason, st.dscore, st.target = target, d.reason, d.score, target
        if self.redirect and target in self.redirect:
            st.target = target = self.redirect[target]
            st.reason = f"{d.reason}; switched to {target} by a monitor"
        st.purpose = "answer"
        st.chain = list(self.fallbacks.get(target, ()))
        st.visited = {target}
        self.attempt(st, now)

    def attempt(self, st: RequestState, now: float) -> None:
        """Try ``st.target``: a human queue, a skipped open circuit, or a provider call."""
        target = st.target
        if target in self.humans:
            self.handoff(st, now)
            return
        if self.removed and target in self.removed:
            self.bypass(st, now)
            return
        if target in self.batched:
            assert self.lanes is not None  # batched is empty without lanes
            self.lanes.enqueue(st, now)
            return
        breaker = self.breaker
        if breaker is not None and breaker.is_open(target, now):
            st.skips += 1  # circuit open: go straight to the fallback the failures call for
            nxt = self.next_fallback(st, breaker.kind[target])
            if nxt is None:
                st.last_error = ErrorKind.CIRCUIT_OPEN
                self.finish(st, now, "failed")
                return
            self.switch(st, nxt)
            self.attempt(st, now)
            return
        steps = self.steps
        if steps is not None and steps.pending_before(st, target):
            steps.begin_before(st, now)  # the route's steps first; they come back here when done
            return
        self.call(st, now, st.req, st.rkey)

    def call(self, st: RequestState, now: float, req: Request, rkey: int) -> None:
        """Start one call to ``st.target``; the clock carries it out and runs :meth:`on_end` when it ends."""
        clock = self.clock
        if clock.stopping:  # a signalled live run: no new call; the request stays unrecorded, resume replays it
            return
        target = st.target
        st.attempt_no += 1
        st.att_start = now
        self.fleet.in_flight[target] += 1
        clock.call(st, target, req, rkey, now)

    def switch(self, st: RequestState, target: str) -> None:
        """Move ``st`` to a fallback target."""
        st.target, st.retries_here = target, 0
        st.fallbacks += 1
        st.next_fallback = True

    def on_end(self, st: RequestState, now: float) -> None:
        """A provider call ended: record it, then accept, judge, retry, fall back or fail."""
        out = st.out
        target = st.target
        self.fleet.in_flight[target] -= 1
        # A failed call counts as slow as the timeout (as litellm's latency routing penalises
        # failures): otherwise a target that fails fast would look like the fastest one.
        self.fleet.observe(target, out.latency_s if out.ok else self.timeouts[target])
        if st.purpose == "judge":
            self.judges.on_end(st, now, out)
            return
        if self.steps is not None:
            out = st.out = self.steps.with_context(st, out)
        score = verdicts = None
        if out.ok and self.graders and st.purpose != "route":
            score, verdicts = grade_all(self.graders, st.req, out.text, out.score, self.labels)
        src = out.source or self.modes.get(target, "?")
        self.record(st, now, out, score, target, self.models[target], src, 0.0,
                    verdicts)  # record_call, inlined: this runs once per attempt
        if st.purpose == "route":
            self.route(st, self.policy.after_consult(st.req, self.ctx(now, st), out.text if out.ok else None), now)
        elif out.ok:
            st.source = src
            if self.judges:
                self.judges.begin(st, now, target, out, verdicts)
            else:
                self.accept(st, now, target, out, score, verdicts)
        else:
            st.source = src
            self.failed(st, now, out)

    def failed(self, st: RequestState, now: float, out: Outcome) -> None:
        """A call failed: retry it after a backoff, else take the fallback its error calls for, else fail."""
        kind = out.error
        assert kind is not None  # a failed outcome always names its kind
        target = st.target
        st.last_error = kind
        if self.breaker is not None:
            self.breaker.failed(target, kind, now)
        if kind in self.retry_on and st.retries_here < self.max_retries:
            st.retries_here += 1
            st.retries += 1
            st.next_retry = True
            self.clock.at(now + self.backoff_delay(st, out), self.attempt, st)
            return
        nxt = self.next_fallback(st, kind)
        if nxt is None:
            self.finish(st, now, "failed")
            return
        self.switch(st, nxt)
        self.attempt(st, now)

    def accept(self, st: RequestState, now: float, target: str, out: Outcome, score: float | None,
               verdicts: Verdicts | None) -> None:
        """A graded answer: the policy may escalate it (a cascade), else the request is done."""
        if self.reviews and self.escalate(st, now, out.text, score):
            return
        if self.steps is not None and self.steps.pending_after(target):
            self.steps.begin_after(st, now, score, out.text, verdicts)  # a tool works on the answer first
            return
        self.finish(st, now, "ok", target, score, out.text, verdicts=verdicts)

    def escalate(self, st: RequestState, now: float, text: str | None, score: float | None) -> bool:
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

    def backoff_delay(self, st: RequestState, out: Outcome) -> float:
        """Exponential backoff with jitter before the next retry (a longer retry-after wins)."""
        base = min(self.max_backoff, self.backoff * self.mult ** (st.retries_here - 1))
        delay = base * (1.0 + self.jitter * (2.0 * unit(st.rkey, _SALT_JITTER + st.attempt_no - st.step_calls) - 1.0))
        if out.retry_after_s is not None and out.retry_after_s > delay:
            delay = out.retry_after_s
        return delay

    def next_fallback(self, st: RequestState, kind: ErrorKind) -> str | None:
        """The first open fallback rule matching ``kind`` (its target's own rules are appended), or None."""
        chain = st.chain
        for idx, rule in enumerate(chain):
            if rule.to not in st.visited and rule.matches(kind):
                del chain[idx]
                st.visited.add(rule.to)
                chain.extend(r for r in self.fallbacks.get(rule.to, ()) if r.to not in st.visited)
                return rule.to
        return None

    def handoff(self, st: RequestState, now: float) -> None:
        """Queue ``st`` for the first free agent of the human node ``st.target``."""
        h = st.target
        spec = self.humans[h]
        if st.slot:  # the machine pipeline is done with it; a person takes over
            st.slot = False
            self.inflight -= 1
        st.attempt_no += 1
        agents = self.agents[h]
        begin = max(now, heapq.heappop(agents))
        u = unit(st.rkey ^ self.hkeys[h], _SALT_HANDLE + st.attempt_no - st.step_calls)
        end = begin - spec.handling_time_s * math.log(1.0 - u)
        heapq.heappush(agents, end)
        st.human, st.att_start = begin, now
        self.clock.at(end, self.on_human_end, st)

    def on_human_end(self, st: RequestState, now: float) -> None:
        """A person answered: right with the node's accuracy, at the node's price."""
        h = st.target
        spec = self.humans[h]
        req = st.req
        correct = unit(st.rkey ^ self.hkeys[h], _SALT_HUMAN_Q) < spec.accuracy
        text = (req.expected if correct else "needs follow-up") if req.expected is not None else "[human answer]"
        out = Outcome(True, now - st.att_start, None, 0, 0, spec.cost_per_request_usd, text,
                      1.0 if correct else 0.0)
        score, verdicts = grade_all(self.graders, req, text, out.score, self.labels) if self.graders else (None, None)
        self.record(st, now, out, score, h, "human", "human", st.human - st.att_start, verdicts)
        st.source = "simulated"  # a human node is modelled (its accuracy is the scenario's assumption)
        self.finish(st, now, "ok", h, score, text, handoff=True, verdicts=verdicts)

    # --- rows --------------------------------------------------------------------------------
    def record_call(self, st: RequestState, now: float, out: Outcome, score: float | None,
                    verdicts: Verdicts | None) -> None:
        """The attempt row of a finished provider call to ``st.target``."""
        target = st.target
        self.record(st, now, out, score, target, self.models[target], out.source or self.modes.get(target, "?"),
                    0.0, verdicts)

    def record(self, st: RequestState, now: float, out: Outcome, score: float | None, target: str, model: str,
               provider: str, wait: float, verdicts: Verdicts | None = None) -> None:
        """Add one attempt row to ``st`` and its cost and tokens to the request's and the run's totals."""
        st.cost += out.cost_usd
        st.ptok += out.prompt_tokens
        st.ctok += out.completion_tokens
        self.stats.cost_usd += out.cost_usd
        self.stats.attempts += 1
        err = out.error
        b = st.batch
        if b is not None:  # a batch line: it waited from joining the batch until the batch was sent
            wait = (now if b.sent is None else b.sent) - st.att_start
        p = out.parts
        if p is None:  # a human's answer or a call that cost nothing: no token parts, no tier saving
            p = _NO_PARTS if not out.cost_usd else _NO_PARTS._replace(total=out.cost_usd, standard=out.cost_usd)
        row = _new(AttemptRow, (
            self.run_id, st.req.id, st.attempt_no, target, model, provider, st.next_retry, st.next_fallback,
            st.att_start, now, wait, out.ok, None if err is None else err.value, out.retry_after_s,
            out.prompt_tokens, out.completion_tokens, out.cost_usd, score, st.purpose, out.text,
            _json(verdicts), out.message, out.version, None if b is None else b.id,
            out.cached_tokens, out.cache_write_tokens, out.reasoning_tokens, out.tier,
            p.input, p.cached_input, p.cache_write, p.output, p.reasoning, p.standard))
        st.rows.append(row)
        st.next_retry = st.next_fallback = False
        if self.monitors is not None:
            self.monitors.on_attempt(row, now)

    def finish(self, st: RequestState, now: float, status: str, final: str | None = None,
               quality: float | None = None, text: str | None = None, handoff: bool = False,
               verdicts: Verdicts | None = None) -> None:
        """The request is done (ok, failed or rejected): queue its row and its attempts' rows."""
        if st.slot:
            st.slot = False
            self.inflight -= 1
        req = st.req
        err = st.last_error if status == "failed" else None
        pkey = self.pkeys.get(req.id)
        if pkey is None:
            pkey = self.pkeys[req.id] = prompt_key(req)
        row = _new(RequestRow, (
            self.run_id, st.seq, req.id, req.category, req.difficulty, st.arrival, st.start, now,
            now - st.arrival, self.policy_name, st.route, st.reason, st.dscore, final, status,
            None if err is None else err.value, st.attempt_no, st.retries, st.fallbacks, handoff, st.ptok,
            st.ctok, st.cost, quality, text, st.escalations, st.skips, _json(verdicts), pkey, st.source or "none",
            st.deadline, self.arm))
        self.req_rows.append(row)
        self.att_rows.extend(st.rows)
        if self.monitors is not None:
            self.monitors.on_request(row, now)
        self.count(status, req.id)

    def count(self, status: str, request_id: str) -> None:
        """Count a finished request; flush a full batch; report progress now and then."""
        s = self.stats
        s.requests += 1
        if status == "ok":
            s.ok += 1
        elif status == "failed":
            s.failed += 1
        else:
            s.rejected += 1
        if self.hook is not None and self.hook.after == "requests":
            self.hook.reached(s.requests, self.written, len(self.req_rows), request_id)
        if len(self.req_rows) >= self.flush_every:
            self.flush()
        if self.progress and s.requests % self.every == 0:
            self.progress(s.requests, self.total, s.cost_usd, s.failed)

    def flush(self) -> None:
        """Write the finished requests' rows (each request with all its attempts) to the sink."""
        if self.req_rows:
            n = len(self.req_rows)
            self.sink.write(self.req_rows, self.att_rows)
            self.req_rows, self.att_rows = [], []
            self.flushes += 1
            self.written += n
            if self.hook is not None and self.hook.after == "flushes":
                self.hook.reached(self.flushes, self.written, 0)


_JSON: dict[tuple, str] = {}


def _json(verdicts: Verdicts | None) -> str | None:
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
