"""What a monitor's alarm may do to a running replay: pin a version, take a target out, switch its traffic.

Why a mixin of the engine and not part of it: these are the engine's side of
:class:`workbench.monitors.watch.Actuator`, used only by runs that have monitors; keeping them here
keeps the engine's own module about a request's life. The state they change (``removed``,
``redirect``) is declared in the engine's ``__slots__`` and read on its hot path only when non-empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import ErrorKind

if TYPE_CHECKING:  # pragma: no cover
    from workbench.policies import FleetState
    from workbench.replay.state import Fleet, RequestState
    from workbench.scenario import FallbackRule

__all__ = ["MonitorActions"]


class MonitorActions:
    """The engine's actions on a monitor's alarm (mixed into :class:`~workbench.replay.engine.Engine`)."""

    __slots__ = ()

    if TYPE_CHECKING:  # what the engine provides (its slots and methods)
        provider: Fleet
        models: dict[str, str]
        fleet: FleetState
        fallbacks: dict[str, list[FallbackRule]]
        removed: set[str]
        redirect: dict[str, str]

        def switch(self, st: RequestState, target: str) -> None: ...
        def attempt(self, st: RequestState, now: float) -> None: ...
        def finish(self, st: RequestState, now: float, status: str) -> None: ...

    def bypass(self, st: RequestState, now: float) -> None:
        """``st.target`` was taken out of routing by a monitor: its next open fallback, whatever the
        rule's error kinds (no call failed), else the request fails as ``circuit_open``."""
        st.skips += 1
        for idx, rule in enumerate(st.chain):
            if rule.to not in st.visited:
                del st.chain[idx]
                st.visited.add(rule.to)
                st.chain.extend(r for r in self.fallbacks.get(rule.to, ()) if r.to not in st.visited)
                self.switch(st, rule.to)
                self.attempt(st, now)
                return
        st.last_error = ErrorKind.CIRCUIT_OPEN
        self.finish(st, now, "failed")

    def pin_previous(self, target: str, now: float) -> str | None:
        """Pin ``target``'s model to its previous timeline version."""
        pin = getattr(self.provider, "pin_previous", None)
        return pin(target, now) if pin is not None and target in self.models else None

    def remove(self, target: str) -> None:
        """Take ``target`` out of routing (policies see it in ``FleetState.unavailable``)."""
        self.removed.add(target)
        self.fleet.unavailable.add(target)

    def switch_fallback(self, target: str, to: str) -> None:
        """Route ``target``'s traffic to ``to`` from now on."""
        self.redirect[target] = to
