"""``rules``: ordered, readable conditions (keywords, regex, category, metadata, length, difficulty).

Why first-match over an ordered list: it is the design most support teams already run by hand, and
an architect must be able to read the YAML and predict every route. Every condition of a rule must
hold; the first rule that holds wins; otherwise ``default``. The decision's reason names the rule and
what matched, so each stored route can be explained from the ``requests`` table.

Why compile in ``__init__``: ``decide`` runs tens of thousands of times a second in a replay, so
regexes and keyword patterns are compiled once and each rule becomes a tuple of small checks, cheap
ones first, stopping at the first that fails.

Matching semantics, chosen to be unsurprising:

* ``keywords`` match whole words (or whole phrases), case-insensitively: ``refund`` matches
  "Refund!" but not "refunded"; a phrase's spaces match any run of whitespace.
* ``regex`` is searched in the prompt, as written (add ``(?i)`` for case-insensitive), by RE2 (linear
  time, see :func:`workbench.registry.compile_regex`): no lookarounds or backreferences; ``\\w``,
  ``\\d``, ``\\s`` and ``\\b`` are ASCII (``\\pL`` is any letter); ``$`` is the very end of the prompt.
* ``metadata`` values are compared as strings, so YAML ``seats: 950`` matches JSON ``"950"`` or
  ``950``; a missing key never matches.
* ``min_difficulty``: requests without a difficulty never match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from workbench.policies.base import Decision, Policy, PolicyParams, RouteContext, check_regex, register
from workbench.registry import compile_regex

if TYPE_CHECKING:  # pragma: no cover
    from workbench.traffic import Request

__all__ = ["Rules", "Rule"]

_NonEmpty = Annotated[str, Field(min_length=1)]
_MISSING = object()
_CONDITIONS = ("category", "keywords", "regex", "metadata", "min_chars", "max_chars", "min_difficulty")

#: A compiled condition: a short description of what matched, or None when it does not hold.
Check = Callable[["Request"], str | None]


class Rule(BaseModel):
    """One rule: optional ``name``, a target ``to``, and conditions that must all hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: _NonEmpty | None = None
    to: _NonEmpty
    category: Annotated[list[_NonEmpty], Field(min_length=1)] | None = None
    keywords: Annotated[list[str], Field(min_length=1)] | None = None
    regex: _NonEmpty | None = None
    metadata: Annotated[dict[str, str | int | float | StrictBool], Field(min_length=1)] | None = None
    min_chars: Annotated[int, Field(ge=0)] | None = None
    max_chars: Annotated[int, Field(ge=0)] | None = None
    min_difficulty: Annotated[float, Field(ge=0, le=1)] | None = None

    @field_validator("keywords")
    @classmethod
    def _words(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and any(not w.strip() for w in v):
            raise ValueError("a keyword cannot be blank")
        return v

    _compiles = field_validator("regex")(check_regex)

    @model_validator(mode="after")
    def _has_condition(self) -> Rule:
        if all(getattr(self, c) is None for c in _CONDITIONS):
            raise ValueError(f"a rule needs at least one condition ({', '.join(_CONDITIONS)})")
        if self.min_chars is not None and self.max_chars is not None and self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) > max_chars ({self.max_chars}): never matches")
        return self


@dataclass(frozen=True, slots=True)
class _Compiled:
    target: str
    label: str
    checks: tuple[Check, ...]


def _keyword_check(words: list[str]) -> Check:
    # Lookarounds, not \b, so keywords that start or end with punctuation ("c++") still work; one
    # pair around the whole alternation (not one per keyword) makes the search about 4x faster.
    phrases = [w.split() for w in words]
    alternatives = "|".join(r"\s+".join(map(re.escape, p)) for p in phrases)
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    canonical = {" ".join(p).casefold(): w for p, w in zip(phrases, words, strict=True)}

    def check(req: Request) -> str | None:
        m = pattern.search(req.prompt)
        if m is None:
            return None
        found = " ".join(m.group(0).split()).casefold()
        return f"keywords: {canonical.get(found, m.group(0))}"
    return check


def _regex_check(regex: str) -> Check:
    pattern = compile_regex(regex)

    def check(req: Request) -> str | None:
        m = pattern.search(req.prompt)
        return None if m is None else f"regex: {m.group(0)[:40]!r}"
    return check


def _category_check(categories: list[str]) -> Check:
    allowed = frozenset(categories)
    return lambda req: f"category: {req.category}" if req.category in allowed else None


def _metadata_check(expected: dict) -> Check:
    wanted = tuple((k, str(v)) for k, v in expected.items())

    def check(req: Request) -> str | None:
        meta = req.metadata
        for key, value in wanted:
            got = meta.get(key, _MISSING) if meta else _MISSING
            if got is _MISSING or str(got) != value:
                return None
        return "metadata: " + ", ".join(f"{k}={v}" for k, v in wanted)
    return check


def _length_checks(lo: int | None, hi: int | None) -> list[Check]:
    out: list[Check] = []
    if lo is not None:
        out.append(lambda req: f"min_chars: {len(req.prompt)} >= {lo}" if len(req.prompt) >= lo else None)
    if hi is not None:
        out.append(lambda req: f"max_chars: {len(req.prompt)} <= {hi}" if len(req.prompt) <= hi else None)
    return out


def _difficulty_check(lo: float) -> Check:
    def check(req: Request) -> str | None:
        d = req.difficulty
        return f"min_difficulty: {d:g} >= {lo:g}" if d is not None and d >= lo else None
    return check


def _compile(rule: Rule, index: int) -> _Compiled:
    """A rule as a tuple of checks, the cheap ones first, so most misses cost one comparison."""
    checks: list[Check] = []
    if rule.category is not None:
        checks.append(_category_check(rule.category))
    if rule.metadata is not None:
        checks.append(_metadata_check(rule.metadata))
    if rule.min_difficulty is not None:
        checks.append(_difficulty_check(rule.min_difficulty))
    checks.extend(_length_checks(rule.min_chars, rule.max_chars))
    if rule.keywords is not None:
        checks.append(_keyword_check(rule.keywords))
    if rule.regex is not None:
        checks.append(_regex_check(rule.regex))
    return _Compiled(rule.to, rule.name or f"rule {index + 1}", tuple(checks))


@register
class Rules(Policy):
    """Send each request to the target of the first rule whose conditions all hold, else ``default``."""

    name = "rules"

    params: Params  # the validated params: this class's own, not the base PolicyParams

    class Params(PolicyParams):
        """``default``: target when no rule matches; ``rules``: ordered list of :class:`Rule`."""

        default: _NonEmpty
        rules: Annotated[list[Rule], Field(min_length=1)]

    def __init__(self, params, scenario):
        super().__init__(params, scenario)
        self._rules = tuple(_compile(rule, i) for i, rule in enumerate(params.rules))

    def referenced_targets(self) -> dict[tuple, str]:
        refs: dict[tuple, str] = {("rules", i, "to"): r.to for i, r in enumerate(self.params.rules)}
        refs[("default",)] = self.params.default
        return refs

    def decide(self, req, ctx: RouteContext) -> Decision:
        for rule in self._rules:
            details = []
            for check in rule.checks:
                detail = check(req)
                if detail is None:
                    break
                details.append(detail)
            else:
                return Decision(rule.target, f"{rule.label} ({', '.join(details)})")
        return Decision(self.params.default, "no rule matched: default")
