"""Circuit breakers: a collaborator of the replay engine with its own, declared state.

Why a separate object: a breaker is a small state machine (failures per target in a sliding window; an
open circuit until a cooldown ends) that the engine only asks two things: "is this target open now, and
because of which error?" and "this call failed". Keeping its state here keeps the engine's event code
free of window arithmetic, and lets the breaker be read and tested on its own.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

from workbench.errors import ErrorKind
from workbench.scenario import CircuitBreaker as BreakerSpec

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    """Per-target circuit breakers: more than ``allowed_fails`` failures within ``window_s`` opens the
    circuit for ``cooldown_s``; ``kind`` remembers the failure that opened it, for fallback choice."""

    __slots__ = ("allowed", "window", "cooldown", "errors", "fails", "open_until", "kind")

    def __init__(self, spec: BreakerSpec, targets: Iterable[str]):
        self.allowed: int = spec.allowed_fails
        self.window: float = spec.window_s
        self.cooldown: float = spec.cooldown_s
        self.errors = frozenset(spec.errors)
        self.fails: dict[str, deque[float]] = {t: deque() for t in targets}
        self.open_until: dict[str, float] = dict.fromkeys(self.fails, -math.inf)
        self.kind: dict[str, ErrorKind] = {}

    def is_open(self, target: str, now: float) -> bool:
        """True while ``target``'s circuit is open at ``now``."""
        return self.open_until[target] > now

    def failed(self, target: str, kind: ErrorKind, now: float) -> None:
        """Count a failed call to ``target``; open its circuit when the window holds too many."""
        if kind not in self.errors:
            return
        q = self.fails[target]
        q.append(now)
        while q and q[0] <= now - self.window:
            q.popleft()
        if len(q) > self.allowed:
            self.open_until[target], self.kind[target] = now + self.cooldown, kind
            q.clear()
