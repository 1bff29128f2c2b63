"""``weighted``: split traffic at random in fixed shares (an A/B split, or a blind cost cut).

The draw is fixed per request under the seed (``RouteContext.uniform``), so two weighted scenarios with
the same seed send the same request the same way whenever their shares allow it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from workbench.policies.base import Decision, Policy, PolicyParams, RouteContext, register

__all__ = ["Weighted"]
_SALT = 0x5EED


@register
class Weighted(Policy):
    """Send each request to a target drawn with probability proportional to its weight."""

    name = "weighted"

    params: Params  # the validated params: this class's own, not the base PolicyParams

    class Params(PolicyParams):
        """``weights``: target -> positive weight (shares need not add up to 1)."""

        weights: Annotated[dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]], Field(min_length=1)]

    def __init__(self, params, scenario):
        super().__init__(params, scenario)
        total = sum(params.weights.values())
        acc, self._cum = 0.0, []
        for target, w in params.weights.items():
            acc += w / total
            self._cum.append((acc, target, w / total))

    def referenced_targets(self) -> dict[tuple, str]:
        return {("weights", t): t for t in self.params.weights}

    def decide(self, req, ctx: RouteContext) -> Decision:
        u = ctx.uniform(_SALT)
        # the first cumulative share above the draw (the last one if rounding leaves the draw above all)
        _, target, share = next((c for c in self._cum if u < c[0]), self._cum[-1])
        return Decision(target, f"weighted draw {u:.3f} (share {share:.2f})", u)
