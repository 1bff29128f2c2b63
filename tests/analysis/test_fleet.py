"""N-model routing yardsticks on a hand-made outcome matrix, figures worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.analysis.fleet import (aiq, dominant_model, fleet_metrics, mix_frontier, mix_quality, model_points,
                                      route_outcome, upper_hull)
from workbench.errors import InputError


def matrix() -> pd.DataFrame:
    """4 prompts x 3 models. a: cheap, right on p1 p2; b: mid, right on p1 p2 p3; c: dear, right on p3 p4."""
    rows = []
    right = {"a": {"p1", "p2"}, "b": {"p1", "p2", "p3"}, "c": {"p3", "p4"}}
    price = {"a": 1.0, "b": 2.0, "c": 10.0}
    for m in "abc":
        for p in ("p1", "p2", "p3", "p4"):
            rows.append({"prompt_key": p, "model": m, "score": float(p in right[m]), "cost_usd": price[m]})
    return pd.DataFrame(rows)


def test_model_points_and_the_fixed_mix_frontier():
    pts = model_points(matrix(), ["a", "b", "c"]).set_index("model")
    assert pts.loc["b", "quality"] == 0.75 and pts.loc["c", "cost_usd"] == 40.0
    front = mix_frontier(matrix(), ["a", "b", "c"])
    # c costs more than b and is no better: it is off the frontier (quality never falls with cost)
    assert front["model"].tolist() == ["a", "b"] and front["cost_usd"].tolist() == [4.0, 8.0]
    assert mix_quality(front, 6.0) == pytest.approx(0.625)  # half a, half b
    assert mix_quality(front, 40.0) == 0.75 and mix_quality(front, 3.0) != mix_quality(front, 3.0)  # NaN


def test_upper_hull_drops_points_under_a_chord():
    x, y = upper_hull([0, 1, 2, 3], [0, 0.2, 0.9, 1.0])
    assert x.tolist() == [0, 2, 3] and y.tolist() == [0, 0.9, 1.0]
    assert aiq([0, 2, 3], [0, 0.9, 1.0], 0, 2) == pytest.approx(0.45, abs=1e-3)


def test_route_outcome_and_the_oracle_bound():
    choice = pd.Series({"p1": "a", "p2": "a", "p3": "b", "p4": "c"})
    got = route_outcome(matrix(), ["a", "b", "c"], choice)
    assert got == {"quality": 1.0, "cost_usd": 14.0, "share": {"a": 0.5, "b": 0.25, "c": 0.25}}
    with pytest.raises(InputError, match="1 prompt"):
        route_outcome(matrix(), ["a", "b", "c"], choice.drop("p4"))
    curve = pd.DataFrame([{"cost_usd": 4.0, "quality": 0.5}, {"cost_usd": 6.0, "quality": 0.75},
                          {"cost_usd": 14.0, "quality": 1.0}])
    m = fleet_metrics(matrix(), ["a", "b", "c"], curve)
    assert m["oracle"]["quality"] == 1.0 and m["oracle"]["cost_usd"] == 14.0 and m["under_oracle"]
    # at $6 the router has 0.75 where the best mix has 0.625; its hull leads everywhere inside $4..$8
    assert m["margin_at_equal_cost"][1] == pytest.approx(0.125) and m["beats_every_mix"]
    assert m["aiq"] > m["mix_aiq"] and m["no_routing_needed"] is None


def test_dominant_model():
    m = matrix()
    assert dominant_model(m, ["a", "b", "c"]) is None  # b is better, a is cheaper
    assert dominant_model(m, ["b", "c"]) == "b"  # better and cheaper: no routing needed
    cheap_b = m.assign(cost_usd=m["cost_usd"].where(m["model"] != "b", 0.5))
    assert dominant_model(cheap_b, ["a", "b", "c"]) == "b"
