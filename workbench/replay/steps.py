"""Tool and data steps in the replay: a collaborator of the engine that runs a route's steps around its call.

Why a collaborator with its own state, like the judges: a route's steps (``fleet.<model>.steps``, see
:mod:`workbench.steps`) are calls of their own, on the same clock, with their own latency, price and
failures, retried by the scenario's retry rules and failed over to their ``fallback`` step, and a step
that still fails follows its ``on_failure`` (fail the request, skip the step, or hand off to a human).
What must survive between those calls (which steps are left, the model call's own retry and fallback
flags, the context tokens retrieved so far, the accepted answer an after-step works on) is a
:class:`StepRun` with named fields, hung on the request.

How it meets the engine (four hooks, all skipped when no route declares a step): before a model call
(:meth:`StepCalls.pending_before`, :meth:`StepCalls.begin_before`), when its outcome comes back
(:meth:`StepCalls.with_context`: the retrieved context tokens join the call's prompt tokens and are
billed at the model's input price from the catalog, litellm's map or the scenario's ``price:``), and
before an accepted answer finishes (:meth:`StepCalls.begin_after`). A step is a simulated dependency in
every mode: its outcome is drawn from the request's key (seeded, identical in every design sharing the
seed), its time passes on the run's clock (virtual time, or wall-clock timers in a live run), and its
attempt rows say provider ``simulated`` and purpose = its kind. Every call is billed
``cost_per_call_usd``, failed and timed-out ones too (a search or tool API charges for the request).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from workbench.catalog import model_info
from workbench.errors import ErrorKind
from workbench.providers.base import Outcome, unknown_price_error
from workbench.replay.state import RequestState
from workbench.seeds import key64, unit, unit2
from workbench.steps import StepSpec

if TYPE_CHECKING:  # pragma: no cover
    from workbench.replay.clocks import Clock
    from workbench.scenario import Scenario

__all__ = ["StepCalls", "StepRun", "StepHost", "STEP_PROVIDER"]

#: The provider label of every step attempt: a step is simulated in every mode.
STEP_PROVIDER = "simulated"
_MODEL_CALLS = frozenset({"answer", "escalation"})  # the purposes whose prompt carries a route's context
Verdicts = dict[str, float | None]


@dataclass(slots=True)
class StepRun:
    """A route's steps in progress on one request, and what the model call needs back afterwards."""

    route: str  # the fleet model whose steps these are
    phase: str  # before | after
    todo: list[str]  # the route's steps still to run, the current one first
    step: str = ""  # the step being called: todo[0] or one of its fallbacks
    tried: set[str] = field(default_factory=set)
    out: Outcome | None = None  # the outcome of the step call in flight
    ctx: int = 0  # context tokens the route's finished before-steps add to its prompt
    ready: bool = False  # the before-steps are done: the model may be called (and retried) now
    saved: tuple[str, int, bool, bool] = ("answer", 0, False, False)  # purpose, retries_here, flags
    final: tuple[float | None, str | None, Verdicts | None] = (None, None, None)  # after: the answer


class StepHost(Protocol):
    """What the steps need of the engine (its retry rules, rows, clock and request endings)."""

    clock: Clock
    retry_on: frozenset[ErrorKind]
    max_retries: int

    def attempt(self, st: RequestState, now: float) -> None:
        """Try ``st.target`` (a model call, or a human hand-off)."""

    def record(self, st: RequestState, now: float, out: Outcome, score: float | None, target: str, model: str,
               provider: str, wait: float, verdicts: Verdicts | None = None) -> None:
        """Write one attempt row of ``st``."""

    def backoff_delay(self, st: RequestState, out: Outcome) -> float:
        """The delay before the next retry."""

    def finish(self, st: RequestState, now: float, status: str, final: str | None = None,
               quality: float | None = None, text: str | None = None, handoff: bool = False,
               verdicts: Verdicts | None = None) -> None:
        """End the request."""


class StepCalls:
    """Runs the steps of a scenario's routes for the engine; built only when a route declares steps."""

    __slots__ = ("host", "specs", "before", "after", "keys", "input_price")

    def __init__(self, host: StepHost, scenario: Scenario):
        self.host = host
        self.specs: dict[str, StepSpec] = dict(scenario.steps)
        self.before = {n: list(m.steps.before) for n, m in scenario.fleet.items() if m.steps.before}
        self.after = {n: list(m.steps.after) for n, m in scenario.fleet.items() if m.steps.after}
        self.keys = {n: key64("step", n) for n in scenario.steps}  # by step name: same step, same luck
        self.input_price: dict[str, float] = {}
        for name, steps in self.before.items():
            if any(self.specs[s].context_tokens for s in steps):
                spec = scenario.fleet[name]
                info = model_info(spec.model, spec.price, spec.context_window)
                if info is None:
                    raise unknown_price_error(scenario, name)
                self.input_price[name] = info.input_per_token

    @staticmethod
    def wanted(scenario: Scenario) -> bool:
        """True when any route of ``scenario`` runs a step (else the engine builds no :class:`StepCalls`)."""
        return any(m.steps for m in scenario.fleet.values())

    # --- the engine's hooks -----------------------------------------------------------------
    def pending_before(self, st: RequestState, target: str) -> bool:
        """True when ``target``'s before-steps must run before its model call for ``st``."""
        if target not in self.before:
            return False
        run = st.stepping
        return run is None or run.route != target or not run.ready

    def begin_before(self, st: RequestState, now: float) -> None:
        """Start ``st.target``'s before-steps; the model call follows when they are done."""
        self._begin(st, now, StepRun(st.target, "before", list(self.before[st.target])))

    def with_context(self, st: RequestState, out: Outcome) -> Outcome:
        """``out`` with the route's retrieved context tokens in its prompt (and its cost, when billed)."""
        run = st.stepping
        if run is None or not run.ctx or not run.ready or run.route != st.target or st.purpose not in _MODEL_CALLS:
            return out
        if out.ok:
            return replace(out, prompt_tokens=out.prompt_tokens + run.ctx,
                           cost_usd=out.cost_usd + run.ctx * self.input_price[run.route])
        return replace(out, prompt_tokens=out.prompt_tokens + run.ctx) if out.prompt_tokens else out

    def pending_after(self, target: str) -> bool:
        """True when ``target``'s route runs steps after its accepted answer."""
        return target in self.after

    def begin_after(self, st: RequestState, now: float, score: float | None, text: str | None,
                    verdicts: Verdicts | None) -> None:
        """Run ``st.target``'s after-steps on its accepted answer; the request finishes when they are done."""
        run = StepRun(st.target, "after", list(self.after[st.target]), final=(score, text, verdicts))
        self._begin(st, now, run)

    # --- the steps --------------------------------------------------------------------------
    def _begin(self, st: RequestState, now: float, run: StepRun) -> None:
        run.saved = (st.purpose, st.retries_here, st.next_retry, st.next_fallback)
        st.next_retry = st.next_fallback = False
        st.stepping = run
        self._next(st, now)

    def _next(self, st: RequestState, now: float) -> None:
        """Call the next step of the phase, or, when none is left, go back to the model call or finish."""
        run = st.stepping
        assert run is not None  # set by _begin until the route's model call or the request's end
        if run.todo:
            run.step = run.todo[0]
            run.tried = {run.step}
            st.retries_here = 0
            self._call(st, now)
            return
        self._restore(st, run)
        if run.phase == "before":
            run.ready = True
            self.host.attempt(st, now)
        else:
            score, text, verdicts = run.final
            self.host.finish(st, now, "ok", run.route, score, text, verdicts=verdicts)

    def _restore(self, st: RequestState, run: StepRun) -> None:
        st.purpose, st.retries_here, st.next_retry, st.next_fallback = run.saved

    def _call(self, st: RequestState, now: float) -> None:
        """Draw one call of the current step now; its end is an event on the run's clock."""
        host = self.host
        if host.clock.stopping:  # a signalled live run: no new call (the request stays unrecorded)
            return
        run = st.stepping
        assert run is not None
        spec = self.specs[run.step]
        st.attempt_no += 1
        st.step_calls += 1
        st.att_start = now
        st.purpose = spec.kind
        run.out = draw(spec, st.rkey ^ self.keys[run.step], st.attempt_no)
        host.clock.at(now + run.out.latency_s, self._on_end, st)

    def _on_end(self, st: RequestState, now: float) -> None:
        """A step call ended: record it, then go on, retry, fall back, or follow ``on_failure``."""
        host, run = self.host, st.stepping
        assert run is not None and run.out is not None
        out = run.out
        host.record(st, now, out, None, run.step, run.step, STEP_PROVIDER, 0.0)
        if out.ok:
            if run.phase == "before":
                run.ctx += self.specs[run.step].context_tokens
            run.todo.pop(0)
            self._next(st, now)
            return
        kind = out.error
        assert kind is not None  # a failed outcome always names its kind
        st.last_error = kind
        if kind in host.retry_on and st.retries_here < host.max_retries:
            st.retries_here += 1
            st.retries += 1
            st.next_retry = True
            host.clock.at(now + host.backoff_delay(st, out), self._call, st)
            return
        nxt = self.specs[run.step].fallback
        if nxt is not None and nxt not in run.tried:
            run.tried.add(nxt)
            run.step = nxt
            st.retries_here = 0
            st.fallbacks += 1
            st.next_fallback = True
            self._call(st, now)
            return
        self._give_up(st, now, run)

    def _give_up(self, st: RequestState, now: float, run: StepRun) -> None:
        """The listed step and its fallbacks failed: skip it, fail the request, or hand it to a human."""
        policy = self.specs[run.todo[0]]
        if policy.on_failure == "skip":
            run.todo.pop(0)
            self._next(st, now)
            return
        self._restore(st, run)
        st.stepping = None
        human = policy.human
        if human is None:
            self.host.finish(st, now, "failed")
            return
        st.target, st.retries_here = human, 0
        st.fallbacks += 1
        st.next_fallback = True
        self.host.attempt(st, now)


def draw(spec: StepSpec, key: int, attempt: int) -> Outcome:
    """One seeded call of ``spec``: a timeout, a server error or an answer, with its latency and price."""
    a = attempt * 4
    u = unit(key, a)
    if u < spec.timeout_rate:
        return Outcome(False, spec.timeout_s, ErrorKind.TIMEOUT, cost_usd=spec.cost_per_call_usd)
    lat = spec.latency
    latency = lat.p50_s
    sigma = lat.sigma
    if sigma:
        u1, u2 = unit2(key, a + 1)
        latency *= math.exp(sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2))
    if latency > spec.timeout_s:
        return Outcome(False, spec.timeout_s, ErrorKind.TIMEOUT, cost_usd=spec.cost_per_call_usd)
    if u < spec.timeout_rate + spec.error_rate:
        return Outcome(False, latency, ErrorKind.SERVER_ERROR, cost_usd=spec.cost_per_call_usd)
    return Outcome(True, latency, None, cost_usd=spec.cost_per_call_usd)
