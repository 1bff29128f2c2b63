"""``recorded_score``: the outcome matrix's score under its own name, behaving as ``provider_score``."""

from __future__ import annotations

from workbench.graders.provider_score import ProviderScore
from workbench.graders.recorded import RecordedScore
from workbench.traffic import Request


def test_returns_the_recorded_score_as_is(make_graders):
    recorded, provider = make_graders("- type: recorded_score\n- type: provider_score")
    assert isinstance(recorded, RecordedScore) and isinstance(recorded, ProviderScore)
    assert (recorded.name, provider.name) == ("recorded_score", "provider_score")
    req = Request(id="r", prompt="q", expected="x")
    for score in [1.0, 0.0, 0.37, None]:
        assert recorded.score(req, "any text", score) == provider.score(req, "any text", score) == score
    assert "score column" in RecordedScore.__doc__
