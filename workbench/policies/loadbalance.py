"""``loadbalance``: spread one model group over its deployments, with litellm Router's strategies.

Why copy litellm's strategy names and meanings instead of inventing our own: an architect who tries a
design here should be able to deploy it as a ``litellm.Router(routing_strategy=...)`` and get what the
replay measured. So ``simple-shuffle`` draws by weight (uniform without weights), ``least-busy`` takes
the deployment with the fewest calls in flight, ``latency-based-routing`` the lowest moving-average
latency (a deployment never observed yet goes first, so each gets tried; ``latency_buffer`` draws among
those within ``(1 + buffer)`` x the lowest, like litellm's ``lowest_latency_buffer``), and
``cost-based-routing`` the lowest input + output price per token.

Two deliberate differences: every random choice is ``RouteContext.uniform`` (fixed per request under
the seed, so runs repeat), and ties of least-busy and cost-based are broken by that draw rather than by
list order, so an idle group (or a group of equal prices) is not loaded onto its first deployment.
Calls in flight and latencies come from :class:`~workbench.policies.base.FleetState`, kept by the
replay; without it (``workbench explain``) the live strategies fall back to the first deployment and
say so. Prices are looked up once, at build time, never per decision.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Annotated, Literal

from pydantic import Field

from workbench.catalog import model_info
from workbench.policies.base import Decision, Policy, PolicyParams, RouteContext, register

__all__ = ["LoadBalance"]
_SALT = 0x10ADBA1

Strategy = Literal["simple-shuffle", "least-busy", "latency-based-routing", "cost-based-routing"]


@register
class LoadBalance(Policy):
    """Choose one of ``deployments`` (fleet models of one model group) by a litellm Router strategy."""

    name = "loadbalance"

    params: Params  # the validated params: this class's own, not the base PolicyParams

    class Params(PolicyParams):
        """Deployments (fleet model names), the strategy, shuffle weights and latency buffer."""

        deployments: Annotated[list[str], Field(min_length=1)]
        strategy: Strategy = "simple-shuffle"
        weights: dict[str, Annotated[float, Field(gt=0)]] = {}
        latency_buffer: Annotated[float, Field(ge=0)] = 0.0

    def __init__(self, params, scenario):
        super().__init__(params, scenario)
        self._names = names = list(params.deployments)
        self._check(params, scenario)
        at = ("router", "params")
        if params.weights and params.strategy != "simple-shuffle":
            raise scenario.error_at((*at, "weights"), f"weights apply to simple-shuffle only "
                                    f"(strategy is {params.strategy})")
        if params.latency_buffer and params.strategy != "latency-based-routing":
            raise scenario.error_at((*at, "latency_buffer"), f"latency_buffer applies to "
                                    f"latency-based-routing only (strategy is {params.strategy})")
        self._decide = {"simple-shuffle": self._shuffle, "least-busy": self._least_busy,
                        "latency-based-routing": self._latency,
                        "cost-based-routing": self._cost}[params.strategy]
        weights = [params.weights.get(n, 1.0) for n in names]
        total = sum(weights)
        acc, self._cum = 0.0, []
        for w in weights:
            acc += w / total
            self._cum.append(acc)
        self._cum[-1] = 1.0  # no draw may fall past the end through rounding
        self._shares = [w / total for w in weights]
        self._others = [[j for j in range(len(names)) if j != i] for i in range(len(names))]
        if params.strategy == "cost-based-routing":
            self._prices = self._price_list(scenario)
            low = min(self._prices)
            self._cheapest = [i for i, p in enumerate(self._prices) if p == low]

    def _check(self, params, scenario) -> None:
        """Deployments are distinct fleet models; weight keys are deployments."""
        at = ("router", "params")
        for i, name in enumerate(params.deployments):
            if name in scenario.humans:
                raise scenario.error_at((*at, "deployments", i), f"'{name}' is a human node; deployments are "
                                        f"fleet models (fleet: {', '.join(scenario.fleet)})")
            if name not in scenario.fleet:
                raise scenario.error_at((*at, "deployments", i), f"unknown deployment '{name}' "
                                        f"(fleet: {', '.join(scenario.fleet)})")
            if name in params.deployments[:i]:
                raise scenario.error_at((*at, "deployments", i), f"'{name}' is listed twice")
        for name in params.weights:
            if name not in params.deployments:
                raise scenario.error_at((*at, "weights", name), f"'{name}' is not one of the deployments "
                                        f"({', '.join(params.deployments)})")

    def _price_list(self, scenario) -> list[float]:
        """Input + output USD per token of each deployment (litellm's map, or the scenario's price)."""
        prices = []
        for i, name in enumerate(self._names):
            spec = scenario.fleet[name]
            info = model_info(spec.model, spec.price, spec.context_window)
            if info is None:
                raise scenario.error_at(("router", "params", "deployments", i),
                                        f"no price for '{spec.model}' in litellm's map: set fleet.{name}.price")
            prices.append(info.input_per_token + info.output_per_token)
        return prices

    def referenced_targets(self) -> dict[tuple, str]:
        refs: dict[tuple, str] = {("deployments", i): d for i, d in enumerate(self.params.deployments)}
        refs.update({("weights", t): t for t in self.params.weights})
        return refs

    def decide(self, req, ctx: RouteContext) -> Decision:
        return self._decide(ctx)

    # --- strategies -----------------------------------------------------------------------------
    def _pick(self, ctx: RouteContext, tied: list[int]) -> int:
        return tied[0] if len(tied) == 1 else tied[int(ctx.uniform(_SALT) * len(tied))]

    def _no_fleet(self) -> Decision:
        first = self._names[0]
        return Decision(first, f"{self.params.strategy}: no live fleet state (not in a replay); "
                               f"first deployment {first}")

    def _shuffle(self, ctx: RouteContext) -> Decision:
        u = ctx.uniform(_SALT)
        i = bisect_right(self._cum, u)
        return Decision(self._names[i], f"simple-shuffle: draw {u:.3f} (share {self._shares[i]:.2f})", u)

    def _least_busy(self, ctx: RouteContext) -> Decision:
        if ctx.fleet is None:
            return self._no_fleet()
        names, busy = self._names, ctx.fleet.in_flight
        counts = [busy[n] for n in names]
        low = min(counts)
        i = self._pick(ctx, [j for j, c in enumerate(counts) if c == low])
        others = ", ".join(f"{names[j]} {counts[j]}" for j in self._others[i])
        return Decision(names[i], f"least-busy: {names[i]} has {low} in flight"
                                  + (f" (others: {others})" if others else ""), float(low))

    def _latency(self, ctx: RouteContext) -> Decision:
        if ctx.fleet is None:
            return self._no_fleet()
        names, ewma = self._names, ctx.fleet.latency_ewma
        seen = [ewma[n] for n in names]
        fresh = [j for j, lat in enumerate(seen) if lat is None]
        if fresh:
            i = self._pick(ctx, fresh)
            return Decision(names[i], f"latency-based-routing: {names[i]} not observed yet (tried first)")
        lats = [lat for lat in seen if lat is not None]  # all of them, in order: none is fresh
        low = min(lats)
        limit = low * (1.0 + self.params.latency_buffer)
        near = [j for j, lat in enumerate(lats) if lat <= limit]
        i = self._pick(ctx, near)
        others = ", ".join(f"{names[j]} {lats[j]:.2f} s" for j in self._others[i])
        why = f"latency-based-routing: {names[i]} averages {lats[i]:.2f} s"
        if others:
            why += f" (others: {others})"
        if len(near) > 1:
            why += f"; drawn among {len(near)} within {1.0 + self.params.latency_buffer:.2f}x the lowest"
        return Decision(names[i], why, lats[i])

    def _cost(self, ctx: RouteContext) -> Decision:
        i = self._pick(ctx, self._cheapest)
        names, prices = self._names, self._prices
        others = ", ".join(f"{names[j]} ${prices[j] * 1e6:.2f}" for j in self._others[i])
        return Decision(names[i], f"cost-based-routing: {names[i]} costs ${prices[i] * 1e6:.2f} per million "
                                  f"tokens in + out" + (f" (others: {others})" if others else ""), prices[i])
