"""The provider contract: answer one call for one fleet model, say what it cost and how it failed.

Why one small contract for three very different back ends (a simulator, a table of recorded answers,
real HTTP through litellm): the replay engine must not know which one it drives, so the same
scenario can be replayed against any of them and the results compared. A provider never decides a
route; it answers the call it is given, at the virtual (or wall-clock) time it is given.

A new provider kind is one new module that calls :func:`register_provider`; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from workbench.errors import ErrorKind, ScenarioError, UnavailableError

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Scenario
    from workbench.traffic import Request

__all__ = ["Answer", "Outcome", "Provider", "register_provider", "provider_kinds", "make_provider", "FleetProvider"]


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


#: ``answer(req, rkey, now, attempt) -> Outcome``: one call to one fleet model at time ``now``;
#: ``rkey`` is the request's stable key under the seed, ``attempt`` counts from 1.
Answer = Callable[["Request", int, float, int], Outcome]


class Provider(Protocol):
    """Answers calls for the fleet models it was built for."""

    mode: str

    def bind(self, model: str) -> Answer:
        """The callable that answers for fleet model ``model`` (bound once, called per attempt)."""
        ...  # pragma: no cover


Factory = Callable[["Scenario", Sequence[str], Sequence["Request"], int], Provider]
_REGISTRY: dict[str, Factory] = {}


def register_provider(kind: str, factory: Factory) -> None:
    """Make ``kind`` (as written in a fleet model's ``provider:``) buildable."""
    _REGISTRY[kind] = factory


def provider_kinds() -> list[str]:
    """Provider kinds this installation can build."""
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    from workbench.providers import live, recorded, simulated  # noqa: F401  (they register themselves)


class FleetProvider:
    """Dispatches each call to the provider of the model's kind (a fleet may mix kinds)."""

    def __init__(self, by_model: dict[str, Provider]):
        self._by_model = by_model
        self.modes = {name: p.mode for name, p in by_model.items()}
        kinds = set(self.modes.values())
        self.mode = kinds.pop() if len(kinds) == 1 else "mixed"
        #: fleet model -> what a reader must know about its answers (e.g. where recorded ones came from)
        self.notes: dict[str, str] = {}
        for p in {id(p): p for p in by_model.values()}.values():
            self.notes.update(getattr(p, "notes", {}))

    def bind(self, model: str) -> Answer:
        """The answering callable of the provider that serves ``model``."""
        return self._by_model[model].bind(model)

    def call(self, model: str, req: Request, rkey: int, now: float, attempt: int = 1) -> Outcome:
        """One call, for tests and notebooks (the replay binds once instead)."""
        return self.bind(model)(req, rkey, now, attempt)


def make_provider(scenario: Scenario, requests: Sequence[Request], seed: int) -> FleetProvider:
    """Build the providers of the scenario's fleet; errors name the fleet model to fix."""
    _load_builtin()
    groups: dict[str, list[str]] = {}
    for name, spec in scenario.fleet.items():
        groups.setdefault(spec.provider, []).append(name)
    by_model: dict[str, Provider] = {}
    for kind, names in groups.items():
        if kind not in _REGISTRY:
            raise UnavailableError(
                f"{scenario.path or scenario.name}: fleet model '{names[0]}' uses provider '{kind}', which "
                f"this installation cannot run yet (available: {', '.join(sorted(_REGISTRY))})")
        provider = _REGISTRY[kind](scenario, names, requests, seed)
        by_model.update({n: provider for n in names})
    return FleetProvider(by_model)


def unknown_price_error(scenario: Scenario, name: str) -> ScenarioError:
    """The error for a fleet model litellm has no price for."""
    spec = scenario.fleet[name]
    return scenario.error_at(("fleet", name, "model"),
                             f"litellm's price map has no model '{spec.model}'; check the name "
                             "(`workbench models` lists them) or give fleet." + name + ".price")
