"""Model catalog: prices, context windows and token counts, all from litellm.

Why a thin wrapper and not our own tables: litellm maintains the price map and the tokenizers for
hundreds of models; copying them would rot. The wrapper adds only what a replay needs: lookups done
once per model (not per call), token counts cached per prompt (a replay of 100,000 requests drawn
from 300 tickets counts 300 prompts), a scenario's price override, and one clear error for a model
litellm does not know. litellm is imported lazily: ``import workbench`` stays fast, and the app layer
can list the catalog without touching litellm's call API.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

__all__ = ["ModelInfo", "model_info", "map_entry", "map_key", "count_tokens", "count_text_tokens", "known_models"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Price per token (USD) and context window of one model, with where the price came from."""

    model: str
    input_per_token: float
    output_per_token: float
    max_input_tokens: int | None
    price_source: str  # "litellm" or "scenario"


def _litellm():
    import litellm

    import workbench  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm is imported)

    return litellm


def _entry(model: str) -> dict[str, Any] | None:
    cost = _litellm().model_cost
    if model in cost:
        return cost[model]
    if "/" in model:
        return cost.get(model.split("/", 1)[1])
    return None


@cache
def _lookup(model: str) -> dict[str, Any] | None:
    return _entry(model)


def map_entry(model: str) -> dict[str, Any] | None:
    """litellm's price-map entry of ``model`` (``provider/name`` falls back to ``name``), or None."""
    return _lookup(model)


@cache
def map_key(model: str) -> str | None:
    """The key under which litellm's map holds ``model`` (what its cost function is given), or None."""
    cost = _litellm().model_cost
    if model in cost:
        return model
    if "/" in model and model.split("/", 1)[1] in cost:
        return model.split("/", 1)[1]
    return None


def model_info(model: str, price: Any = None, context_window: int | None = None) -> ModelInfo | None:
    """Prices and window for ``model``; ``price`` (a scenario ``Price``) overrides litellm's map.

    Returns None when litellm does not know the model and no price is given: the caller names the
    scenario field to fix.
    """
    entry = _lookup(model)
    window = context_window or (entry or {}).get("max_input_tokens")
    if price is not None:
        return ModelInfo(model, price.input_per_mtok / 1e6, price.output_per_mtok / 1e6, window, "scenario")
    if entry is None or "input_cost_per_token" not in entry:
        return None
    return ModelInfo(model, float(entry["input_cost_per_token"]),
                     float(entry.get("output_cost_per_token", 0.0)), window, "litellm")


_TOKENS: dict[tuple[str, str], int] = {}


def count_tokens(model: str, messages: list[dict[str, Any]], key: str) -> int:
    """Prompt tokens of ``messages`` for ``model`` by litellm's tokenizer, cached under ``key``."""
    k = (model, key)
    n = _TOKENS.get(k)
    if n is None:
        n = int(_litellm().token_counter(model=model, messages=messages))
        _TOKENS[k] = n
    return n


@lru_cache(maxsize=1 << 16)
def count_text_tokens(model: str, text: str) -> int:
    """Tokens of a bare ``text`` (an answer, say) for ``model`` by litellm's tokenizer, cached."""
    return int(_litellm().token_counter(model=model, text=text)) if text else 0


def known_models(mode: str = "chat") -> list[str]:
    """Every model in litellm's price map of the given mode (for pickers and error hints)."""
    return sorted(m for m, e in _litellm().model_cost.items()
                  if isinstance(e, dict) and e.get("mode") == mode)
