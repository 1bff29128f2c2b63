"""What one provider call cost, and where the money went: litellm's cost function over a token breakdown.

Why litellm's function and not ``tokens x price``: a real bill depends on more than the list price:
cached prompt tokens are read at a fraction of it (written at a premium on some providers), hidden
reasoning tokens are billed as output (at their own rate on a few models), flex, priority and batch
tiers have their own rates, and some models change every rate above 200k prompt tokens. litellm's
price map holds all of these figures and its cost function knows how they combine (a batch discount on
cache reads where the map gives one, a half-price fallback where it does not). Re-deriving that here
would rot; so every attempt's cost is ``litellm.cost_per_token`` (``call_type="retrieve_batch"`` for the
batch tier) over an OpenAI-shaped ``Usage`` (``prompt_tokens`` includes cached and written tokens,
``completion_tokens`` includes reasoning), and the parts come from litellm's own
``get_token_type_cost_breakdown`` (standard, flex, priority; the batch tier prices each part alone
with its batch calculator). The uncached input is the prompt cost minus the cache parts and the
visible output the completion cost minus reasoning, so the parts always sum to litellm's total.

Why memoised: litellm's function takes about 0.4 ms a call, and a replay prices 100,000 attempts in a
few seconds. A :class:`Pricer` keeps litellm's answers per (prompt, cached, written) and per
(completion, reasoning) token counts; the prompt's size is part of the completion key only when it
crosses one of the model's ``_above_N_tokens`` thresholds (below them litellm does not read it for
the completion's rates). For plain input and plain output below every threshold, where litellm's
function is ``float(tokens) * rate``, a pricer asks litellm for one token's price and checks on a dozen
token counts (up to the first threshold) that litellm's figure is exactly that product before it
multiplies instead of calling; a model whose figures are not (an uplift, a tiered price) is called
every time. Every cost is therefore litellm's figure for those tokens.

A scenario's ``price:`` replaces litellm's entry for the model: :func:`override_entry` turns it into a
litellm-shaped entry that goes through the same function (``requested_model_info_override``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # pragma: no cover
    from workbench.scenario import Price, Scenario

__all__ = ["TIERS", "Cost", "Pricer", "override_entry", "tier_price_key", "pricer_for", "ZERO"]

#: The service tiers a fleet model may run on (fleet model field ``tier:``).
TIERS = ("standard", "flex", "priority", "batch")
#: The input-price key of litellm's map that says a model has a price at a tier.
_TIER_KEYS = {"standard": "input_cost_per_token", "flex": "input_cost_per_token_flex",
              "priority": "input_cost_per_token_priority", "batch": "input_cost_per_token_batches"}
_ABOVE = re.compile(r"_above_(\d+)(k?)_tokens")
# Token counts on which litellm's function is checked to be exactly tokens x its price for one token
# (below the model's first threshold) before a pricer multiplies instead of calling it.
_PROBES = (2, 3, 7, 10, 97, 333, 1_000, 4_096, 12_345, 65_537, 199_999, 1_000_003)
_PROBE_LIMIT = 2_000_000


class Cost(NamedTuple):
    """One attempt's cost in USD by part (summing to ``total``), and the same tokens at the standard tier."""

    input: float
    cached_input: float
    cache_write: float
    output: float
    reasoning: float
    total: float
    standard: float


#: The cost of a call that used no tokens.
ZERO = Cost(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _litellm():
    import litellm

    import workbench  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm is imported)

    return litellm


def tier_price_key(tier: str) -> str:
    """The key of litellm's map whose presence means a model has a price at ``tier``."""
    return _TIER_KEYS[tier]


def override_entry(price: Price, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A litellm-shaped map entry from a scenario's ``price:`` (USD per million tokens).

    It replaces litellm's entry for the model; only ``litellm_provider`` and ``mode`` are kept from
    ``base`` so that litellm picks the same provider's cost rules."""
    entry: dict[str, Any] = {"litellm_provider": (base or {}).get("litellm_provider", "openai"),
                             "mode": (base or {}).get("mode", "chat")}
    suffixes = {"standard": "", "flex": "_flex", "priority": "_priority", "batch": "_batches"}
    for tier, suffix in suffixes.items():
        part = price if tier == "standard" else getattr(price, tier)
        if part is None:
            continue
        for field, key in (("input_per_mtok", "input_cost_per_token"), ("output_per_mtok", "output_cost_per_token"),
                           ("cache_read_per_mtok", "cache_read_input_token_cost"),
                           ("cache_write_per_mtok", "cache_creation_input_token_cost")):
            value = getattr(part, field, None)
            if value is not None:
                entry[key + suffix] = value / 1e6
    if price.cache_write_1h_per_mtok is not None:
        entry["cache_creation_input_token_cost_above_1hr"] = price.cache_write_1h_per_mtok / 1e6
    if price.reasoning_per_mtok is not None:
        entry["output_cost_per_reasoning_token"] = price.reasoning_per_mtok / 1e6
    return entry


def _usage(prompt: int, completion: int, cached: int = 0, written: int = 0, reasoning: int = 0,
           long_writes: bool = False):
    from litellm.types.utils import (
        CacheCreationTokenDetails,
        CompletionTokensDetailsWrapper,
        PromptTokensDetailsWrapper,
        Usage,
    )

    ttl = CacheCreationTokenDetails(ephemeral_1h_input_tokens=written) if long_writes and written else None
    pdet = PromptTokensDetailsWrapper(cached_tokens=cached, cache_creation_tokens=written,
                                      cache_creation_token_details=ttl) if cached or written else None
    cdet = CompletionTokensDetailsWrapper(reasoning_tokens=reasoning) if reasoning else None
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion,
                 prompt_tokens_details=pdet, completion_tokens_details=cdet)


class Pricer:
    """Prices one model's calls at one tier through litellm, memoised by token counts."""

    def __init__(self, model: str, tier: str = "standard", entry: Mapping[str, Any] | None = None,
                 long_writes: bool = False):
        self.model, self.tier = model, tier
        #: cache writes are for the 1-hour cache (Anthropic's ``ttl: 1h``): priced at litellm's
        #: ``cache_creation_input_token_cost_above_1hr``
        self.long_writes = long_writes
        #: the scenario's litellm-shaped entry, or None for litellm's own map
        self.entry = dict(entry) if entry is not None else None
        keys = self.entry if self.entry is not None else (_map_entry(model) or {})
        found = [int(m.group(1)) * (1000 if m.group(2) else 1) for k in keys if (m := _ABOVE.search(k))]
        #: prompt size from which the completion's rates may change (None: never)
        self.threshold: int | None = 0 if "tiered_pricing" in keys else (min(found) if found else None)
        self._prompt: dict[tuple[int, int, int], tuple[float, float, float, float]] = {}
        self._completion: dict[tuple[int, int, int], tuple[float, float]] = {}
        self.standard = self if tier == "standard" else Pricer(model, "standard", entry, long_writes)
        limit = _PROBE_LIMIT if self.threshold is None else self.threshold
        #: litellm's per-token price of plain input / output below every threshold when its function is
        #: exactly ``tokens x price`` there (checked on probes); None: every figure is a litellm call
        self.in_rate = self._linear(lambda n: self._cost(_usage(n, 0))[0], limit)
        self.out_rate = self._linear(lambda n: self._cost(_usage(0, n))[1], limit)

    @staticmethod
    def _linear(cost, limit: int) -> float | None:
        rate = cost(1)
        ok = all(cost(n) == n * rate for n in _PROBES if n < limit)
        return rate if ok else None

    def __call__(self, prompt: int, completion: int, cached: int = 0, written: int = 0, reasoning: int = 0) -> Cost:
        """The cost of one call with these tokens (``prompt`` includes ``cached`` and ``written``,
        ``completion`` includes ``reasoning``)."""
        t = self.threshold
        below = t is None or prompt < t
        if below and not cached and not written and self.in_rate is not None:
            p: tuple[float, float, float, float] = (prompt * self.in_rate, 0.0, 0.0, prompt * self.in_rate)
        else:
            pkey = (prompt, cached, written)
            p = self._prompt.get(pkey) or self._prompt.setdefault(pkey, self._price_prompt(*pkey))
        if below and not reasoning and self.out_rate is not None:
            c = (0.0, completion * self.out_rate)
        else:
            ckey = (0 if below else prompt, completion, reasoning)
            c = self._completion.get(ckey) or self._completion.setdefault(ckey, self._price_completion(*ckey))
        total = p[3] + c[1]
        std = total if self.standard is self else self.standard(prompt, completion, cached, written, reasoning).total
        return Cost(p[0], p[1], p[2], c[1] - c[0], c[0], total, std)

    # --- litellm ----------------------------------------------------------------------------
    def _cost(self, usage) -> tuple[float, float]:
        """litellm's (prompt, completion) cost of ``usage`` at this pricer's tier."""
        ll = _litellm()
        if self.tier == "batch":
            if self.entry is not None:
                from litellm.cost_calculator import batch_cost_calculator

                return batch_cost_calculator(usage=usage, model=self.model,
                                             custom_llm_provider=self.entry["litellm_provider"],
                                             model_info=self.entry)  # type: ignore[arg-type]  # a plain dict
            return ll.cost_per_token(model=self.model, usage_object=usage, call_type="retrieve_batch")
        tier = None if self.tier == "standard" else self.tier
        if self.entry is not None:
            return ll.cost_per_token(model=self.model, usage_object=usage, service_tier=tier,
                                     custom_llm_provider=self.entry["litellm_provider"],
                                     requested_model_info_override=self.entry)
        return ll.cost_per_token(model=self.model, usage_object=usage, service_tier=tier)

    def _breakdown(self, usage) -> tuple[float, float, float]:
        """litellm's (reasoning, cache read, cache write) cost of ``usage`` (standard, flex, priority)."""
        from litellm.litellm_core_utils.llm_cost_calc.utils import get_token_type_cost_breakdown

        provider = self.entry["litellm_provider"] if self.entry is not None else None
        b = get_token_type_cost_breakdown(model=self.model, custom_llm_provider=provider, usage=usage,
                                          service_tier=None if self.tier == "standard" else self.tier,
                                          model_info=self.entry)  # type: ignore[arg-type]  # a plain dict
        return b.reasoning_cost, b.cache_read_cost, b.cache_creation_cost

    def _price_prompt(self, prompt: int, cached: int, written: int) -> tuple[float, float, float, float]:
        """(uncached input, cache read, cache write, prompt total) of a prompt."""
        total = self._cost(_usage(prompt, 0, cached, written, long_writes=self.long_writes))[0]
        if not cached and not written:
            return total, 0.0, 0.0, total
        if self.tier == "batch":  # each cache part alone through the batch calculator
            read = self._cost(_usage(cached, 0, cached, 0))[0] if cached else 0.0
            write = self._cost(_usage(written, 0, 0, written, long_writes=self.long_writes))[0] if written else 0.0
        else:
            _, read, write = self._breakdown(_usage(prompt, 0, cached, written, long_writes=self.long_writes))
        return total - read - write, read, write, total

    def _price_completion(self, prompt: int, completion: int, reasoning: int) -> tuple[float, float]:
        """(reasoning, completion total) of an answer (``prompt`` only matters above a threshold)."""
        total = self._cost(_usage(prompt, completion, 0, 0, reasoning))[1]
        if not reasoning:
            return 0.0, total
        if self.tier == "batch":
            return self._cost(_usage(prompt, reasoning))[1], total
        return self._breakdown(_usage(prompt, completion, 0, 0, reasoning))[0], total


@cache
def _map_entry(model: str) -> dict[str, Any] | None:
    from workbench.catalog import map_entry

    return map_entry(model)


def pricer_for(scenario: Scenario, name: str) -> Pricer:
    """The pricer of fleet model ``name`` at its ``tier:`` (litellm's map or the scenario's ``price:``).

    Raises one :class:`~workbench.errors.ScenarioError` naming the field when litellm does not know the
    model, the model has no price at its tier, or ``reasoning_effort`` is set on a model litellm does
    not mark ``supports_reasoning``."""
    from workbench.catalog import map_entry, map_key
    from workbench.providers.base import unknown_price_error

    spec = scenario.fleet[name]
    base = map_entry(spec.model)
    tier = spec.tier
    if spec.price is not None:
        if tier != "standard" and getattr(spec.price, tier) is None:
            raise scenario.error_at(("fleet", name, "tier"),
                                    f"tier '{tier}' has no price: fleet.{name}.price gives none for it "
                                    f"(add fleet.{name}.price.{tier}.input_per_mtok and output_per_mtok)")
    else:
        if base is None or "input_cost_per_token" not in base:
            raise unknown_price_error(scenario, name)
        if tier_price_key(tier) not in base:
            raise scenario.error_at(("fleet", name, "tier"),
                                    f"litellm's price map has no {tier} price for '{spec.model}' (no "
                                    f"'{tier_price_key(tier)}'); use a tier it prices or give "
                                    f"fleet.{name}.price.{tier}")
    if spec.reasoning_effort is not None and not (base or {}).get("supports_reasoning"):
        raise scenario.error_at(("fleet", name, "reasoning_effort"),
                                f"'{spec.model}' is not a reasoning model (litellm's map does not mark it "
                                "supports_reasoning): remove reasoning_effort or pick a reasoning model")
    # A cache prefix kept longer than 5 minutes is Anthropic's 1-hour cache (workbench/caching.py): its
    # writes cost more (other families report no writes, so the flag changes nothing there).
    cache = scenario.cache
    long_writes = cache is not None and any(name in p.targets and (p.ttl_s or 0.0) > 300.0
                                            for p in cache.prefixes.values())
    return _shared(map_key(spec.model) or spec.model, tier, spec.price, long_writes)


@cache
def _shared(model: str, tier: str, price: Price | None, long_writes: bool = False) -> Pricer:
    """One pricer per (model, tier, price, write lifetime) for the process: its memo serves every run."""
    entry = None if price is None else override_entry(price, _map_entry(model))
    return Pricer(model, tier, entry, long_writes)
