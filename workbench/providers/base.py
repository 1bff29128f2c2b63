"""The provider contract: answer one call for one fleet model, say what it cost and how it failed.

Why one small contract for very different back ends (a simulator, a table of recorded answers, real
HTTP through litellm): the replay engine must not know which one it drives, so the same scenario can
be replayed against any of them and the results compared. A provider never decides a route; it
answers the call it is given, at the virtual (or wall-clock) time it is given.

The contract, :class:`Provider`, is everything the engine and the runner use: ``mode`` (the label of
every answer: simulated, recorded, live...), ``notes`` (what a report must say about the answers),
``asynchronous`` (whether calls are coroutines on the wall clock or plain calls in virtual time) and
``bind(model)`` (the callable that answers for one fleet model; bound once, called per attempt).
:func:`make_provider` checks every provider it builds against it (:func:`check_provider`), so a
provider kind that lacks a part fails at build time with one message naming what is missing, not with
an AttributeError in the middle of a replay.

A new provider kind is one new module in this package: a class decorated with :func:`register` that
declares ``name`` (as written in ``provider:``), ``mode``, and optionally ``colour`` and ``order``
(display metadata, read by the app and the charts through :mod:`workbench.registry`), built with
``(scenario, fleet model names, requests, seed)``. Nothing else changes: the scenario validates
``provider:`` against the registry.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from workbench.errors import ErrorKind, ScenarioError
from workbench.registry import MIXED, PROVIDER_KINDS, unknown_provider_message

if TYPE_CHECKING:  # pragma: no cover
    from workbench.pricing import Cost
    from workbench.scenario import Scenario
    from workbench.timeline import Timeline, TimelineState
    from workbench.traffic import Request

__all__ = ["Answer", "AsyncAnswer", "Outcome", "TimedCalls", "Provider", "ProviderFactory", "register", "make_provider",
           "check_provider", "FleetProvider", "unknown_price_error"]


@dataclass(slots=True)
class Outcome:
    """What one provider call produced. ``latency_s`` may be ``inf`` for a call that never returns."""

    ok: bool
    latency_s: float
    error: ErrorKind | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    text: str | None = None
    score: float | None = None  # the provider's own verdict (simulated correctness, recorded score)
    retry_after_s: float | None = None
    # Where the answer came from when it is not the provider's own kind: a recorded provider that
    # falls back to the simulator on a miss labels that attempt "simulated" (honesty rule: never mixed
    # without a label).
    source: str | None = None
    # Why a call failed, as the provider said it (live calls; scrubbed of keys): stored on the attempt
    # so that a 404 or a 401 can be read, not guessed from its kind.
    message: str | None = None
    cached_tokens: int = 0        # prompt tokens read from a provider's prompt cache (subset of prompt_tokens)
    cache_write_tokens: int = 0   # prompt tokens written to the cache on this call (subset of prompt_tokens)
    reasoning_tokens: int = 0     # hidden reasoning tokens (subset of completion_tokens, billed as output)
    tier: str = "standard"        # the service tier the call ran on: standard | flex | priority | batch
    # The answering model's version label (a fleet model with a ``timeline:``; workbench/timeline.py).
    version: str | None = None
    # Where the money went (workbench.pricing.Cost: input, cached input, cache write, output, reasoning,
    # total, standard-tier total); None for a call that cost nothing or a human's answer.
    parts: Cost | None = None


#: ``answer(req, rkey, now, attempt) -> Outcome``: one call to one fleet model at time ``now``;
#: ``rkey`` is the request's stable key under the seed, ``attempt`` counts from 1.
Answer = Callable[["Request", int, float, int], Outcome]
#: The same call as a coroutine function (a provider with ``asynchronous = True``: wall-clock calls).
AsyncAnswer = Callable[["Request", int, float, int], Awaitable[Outcome]]


class TimedCalls:
    """Mixin of a fleet model that answers through ``call``: its answers labelled with the model's version,
    and a model with a ``timeline:`` changed to the timeline's state at the call's virtual time first.

    Why in the contract's module: the simulated and recorded models change differently over time (a
    profile moves; another dataset answers) but label and dispatch alike; :meth:`answerer` keeps the
    plain ``call`` (no labelling cost) for a model with neither a timeline nor a version."""

    timeline: Timeline | None
    version: str | None

    def call(self, req: Request, rkey: int, now: float, attempt: int) -> Outcome:
        """One call at virtual time ``now`` (the model's own)."""
        raise NotImplementedError  # pragma: no cover

    def apply(self, st: TimelineState) -> None:
        """Become what the timeline says the model is in state ``st``."""
        raise NotImplementedError  # pragma: no cover

    def call_timed(self, req: Request, rkey: int, now: float, attempt: int) -> Outcome:
        """:meth:`call` as the timeline has the model at ``now``, labelled with that version."""
        assert self.timeline is not None
        st = self.timeline.at(now)
        self.apply(st)
        out = self.call(req, rkey, now, attempt)
        out.version = st.version
        return out

    def call_labelled(self, req: Request, rkey: int, now: float, attempt: int) -> Outcome:
        """:meth:`call` labelled with the model's fixed ``version:`` (no timeline)."""
        out = self.call(req, rkey, now, attempt)
        out.version = self.version
        return out

    def pin(self, now: float) -> str | None:
        """Freeze the model at its state before the latest timeline change begun by ``now``; the version
        it now answers as (None: no timeline, nothing to pin)."""
        st = self.timeline.pin(now) if self.timeline is not None else None
        return None if st is None else st.version

    def answerer(self) -> Answer:
        """The callable the engine binds: timed, labelled, or the plain call."""
        return self.call_timed if self.timeline is not None else \
            self.call_labelled if self.version is not None else self.call


class Provider(Protocol):
    """What the replay engine drives: answers for the fleet models it was built for."""

    mode: str
    """The provenance of its answers (simulated, recorded, live, ...), stored on every attempt."""
    notes: dict[str, str]
    """Fleet model -> what a report must say about its answers (where recorded ones came from); may be empty."""
    asynchronous: bool
    """True when :meth:`bind` returns coroutine functions (calls on the wall clock), False for plain calls."""

    def bind(self, model: str) -> Answer | AsyncAnswer:
        """The callable that answers for fleet model ``model`` (bound once, called per attempt)."""
        ...  # pragma: no cover


#: How a registered provider class is built: ``(scenario, its fleet model names, requests, seed)``.
ProviderFactory = Callable[["Scenario", Sequence[str], Sequence["Request"], int], Provider]

_P = TypeVar("_P", bound=Provider)


def register(cls: type[_P]) -> type[_P]:
    """Class decorator: make ``cls`` buildable as ``provider: <cls.name>`` (see the module docstring)."""
    where = f"provider class {cls.__module__}.{cls.__qualname__}"
    for attr in ("name", "mode"):
        value = getattr(cls, attr, None)
        if not isinstance(value, str) or not value:
            raise TypeError(f"{where} cannot register: it needs a class attribute '{attr}' (a non-empty str)")
    if not callable(getattr(cls, "bind", None)):
        raise TypeError(f"{where} cannot register: it has no bind(model) method")
    PROVIDER_KINDS.register(cls)
    return cls


_MISSING = object()
_ATTRS: tuple[tuple[str, type, str], ...] = (
    ("mode", str, "a str: the provenance label of its answers (simulated, recorded, live, ...)"),
    ("notes", Mapping, "a dict: fleet model -> what a report must say about its answers ({} for nothing)"),
    ("asynchronous", bool, "a bool: True when bind() returns coroutine functions (wall-clock calls)"),
)


def check_provider(provider: object, kind: str, models: Sequence[str]) -> None:
    """Raise one TypeError naming every part of the :class:`Provider` contract ``provider`` lacks."""
    problems = []
    for attr, typ, what in _ATTRS:
        value = getattr(provider, attr, _MISSING)
        if value is _MISSING:
            problems.append(f"no '{attr}' ({what})")
        elif not isinstance(value, typ):
            problems.append(f"'{attr}' is a {type(value).__name__}, not {what}")
    asynchronous = getattr(provider, "asynchronous", None)
    bind = getattr(provider, "bind", None)
    if not callable(bind):
        problems.append("no bind(model) method (it returns the callable that answers one call)")
    else:
        for model in models:
            fn = bind(model)
            if not callable(fn):
                problems.append(f"bind('{model}') returned {type(fn).__name__}, not a callable "
                                "answer(request, rkey, now, attempt) -> Outcome")
            elif isinstance(asynchronous, bool) and inspect.iscoroutinefunction(fn) != asynchronous:
                problems.append(f"bind('{model}') returned a {'plain' if asynchronous else 'coroutine'} function "
                                f"but asynchronous is {asynchronous}")
    if problems:
        cls = type(provider)
        raise TypeError(f"provider kind '{kind}' ({cls.__module__}.{cls.__qualname__}) does not implement the "
                        "Provider contract (workbench/providers/base.py): " + "; ".join(problems))


class FleetProvider(Provider):
    """Dispatches each call to the provider of the model's kind (a fleet may mix kinds)."""

    def __init__(self, by_model: Mapping[str, Provider]):
        self._by_model = dict(by_model)
        #: fleet model -> the mode of its provider (stored with the run)
        self.modes: dict[str, str] = {name: p.mode for name, p in self._by_model.items()}
        kinds = set(self.modes.values())
        self.mode = kinds.pop() if len(kinds) == 1 else MIXED
        #: fleet model -> what a reader must know about its answers (e.g. where recorded ones came from)
        self.notes = {}
        providers = list({id(p): p for p in self._by_model.values()}.values())
        for p in providers:
            self.notes.update(p.notes)
        self.asynchronous = any(p.asynchronous for p in providers)

    def is_async(self, model: str) -> bool:
        """True when ``model``'s calls are coroutines (a live model): the wall-clock engine awaits them."""
        return self._by_model[model].asynchronous

    def provider_of(self, model: str) -> Provider:
        """The provider that serves fleet model ``model`` (a batch lane asks it for its batch API)."""
        return self._by_model[model]

    def bind(self, model: str) -> Answer | AsyncAnswer:
        """The answering callable of the provider that serves ``model``."""
        return self._by_model[model].bind(model)

    def pin_previous(self, model: str, now: float) -> str | None:
        """Freeze ``model`` at its previous timeline version (a monitor's action): the label pinned, or
        None when its provider has no timeline or no change has begun by ``now``."""
        pin = getattr(self._by_model[model], "pin_previous", None)
        return pin(model, now) if pin is not None else None

    def call(self, model: str, req: Request, rkey: int, now: float, attempt: int = 1) -> Outcome:
        """One synchronous call, for tests and notebooks (the replay binds once instead)."""
        if self.is_async(model):
            raise TypeError(f"fleet model '{model}' answers asynchronously (mode {self.modes[model]}): use acall")
        return cast(Answer, self.bind(model))(req, rkey, now, attempt)

    async def acall(self, model: str, req: Request, rkey: int, now: float, attempt: int = 1) -> Outcome:
        """One call from a coroutine, whichever way ``model`` answers."""
        if self.is_async(model):
            return await cast(AsyncAnswer, self.bind(model))(req, rkey, now, attempt)
        return cast(Answer, self.bind(model))(req, rkey, now, attempt)


def make_provider(scenario: Scenario, requests: Sequence[Request], seed: int) -> FleetProvider:
    """Build the providers of the scenario's fleet, each checked against the contract; errors name the
    fleet model to fix."""
    groups: dict[str, list[str]] = {}
    for name, spec in scenario.fleet.items():
        groups.setdefault(spec.provider, []).append(name)
    by_model: dict[str, Provider] = {}
    for kind, names in groups.items():
        cls = PROVIDER_KINDS.get(kind)
        if cls is None:  # a scenario built in code, not loaded: the loader checks this too
            raise scenario.error_at(("fleet", names[0], "provider"), unknown_provider_message(kind))
        provider = cast(ProviderFactory, cls)(scenario, names, requests, seed)
        check_provider(provider, kind, names)
        by_model.update({n: provider for n in names})
    return FleetProvider(by_model)


def unknown_price_error(scenario: Scenario, name: str) -> ScenarioError:
    """The error for a fleet model litellm has no price for."""
    spec = scenario.fleet[name]
    return scenario.error_at(("fleet", name, "model"),
                             f"litellm's price map has no model '{spec.model}'; check the name "
                             "(`workbench models` lists them) or give fleet." + name + ".price")
