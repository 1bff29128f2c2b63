"""Prompt caching: a scenario's shared prompt prefixes and the providers' cache model, in virtual time.

Why a model of its own: a support design that sends the same 1,800-token system prompt with every
ticket pays for those tokens once per call at list price, but a real provider bills most of them as
cache reads (a tenth of the price) when calls come close enough together, and some providers bill
the first call's write at a premium. Whether a design benefits depends on arrival density, TTL and
the prefix's size, so the simulator must model it, not assume it.

A scenario declares its prefixes (``cache: prefixes:``): a name, its size (``tokens:`` or ``text:``,
counted with litellm's tokenizer for each model), the fleet models whose prompts start with it
(``targets:``) and optionally a ``ttl_s:`` that overrides the provider family's default. The prefix is
part of the prompt: a targeted model's prompt tokens include it. ``cached: false`` keeps the tokens and
turns the cache off, so a list-price baseline carries the same prompts as the design that caches them.

The cache model (:class:`BoundPrefix`): one entry per (deployment, prefix), holding its last use in
virtual seconds. A successful call at time ``t`` is a *hit* when the entry exists, ``t - last use <=
TTL`` and the prefix is at least the family's minimum cacheable size: the prefix's tokens are
``cached_tokens``. Otherwise it is a *miss* that writes the entry: ``cache_write_tokens`` are the
prefix's tokens where the family bills writes (Anthropic), 0 where writes are free (OpenAI, Gemini's
implicit cache). Either way the entry's last use becomes ``t`` (every provider below refreshes the TTL
on use). Calls the provider fails leave the cache alone (one the client times out after the provider
answered has written it, as a real provider would). A prefix below the minimum is never cached. The entry is
usable from the call's start (ASSUMED: a second call that starts while the first is still generating
hits; real providers may miss it). Caching changes tokens only, not latency (ASSUMED: the simulated
latency does not depend on prompt size). Nothing reads the wall clock: same seed, same hits.

Family profiles (:data:`FAMILIES`), matched on the litellm model name; a model of any other family has
no cache (its prompt still carries the prefix). Every figure is ASSUMED from the provider's own
documentation (not measured here), with its source:

* ``openai`` (gpt-*, o1/o3/o4, chatgpt; Azure deployments of them too): automatic for prompts of
  1024 tokens or more; caches are cleared after 5-10 minutes of inactivity, always within an hour:
  TTL 300 s (the lower bound); no write fee (cached reads are discounted only).
  https://developers.openai.com/api/docs/guides/prompt-caching
* ``anthropic`` (claude-*): ``cache_control`` breakpoints, TTL 5 minutes from last use (``1h``
  optional: set ``ttl_s: 3600``); writes billed (1.25x input for 5 min, 2x for 1 h); minimum 512
  tokens (Opus 5, Fable 5, Mythos 5), 4096 (Haiku 4.5, Opus 4.5-4.7; later Haikus ASSUMED alike), 2048
  (Haiku 3/3.5), 1024 (every other Claude: Sonnet 4.x/5, Opus 4/4.1/4.8, 3.x).
  https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching ,
  https://docs.litellm.ai/docs/completion/prompt_caching
* ``google`` (gemini-*): implicit caching, no write fee; minimum 2048 tokens for Gemini 2.5 Flash and
  Pro, 4096 for Gemini 3 and newer, none before 2.5 (https://ai.google.dev/gemini-api/docs/caching);
  the implicit cache's lifetime is not documented: TTL 300 s is ASSUMED.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from workbench.catalog import count_text_tokens, model_info

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Scenario

__all__ = ["CacheFamily", "FAMILIES", "family_for", "PrefixSpec", "CacheSpec", "BoundPrefix", "bind_prefixes",
           "prefix_tokens", "check_cache"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


@dataclass(frozen=True, slots=True)
class CacheFamily:
    """How one provider family caches prompt prefixes (see the module docstring for the sources)."""

    name: str
    patterns: tuple[str, ...]
    """Regexes searched in the litellm model name (case-insensitive): the first family that matches."""
    ttl_s: float
    """Seconds an entry lives after its last use."""
    min_tokens: tuple[tuple[str, int | None], ...]
    """(model regex, minimum cacheable tokens or None: no cache): the first that matches the model name."""
    bills_writes: bool
    """True when a cache write is billed (reported as ``cache_write_tokens``)."""
    source: str

    def minimum(self, model: str) -> int | None:
        """The minimum cacheable prefix of ``model``, in tokens (None: the model has no prompt cache)."""
        return next(n for pat, n in self.min_tokens if re.search(pat, model, re.IGNORECASE))


#: The provider families with a prompt cache, in matching order (ASSUMED from their documentation).
FAMILIES: tuple[CacheFamily, ...] = (
    CacheFamily("anthropic", ("claude",), 300.0,
                ((r"(opus|fable|mythos)-5", 512), (r"haiku-[4-9]|opus-4-[5-7]", 4096), (r"3-5-haiku|3-haiku", 2048),
                 (".", 1024)), True,
                "https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching"),
    CacheFamily("google", ("gemini",), 300.0,
                ((r"gemini-(1\.|2\.0)", None), (r"gemini-[3-9]", 4096), (".", 2048)), False,
                "https://ai.google.dev/gemini-api/docs/caching"),
    CacheFamily("openai", (r"(^|/)(gpt-|chatgpt|o[134](-|$))",), 300.0,
                ((".", 1024),), False,
                "https://developers.openai.com/api/docs/guides/prompt-caching"),
)


def family_for(model: str) -> CacheFamily | None:
    """The cache family of a litellm model name, or None (no prompt cache is modelled)."""
    return next((f for f in FAMILIES if any(re.search(p, model, re.IGNORECASE) for p in f.patterns)), None)


class _Model(BaseModel):
    # as workbench.scenario's models: unknown keys are errors, numbers are finite
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PrefixSpec(_Model):
    """One shared prompt prefix (system prompt, few-shot examples, tool definitions)."""

    tokens: Annotated[int, Field(gt=0)] | None = None
    text: Annotated[str, Field(min_length=1)] | None = None
    targets: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    """Fleet models whose prompts start with this prefix."""
    ttl_s: Annotated[float, Field(gt=0)] | None = None
    """Overrides the provider family's TTL (e.g. 3600 for Anthropic's 1-hour cache, whose writes
    :mod:`workbench.pricing` prices at litellm's ``_above_1hr`` rate)."""
    cached: StrictBool = True
    """False: the prompts carry the prefix's tokens but the provider never caches them (a design that puts
    the ticket before its instructions, or opts out of caching): the list-price baseline of a caching
    design, with the same tokens."""

    @model_validator(mode="after")
    def _one_size(self) -> PrefixSpec:
        if (self.tokens is None) == (self.text is None):
            raise ValueError("give exactly one of tokens (a count) or text (counted with litellm's tokenizer)")
        return self


class CacheSpec(_Model):
    """The scenario's ``cache:`` block: its shared prefixes by name."""

    prefixes: Annotated[dict[Annotated[str, Field(pattern=_NAME)], PrefixSpec], Field(min_length=1)]


def prefix_tokens(prefix: PrefixSpec, model: str) -> int:
    """The prefix's size for ``model``: its ``tokens``, or its ``text`` by litellm's tokenizer."""
    return prefix.tokens if prefix.tokens is not None else count_text_tokens(model, prefix.text or "")


def check_cache(scenario: Scenario) -> None:
    """Raise one ScenarioError for the first bad reference in ``cache:`` (a target not in the fleet or not
    simulated, a model targeted twice, a prefix that does not fit the model's context window)."""
    if scenario.cache is None:
        return
    owner: dict[str, str] = {}
    for name, prefix in scenario.cache.prefixes.items():
        size_field = "tokens" if prefix.tokens is not None else "text"
        for i, target in enumerate(prefix.targets):
            loc = ("cache", "prefixes", name, "targets", i)
            if target not in scenario.fleet:
                raise scenario.error_at(loc, f"'{target}' is not a fleet model (fleet: {', '.join(scenario.fleet)})")
            if target in owner:
                raise scenario.error_at(loc, f"'{target}' already starts with prefix '{owner[target]}': a prompt "
                                        "starts with one prefix")
            owner[target] = name
            spec = scenario.fleet[target]
            if spec.provider != "simulated":
                raise scenario.error_at(loc, f"'{target}' is a {spec.provider} model: a cache: prefix is simulated "
                                        "(its size is declared, not sent); a live model's cached tokens come from "
                                        "its provider's usage")
            info = model_info(spec.model, spec.price, spec.context_window)
            window = info.max_input_tokens if info is not None else None
            size = prefix_tokens(prefix, spec.model)
            if window is not None and size >= window:
                raise scenario.error_at(("cache", "prefixes", name, size_field),
                                        f"the prefix is {size:,} tokens for '{target}' ({spec.model}), which does "
                                        f"not fit its context window of {window:,} tokens")


class BoundPrefix:
    """A prefix as one fleet model sees it: its tokens, TTL, minimum and its shared cache entries."""

    __slots__ = ("name", "tokens", "ttl_s", "cacheable", "write_tokens", "hits", "misses", "_book", "_key")

    def __init__(self, name: str, tokens: int, family: CacheFamily | None, model: str, ttl_s: float | None,
                 book: dict[tuple[str, str], float], cached: bool = True):
        self.name, self.tokens = name, tokens
        self.ttl_s = ttl_s if ttl_s is not None else (family.ttl_s if family is not None else 0.0)
        minimum = family.minimum(model) if family is not None else None
        self.cacheable = cached and minimum is not None and tokens >= minimum
        self.write_tokens = tokens if family is not None and family.bills_writes else 0
        self._book, self._key = book, (model, name)
        self.hits = self.misses = 0  # successful calls of this fleet model that read / wrote the entry

    def use(self, now: float) -> tuple[int, int]:
        """A successful call at virtual time ``now``: (cached_tokens, cache_write_tokens); refreshes the entry."""
        if not self.cacheable:
            return 0, 0
        last = self._book.get(self._key)
        if last is not None and now - last <= self.ttl_s:
            self._book[self._key] = max(last, now)
            self.hits += 1
            return self.tokens, 0
        self._book[self._key] = now
        self.misses += 1
        return 0, self.write_tokens


def bind_prefixes(scenario: Scenario, names: list[str] | tuple[str, ...],
                  book: dict[tuple[str, str], float]) -> dict[str, BoundPrefix]:
    """Fleet model -> its prefix, for the ``names`` a ``cache:`` prefix targets; entries live in ``book``
    (one per provider: the same deployment shares them across fleet names)."""
    out: dict[str, BoundPrefix] = {}
    if scenario.cache is None:
        return out
    for pname, prefix in scenario.cache.prefixes.items():
        for target in prefix.targets:
            if target in names:
                model = scenario.fleet[target].model
                out[target] = BoundPrefix(pname, prefix_tokens(prefix, model), family_for(model), model,
                                          prefix.ttl_s, book, prefix.cached)
    return out
