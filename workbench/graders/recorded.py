"""``recorded_score``: the score stored with a recorded answer, under a name that says so.

It behaves exactly like ``provider_score``; it exists so a scenario over an outcome matrix (a live run
recorded, or a public set such as RouteLLM's) can say in its YAML where its quality figure comes from:
the matrix's ``score`` column, judged when the answers were recorded, not by this run.
"""

from __future__ import annotations

from workbench.graders.base import register
from workbench.graders.provider_score import ProviderScore

__all__ = ["RecordedScore"]


@register
class RecordedScore(ProviderScore):
    """The outcome matrix's score column for the recorded answer (None when it has none)."""

    name = "recorded_score"
