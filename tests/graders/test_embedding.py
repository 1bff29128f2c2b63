"""``embedding``: the offline hashing similarity on real sentences; sentence-transformers' error paths."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from workbench.errors import InputError, ScenarioError
from workbench.traffic import Request

EXPECTED = "We refunded the duplicate charge to your card; it will appear in 3-5 business days."
ANSWERS = {
    "paraphrase": ("The duplicate charge was refunded to your card and should appear within 3 to 5 "
                   "business days.", 0.785),
    "loose paraphrase": ("Your refund for the double charge is on its way to the card, allow 3-5 business "
                         "days.", 0.588),
    "unrelated (network)": ("We have escalated your outage report to the network team.", 0.184),
    "unrelated (login)": ("Please restart your router and try to log in again.", 0.128),
}
REQ = Request(id="r", prompt="Why was I charged twice?", expected=EXPECTED)


def test_paraphrases_score_higher_than_unrelated_answers(make_graders):
    (grader,) = make_graders("- type: embedding")
    scores = {k: grader.score(REQ, text, None) for k, (text, _) in ANSWERS.items()}
    print("\n" + "\n".join(f"  {k}: {s:.3f}" for k, s in scores.items()))
    for k, (_, measured) in ANSWERS.items():
        assert scores[k] == pytest.approx(measured, abs=0.001), k
    assert min(scores["paraphrase"], scores["loose paraphrase"]) > 3 * max(
        scores["unrelated (network)"], scores["unrelated (login)"])
    assert grader.score(REQ, EXPECTED, None) == pytest.approx(1.0)
    assert grader.score(REQ, "", None) == 0.0  # no character n-gram in common with anything
    assert grader.score(REQ, None, None) is None
    assert grader.score(Request(id="r", prompt="q"), "text", None) is None


def test_threshold_gives_a_verdict(make_graders):
    (grader,) = make_graders("- {type: embedding, params: {threshold: 0.5}}")
    assert [grader.score(REQ, text, None) for text, _ in ANSWERS.values()] == [1.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("params, field, message", [
    ("{backend: sentence-transformers}", "model", "needs model"),
    ("{model: all-MiniLM-L6-v2}", "model", "applies to backend 'sentence-transformers' only"),
    ("{threshold: 1.5}", "threshold", "less than or equal to 1"),
    ("{backend: openai}", "backend", "'hashing' or 'sentence-transformers'"),
])
def test_bad_params(make_graders, params, field, message):
    with pytest.raises(ScenarioError) as info:
        make_graders(f"- type: embedding\n  params: {params}\n")
    assert info.value.field == f"graders[0].params.{field}" and info.value.line == 9, str(info.value)
    assert message in str(info.value)


def test_sentence_transformers_not_installed_is_a_clear_input_error(make_graders, monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # importing it now raises ImportError
    with pytest.raises(InputError) as info:
        make_graders("- {type: embedding, params: {backend: sentence-transformers, model: all-MiniLM-L6-v2}}")
    assert info.value.field == "graders[0].params.backend" and info.value.line == 8, str(info.value)
    assert "needs the sentence-transformers package, which is not installed" in str(info.value)


class _FakeModel:
    """Stands in for a loaded model: fixed vectors, so the wiring is tested without any download."""

    VECTORS = {"a": [3.0, 4.0], "b": [4.0, 3.0], "c": [-1.0, 0.0]}

    def __init__(self, name: str):
        if name != "fake-model":
            raise OSError(f"{name} is not a local folder and no network")

    def encode(self, texts, normalize_embeddings):
        rows = np.array([self.VECTORS[t] for t in texts])
        return rows / np.linalg.norm(rows, axis=1, keepdims=True) if normalize_embeddings else rows


def test_sentence_transformers_backend_with_a_stand_in_module(make_graders, monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers",
                        types.SimpleNamespace(SentenceTransformer=_FakeModel))
    (grader,) = make_graders("- {type: embedding, params: {backend: sentence-transformers, model: fake-model}}")
    assert grader.score(Request(id="r", prompt="q", expected="b"), "a", None) == pytest.approx(0.96)
    assert grader.score(Request(id="r", prompt="q", expected="a"), "c", None) == 0.0  # -0.6, clipped
    with pytest.raises(ScenarioError) as info:
        make_graders("- {type: embedding, params: {backend: sentence-transformers, model: other}}")
    assert info.value.field == "graders[0].params.model"
    assert "cannot load model 'other': other is not a local folder" in str(info.value)
