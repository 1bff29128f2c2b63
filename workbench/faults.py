"""Test-only fault hooks: stop a run at an exact point, so kill-and-resume tests are exact, not races.

Why in the product and not in the tests: the point that matters (right after the k-th batch of rows is
committed, or the n-th request finished) is inside the replay engine of a separate ``workbench``
process. A test that watched progress output and then killed would race the engine, and had to replay
hundreds of thousands of requests to win; with the hook the kill lands at one exact, repeatable point
whatever the machine's speed, so the tests are small and fast.

The environment is read once per run (on either clock, virtual or wall):
``WORKBENCH_TEST_STOP_AFTER_FLUSHES=k`` or ``WORKBENCH_TEST_STOP_AFTER_REQUESTS=n`` sends the process
``WORKBENCH_TEST_STOP_SIGNAL`` (SIGTERM by default; SIGKILL, SIGINT) right after its k-th flush (the
rows are committed) or its n-th finished request, and first prints one ``workbench-test:`` line on
stderr with the requests written and pending at that instant. Unset, nothing happens.
``WORKBENCH_TEST_FLUSH_EVERY=n`` writes rows in batches of ``n`` finished requests instead of the run's
own batch size, so "after the k-th flush" lands after ``k * n`` requests: a kill test needs a few hundred
requests, not tens of thousands.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["StopHook", "flush_every_from_env"]


class StopHook:
    """Signal this process once a counter (``flushes`` or ``requests``) reaches ``at``."""

    def __init__(self, after: str, at: int, sig: signal.Signals):
        self.after, self.at, self.sig = after, at, sig

    @classmethod
    def from_env(cls) -> StopHook | None:
        """The hook the environment asks for, or None (the normal case)."""
        for after in ("flushes", "requests"):
            value = os.environ.get(f"WORKBENCH_TEST_STOP_AFTER_{after.upper()}")
            if value:
                name = os.environ.get("WORKBENCH_TEST_STOP_SIGNAL", "SIGTERM")
                return cls(after, int(value), signal.Signals[name])
        return None

    def reached(self, count: int, written: int, pending: int, request_id: str | None = None) -> None:
        """Called with the counter's new value; at ``at``, say so on stderr and send the signal."""
        if count != self.at:
            return
        which = f" (request {request_id})" if request_id is not None else ""
        print(f"workbench-test: {self.after}={count}{which}: {written} requests written, "
              f"{pending} pending; sending {self.sig.name}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), self.sig)


def flush_every_from_env(flush_every: int) -> int:
    """The batch size a test asks for (``WORKBENCH_TEST_FLUSH_EVERY``), else ``flush_every``."""
    value = os.environ.get("WORKBENCH_TEST_FLUSH_EVERY")
    return int(value) if value else flush_every
