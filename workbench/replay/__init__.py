"""Replay: play traffic through a routing design, one engine over a clock seam.

Why this shape: the engine (:mod:`workbench.replay.engine`) holds every decision a request meets
(route, retry, fall back, hand off, escalate, judge, write rows) and is handed the time; a clock
(:mod:`workbench.replay.clocks`) decides how time passes: :class:`VirtualClock`, a heap of events, for
simulated and recorded fleets (a day in seconds, exactly repeatable), or :class:`AsyncioClock`, the wall
clock, when a fleet model answers live. The live path is therefore a clock choice, not a second engine,
and :func:`replay` makes that choice explicitly from the provider's declared modes (or its ``clock``
argument). The engine receives its provider, policy, graders and sink as arguments (one seam per
layer): it does not know whether answers are simulated or recorded, nor where rows end up. The rows it
writes are the store's :class:`~workbench.store.rows.RequestRow` and :class:`~workbench.store.rows.AttemptRow`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from workbench.graders import Grader
from workbench.policies import Policy
from workbench.replay.clocks import FLUSH_INTERVAL_S, AsyncioClock, Clock, VirtualClock
from workbench.replay.engine import Engine
from workbench.replay.state import Fleet, Progress, ReplayStats, Sink
from workbench.scenario import Scenario
from workbench.traffic import Request

__all__ = ["replay", "clock_for", "ReplayStats", "Sink", "Progress", "Fleet", "Clock", "VirtualClock",
           "AsyncioClock", "Engine", "FLUSH_INTERVAL_S"]

ClockName = Literal["virtual", "wall"]


def clock_for(provider: Fleet) -> ClockName:
    """``wall`` when any fleet model's provider answers asynchronously (a live call takes real time), else
    ``virtual``: the provider contract declares it (:class:`workbench.providers.base.Provider`)."""
    return "wall" if provider.asynchronous else "virtual"


def replay(scenario: Scenario, requests: Sequence[Request], arrivals: Sequence[float], *, provider: Fleet,
           policy: Policy, graders: list[Grader], seed: int, run_id: str, sink: Sink,
           progress: Progress | None = None, flush_every: int = 5000,
           cancel: Callable[[], bool] | None = None, seqs: Sequence[int] | None = None,
           clock: ClockName | None = None) -> ReplayStats:
    """Replay ``requests`` arriving at ``arrivals`` (seconds, ascending) through ``scenario``.

    Rows go to ``sink`` in batches of ``flush_every`` finished requests, each request with all its
    attempts. ``cancel`` is polled now and then; a cancelled replay flushes what finished and stops.
    ``seqs`` are the requests' positions in the full run (a resumed run replays only some of them).
    ``clock`` is ``virtual`` or ``wall``; by default :func:`clock_for` the provider. A wall-clock run
    stopped by SIGTERM/SIGINT raises :class:`~workbench.errors.RunInterrupted` after writing its rows.
    """
    if len(requests) != len(arrivals):
        raise ValueError("one arrival time per request")
    seqs = range(len(requests)) if seqs is None else seqs
    name = clock_for(provider) if clock is None else clock
    if name not in ("virtual", "wall"):
        raise ValueError(f"clock must be 'virtual' or 'wall', not {name!r}")
    if name == "virtual" and provider.asynchronous:
        raise ValueError("the virtual clock cannot await a live model's calls: use clock='wall'")
    engine = Engine(scenario, provider, policy, graders, seed, run_id, sink, progress, flush_every, cancel,
                    len(requests), VirtualClock() if name == "virtual" else AsyncioClock())
    return engine.run(requests, arrivals, seqs)
