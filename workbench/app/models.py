"""The model catalog as the app shows it: litellm's models with prices and context windows.

Why cached and warmed in a thread: the catalog comes from :mod:`workbench.catalog`, which imports
litellm (several seconds); the page must not wait for it. :func:`warm` starts the load when the
server starts; until it is ready, pickers offer the models already in the scenarios and say so.
"""

from __future__ import annotations

import threading

import pandas as pd

from workbench.catalog import known_models, model_info

__all__ = ["catalog", "catalog_ready", "warm", "describe_model", "search_catalog", "CATALOG_COLUMNS"]

CATALOG_COLUMNS = ["model", "input $/M", "output $/M", "context window"]
_lock = threading.Lock()
_frame: pd.DataFrame | None = None


def catalog() -> pd.DataFrame:
    """Every chat model litellm prices: name, USD per million tokens in and out, context window."""
    global _frame
    with _lock:
        if _frame is None:
            rows = []
            for name in known_models():
                info = model_info(name)
                if info is not None:
                    rows.append((name, round(info.input_per_token * 1e6, 4), round(info.output_per_token * 1e6, 4),
                                 info.max_input_tokens))
            frame = pd.DataFrame(rows, columns=CATALOG_COLUMNS)
            frame["context window"] = frame["context window"].astype("Int64")
            _frame = frame
        return _frame


def catalog_ready() -> bool:
    """True once the catalog is loaded (pickers and price checks can use it without waiting)."""
    return _frame is not None


def warm() -> threading.Thread:
    """Load the catalog in a background thread."""
    t = threading.Thread(target=catalog, name="workbench-catalog", daemon=True)
    t.start()
    return t


def search_catalog(text: str, limit: int = 200) -> pd.DataFrame:
    """Catalog rows whose name contains ``text`` (any case), shortest names first."""
    frame = catalog()
    if text:
        frame = frame[frame["model"].str.contains(text, case=False, regex=False)]
    order = frame["model"].str.len().sort_values(kind="stable").index
    return frame.loc[order].head(limit).reset_index(drop=True)


def describe_model(model: str, price: dict | None = None, context_window: int | None = None) -> str:
    """One line about a fleet model: its price and window, and where the price comes from."""
    if price and {"input_per_mtok", "output_per_mtok"} <= set(price):
        shown = f", {context_window:,}-token window" if context_window else ""
        return (f"{model}: ${price['input_per_mtok']:g} in / ${price['output_per_mtok']:g} out per M tokens "
                f"(scenario's price){shown}")
    if not catalog_ready():
        return f"{model}: litellm's catalog is still loading"
    info = model_info(model)
    if info is None:
        return f"{model}: not in litellm's price map; give the model a price (price: input_per_mtok, output_per_mtok)"
    window = context_window or info.max_input_tokens
    return (f"{model}: ${info.input_per_token * 1e6:g} in / ${info.output_per_token * 1e6:g} out per M tokens"
            + (f", {window:,}-token window" if window else "") + " (litellm)")
