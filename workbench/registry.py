"""Plug-in registries: policies and graders are found by name, one module each, no central list.

Why one small class: both registries must behave the same way (import every module of their package
on first use, so a new policy or grader is one new file; list names; validate typed params with an
error that names the scenario's file, line and field), and writing that twice let them drift. The
regex-param validator lives here for the same reason: policies and graders both take patterns.

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
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from workbench.yamlio import problem

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Scenario

__all__ = ["Registry", "validate_params", "check_regex", "compile_regex"]

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


def validate_params(scenario: Scenario, params_cls: type[BaseModel], raw: dict[str, Any], loc: tuple,
                    what: str) -> BaseModel:
    """``raw`` validated as ``params_cls``; a :class:`ScenarioError` at ``loc + field`` otherwise."""
    try:
        return params_cls.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        msg = {"extra_forbidden": "unknown param", "bool_type": problem(err)}.get(err["type"], err["msg"])
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
