"""The model picker's catalog: litellm's prices and windows, searched shortest name first."""

from __future__ import annotations

from workbench.app import models


def test_catalog_prices_and_windows_are_litellms():
    models.warm().join(60)
    assert models.catalog_ready()
    frame = models.catalog().set_index("model")
    assert len(frame) > 1000
    assert tuple(frame.loc["gpt-4o"]) == (2.5, 10.0, 128000)  # USD per million tokens in, out; window
    assert tuple(frame.loc["gpt-4o-mini"]) == (0.15, 0.6, 128000)
    found = models.search_catalog("GPT-4O-MINI", limit=5)
    assert found["model"].iloc[0] == "gpt-4o-mini" and len(found) == 5
    assert found["model"].str.len().is_monotonic_increasing


def test_describe_model():
    models.catalog()
    assert models.describe_model("gpt-4o") == ("gpt-4o: $2.5 in / $10 out per M tokens, 128,000-token window "
                                               "(litellm)")
    assert models.describe_model("gpt-4o", context_window=64000).endswith("64,000-token window (litellm)")
    own = models.describe_model("my-local", {"input_per_mtok": 0, "output_per_mtok": 0}, 8192)
    assert own == "my-local: $0 in / $0 out per M tokens (scenario's price), 8,192-token window"
    assert "not in litellm's price map; give the model a price" in models.describe_model("no-such-model-x")
