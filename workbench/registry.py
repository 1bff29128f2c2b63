"""Plug-in registries: policies, graders and provider kinds are found by name, one module each.

Why one small class: the registries must behave the same way (import every module of their package
on first use, so a new policy, grader or provider kind is one new file; list names; validate typed
params with an error that names the scenario's file, line and field), and writing that three times
let them drift. The regex-param validator lives here for the same reason: policies and graders both
take patterns.

Why the provider-kind registry lives here and not in ``workbench.providers``: the scenario checks a
fleet model's ``provider:`` against it, and the charts and the app label and colour figures by the
kind's mode; none of them may import the providers (the app never does, see ARCHITECTURE.md). They
read a :class:`ProviderKind`, the display metadata a provider class declares when it registers
(``workbench.providers.base.register``); building a provider stays the providers' business.

Why RE2 for those patterns: a user's regex runs on every prompt or answer of a replay, and Python's
backtracking engine takes exponential time on patterns such as ``(a+)+$`` (seconds for a 30-character
prompt, then hours). RE2 (google-re2) matches in time linear in the text, whatever the pattern; what
it cannot do in linear time (lookarounds, backreferences) it refuses, and that is one clear error
when the scenario is loaded, not a replay that never ends.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from workbench.yamlio import problem

if TYPE_CHECKING:  # pragma: no cover
    from workbench.providers.base import Provider
    from workbench.scenario import Scenario

__all__ = ["Registry", "validate_params", "check_regex", "compile_regex", "ProviderKind", "PROVIDER_KINDS",
           "provider_kinds", "provider_kind", "provider_kind_names", "unknown_provider_message", "data_modes",
           "mode_colour", "MIXED"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Classes registered by their ``name``, from the modules of one package."""

    def __init__(self, package: str):
        self.package = package
        self._items: dict[str, type[T]] = {}
        self._loaded = False

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: make ``cls`` available under ``cls.name``."""
        self._items[cls.name] = cls  # type: ignore[attr-defined]
        return cls

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            pkg = importlib.import_module(self.package)
            for mod in pkgutil.iter_modules(pkg.__path__):
                if mod.name != "base":
                    importlib.import_module(f"{self.package}.{mod.name}")

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._items)

    def get(self, name: str) -> type[T] | None:
        """The class registered as ``name``, or None."""
        self._load()
        return self._items.get(name)

    def unregister(self, name: str) -> None:
        """Forget ``name`` (for tests that register a kind of their own and must leave none behind)."""
        self._items.pop(name, None)


#: The data mode of a run whose fleet mixes provider modes (its figures carry "mixed: a + b").
MIXED = "mixed"
_MIXED_COLOUR = "#dd6b20"
_DEFAULT_COLOUR = "#4a5568"


class ProviderKind(NamedTuple):
    """A registered provider kind as the scenario, the charts and the app see it (nothing is built)."""

    name: str
    """As written in a fleet model's ``provider:``."""
    mode: str
    """The provenance its answers are labelled with (simulated, recorded, live, ...)."""
    colour: str
    """The badge colour of its mode in the app (CSS colour)."""
    order: int
    """Rank of its mode in a mixed label ("mixed: simulated + live"): lower first."""
    description: str
    """One line: what answers the calls (the first line of the class's docstring)."""


#: Provider classes by kind, from the modules of ``workbench.providers`` (see providers/base.py).
PROVIDER_KINDS: Registry[Provider] = Registry("workbench.providers")


def _kind(cls: Any) -> ProviderKind:
    # ``name`` and ``mode`` were checked when the class registered (workbench.providers.base.register)
    doc = (cls.__doc__ or "").strip().splitlines()
    return ProviderKind(cls.name, cls.mode, getattr(cls, "colour", _DEFAULT_COLOUR), getattr(cls, "order", 100),
                        doc[0] if doc else "")


def provider_kinds() -> list[ProviderKind]:
    """Every registered provider kind, in display order (their ``order``, then name)."""
    kinds = [_kind(PROVIDER_KINDS.get(n)) for n in PROVIDER_KINDS.names()]
    return sorted(kinds, key=lambda k: (k.order, k.name))


def provider_kind_names() -> list[str]:
    """The names a fleet model's ``provider:`` may take, in display order."""
    return [k.name for k in provider_kinds()]


def provider_kind(name: str) -> ProviderKind | None:
    """The registered kind ``name``, or None."""
    cls = PROVIDER_KINDS.get(name)
    return None if cls is None else _kind(cls)


def unknown_provider_message(kind: str) -> str:
    """What an unknown ``provider:`` is told (as an unknown policy or grader is)."""
    return f"unknown provider '{kind}' (registered: {', '.join(provider_kind_names())})"


def data_modes() -> list[str]:
    """Every mode a figure may carry, in label order: the kinds' modes, then ``mixed``."""
    modes: list[str] = []
    for kind in provider_kinds():
        if kind.mode not in modes:
            modes.append(kind.mode)
    return [*modes, MIXED]


def mode_colour(mode: str) -> str:
    """The colour of ``mode``'s badge (its first kind's colour; "mixed: ..." is orange; else grey)."""
    if mode == MIXED or mode.startswith(MIXED + ":"):
        return _MIXED_COLOUR
    return next((k.colour for k in provider_kinds() if k.mode == mode), _DEFAULT_COLOUR)


def validate_params(scenario: Scenario, params_cls: type[BaseModel], raw: dict[str, Any], loc: tuple,
                    what: str) -> BaseModel:
    """``raw`` validated as ``params_cls``; a :class:`ScenarioError` at ``loc + field`` otherwise."""
    try:
        return params_cls.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        msg = {"extra_forbidden": "unknown param", "bool_type": problem(dict(err))}.get(err["type"], err["msg"])
        raise scenario.error_at((*loc, *err["loc"]), f"{msg} ({what})") from None


def check_regex(value: str | None) -> str | None:
    """Validator for a regex param: it must compile, and in RE2 (a pattern that cannot is a params error)."""
    if value is not None:
        try:
            re.compile(value)  # Python's messages say best what is wrong with the syntax
        except (re.error, OverflowError, RecursionError) as exc:  # OverflowError: a{4294967296}
            raise ValueError(f"invalid regex: {exc}") from None
        compile_regex(value)
    return value


@lru_cache(maxsize=1024)
def compile_regex(pattern: str):
    """``pattern`` compiled by RE2: ``search``/``match``, ``groups``, ``groupindex`` as in :mod:`re`, in
    linear time. A pattern RE2 refuses (lookaround, backreference) raises ValueError saying so."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would also print the error to stderr; ours is the one to show
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"regex not supported by RE2, the linear-time engine user patterns run on ({reason}): "
                         "lookarounds and backreferences cannot be used") from None
