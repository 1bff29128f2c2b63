"""The replay's small shared types: a request in flight, the run's counters, the sink and the fleet it drives.

Why apart from the engine: the clocks (:mod:`workbench.replay.clocks`) and the collaborators
(:mod:`~workbench.replay.breaker`, :mod:`~workbench.replay.judges`) read and write the same request state
the engine does; declaring it once, with every field typed in ``__slots__``, lets each module import the
state without importing the engine, and lets the type checker see every field that any of them uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from workbench.errors import ErrorKind
from workbench.providers.base import Answer, AsyncAnswer, Outcome
from workbench.store.alerts import AlertRow
from workbench.store.rows import AttemptRow, RequestRow

if TYPE_CHECKING:  # pragma: no cover
    from workbench.replay.batching import Batch
    from workbench.replay.judges import Judging
    from workbench.replay.steps import StepRun
    from workbench.scenario import FallbackRule
    from workbench.traffic import Request

__all__ = ["ReplayStats", "Sink", "Progress", "Fleet", "RequestState"]


class Sink(Protocol):
    """Where finished request rows and their attempt rows go (a :class:`TraceStore`, a list...)."""

    def write(self, requests: Sequence[RequestRow], attempts: Sequence[AttemptRow]) -> None:
        """Take one batch: finished requests, each with all its attempts."""


class Fleet(Protocol):
    """What the engine needs of its provider: a callable per fleet model, and each model's mode."""

    @property
    def modes(self) -> dict[str, str]:
        """Fleet model -> provider kind (simulated, recorded, live): labels every attempt row."""

    @property
    def asynchronous(self) -> bool:
        """True when any fleet model answers with a coroutine (a live call): the run needs the wall clock."""

    def is_async(self, model: str) -> bool:
        """True when ``model``'s calls are coroutines, which the wall clock awaits."""

    def bind(self, model: str) -> Answer | AsyncAnswer:
        """The callable that answers for fleet model ``model``."""


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
    alerts: list[AlertRow] = field(default_factory=list)  # what the run's monitors raised (workbench/monitors/)


class RequestState:
    """Mutable state of one request in flight (fields without a default are set when first needed)."""

    __slots__ = ("seq", "req", "rkey", "arrival", "start", "route", "reason", "dscore", "target",
                 "chain", "visited", "attempt_no", "retries_here", "retries", "fallbacks", "next_retry",
                 "next_fallback", "cost", "ptok", "ctok", "rows", "out", "att_start", "last_error",
                 "slot", "human", "purpose", "escalations", "skips", "judged", "stepping", "step_calls", "source",
                 "batch", "deadline")

    seq: int
    req: Request
    rkey: int
    arrival: float
    start: float  # when a concurrency slot was free
    route: str | None  # the policy's first target
    reason: str | None
    dscore: float | None
    target: str  # whom the current (or next) attempt goes to
    chain: list[FallbackRule]  # fallback rules still open
    visited: set[str]
    attempt_no: int
    step_calls: int  # attempts that were tool/data steps: the model's draws are keyed without them
    retries_here: int
    retries: int
    fallbacks: int
    next_retry: bool  # the next attempt row is a retry / a fallback
    next_fallback: bool
    cost: float
    ptok: int
    ctok: int
    rows: list[AttemptRow]
    out: Outcome  # the outcome of the call in flight
    att_start: float
    last_error: ErrorKind | None
    slot: bool  # holds a concurrency slot
    human: float  # when a human agent took it
    purpose: str  # answer, route, escalation, judge
    escalations: int
    skips: int
    judged: Judging | None  # LLM judges still to call on the answer
    stepping: StepRun | None  # the route's tool and data steps in progress (workbench/replay/steps.py)
    source: str | None  # provenance of the latest answer (or failure): its attempt's source, or 'judged'
    batch: Batch | None  # the batch it waits in (a batch lane), until it completes or fails over
    deadline: float | None  # seconds after arrival a batch-lane request must be answered by

    def __init__(self, seq: int, req: Request, rkey: int, arrival: float):
        self.seq, self.req, self.rkey, self.arrival = seq, req, rkey, arrival
        self.purpose = "answer"
        self.escalations = self.skips = 0
        self.attempt_no = self.retries_here = self.retries = self.fallbacks = self.step_calls = 0
        self.next_retry = self.next_fallback = self.slot = False
        self.cost = 0.0
        self.ptok = self.ctok = 0
        self.rows = []
        self.last_error = self.judged = self.stepping = self.source = self.batch = self.deadline = None
