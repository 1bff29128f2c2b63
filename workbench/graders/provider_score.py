"""``provider_score``: take the score the provider attached to its answer.

For a simulated answer that is the simulator's own correctness draw; for a recorded one, the score
recorded with it (for example RouteLLM's correctness column). It lets a scenario without expected
answers still report quality, labelled with where the score came from by the run's mode.
"""

from __future__ import annotations

from workbench.graders.base import Grader, register

__all__ = ["ProviderScore"]


@register
class ProviderScore(Grader):
    """The provider's own verdict on its answer, if it gave one."""

    name = "provider_score"

    def score(self, req, text, provider_score):
        return provider_score
