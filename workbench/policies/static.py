"""``static``: every request to one target. The baseline every other design is compared against."""

from __future__ import annotations

from workbench.policies.base import Decision, Policy, PolicyParams, RouteContext, register

__all__ = ["Static"]


@register
class Static(Policy):
    """Send every request to ``target``."""

    name = "static"

    params: Params  # the validated params: this class's own, not the base PolicyParams

    class Params(PolicyParams):
        """``target``: a fleet model or human node."""

        target: str

    def referenced_targets(self) -> dict[tuple, str]:
        return {("target",): self.params.target}

    def decide(self, req, ctx: RouteContext) -> Decision:
        return Decision(self.params.target, "static route")
