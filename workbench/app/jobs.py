"""Running scenarios off the UI thread: one background job with counters the page polls.

Why a thread and polling: a replay of thousands of requests takes seconds to minutes, and the page
must stay responsive and show progress. The job runs :func:`workbench.runner.prepare_many` and
:func:`workbench.runner.execute` (exactly what ``workbench compare`` runs) in a worker thread, which
only writes plain counters here; the view copies them into widgets from a periodic callback on the
session's own thread (Bokeh documents must not be touched from other threads). Nothing in this
module watches these parameters, so setting them from the worker is safe.

Every error a run can raise ends in ``state == "failed"`` with a one-line ``message``, never a
traceback in the page (the traceback goes to the server's log). Every view opens the trace store
through :func:`open_store`, so a database held by another process reads the same everywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import param

from workbench.errors import StoreLockedError, WorkbenchError
from workbench.runner import execute, prepare_many
from workbench.scenario import Scenario
from workbench.store import TraceStore

__all__ = ["RunJob", "JOB_STATES", "open_store"]

JOB_STATES = ["idle", "preparing", "running", "completed", "cancelled", "failed"]
_log = logging.getLogger(__name__)


@contextmanager
def open_store(db: str | Path) -> Iterator[TraceStore]:
    """The trace store ``db``, open for one operation; a database held by another process is one
    :class:`~workbench.errors.StoreLockedError` saying so in the app's words (no ``--db`` here)."""
    try:
        store = TraceStore(db)
    except StoreLockedError as exc:
        who = f", held by {exc.holder}" if exc.holder else ""
        raise StoreLockedError(f"the trace database is locked by another process ({exc.path}{who}): close it "
                               "and retry", path=exc.path, holder=exc.holder) from None
    with store:
        yield store


class RunJob(param.Parameterized):
    """One run of one or several scenarios over the same traffic and seed; counters for the page."""

    state: param.Selector = param.Selector(objects=JOB_STATES, default="idle")
    message = param.String(default="", doc="why the job failed, or what it did")
    notes = param.List(default=[], doc="the runner's notes (traffic or seed taken from the first scenario)")
    scenario = param.String(default="", doc="scenario being replayed")
    index = param.Integer(default=0, doc="its position (0-based) among the job's scenarios")
    count = param.Integer(default=0, doc="how many scenarios the job replays")
    done = param.Integer(default=0, doc="requests finished in the current scenario")
    total = param.Integer(default=0, doc="requests of the current scenario")
    failed = param.Integer(default=0, doc="failed requests so far in the current scenario")
    cost_usd = param.Number(default=0.0, doc="cost so far of the current scenario (its total once it is done)")
    spent_usd = param.Number(default=0.0, doc="cost of the job's scenarios already finished")
    run_ids = param.List(default=[], doc="run ids written, in order (the first is the baseline)")
    elapsed_s = param.Number(default=0.0)

    def __init__(self, **params):
        super().__init__(**params)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    @property
    def scenario_done(self) -> bool:
        """True when the current scenario has finished (its run id is in ``run_ids``)."""
        return len(self.run_ids) > self.index

    @property
    def total_usd(self) -> float:
        """The job's cost so far: the finished scenarios' and the current one's."""
        with self._lock:
            return self.spent_usd + (0.0 if self.scenario_done else self.cost_usd)

    @property
    def busy(self) -> bool:
        """True while the worker is preparing or replaying."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, scenarios: Sequence[Scenario | str | Path], db: str | Path, *, traffic: str | None = None,
              requests: int | None = None, seed: int | None = None) -> None:
        """Replay ``scenarios`` into ``db`` in a worker thread: the first one's traffic, sample and seed
        for all, unless ``traffic``, ``requests`` or ``seed`` override them (as in ``workbench compare``)."""
        if self.busy:
            raise WorkbenchError("a run is already in progress: wait for it or cancel it")
        if not scenarios:
            raise WorkbenchError("pick at least one scenario to run")
        self._cancel.clear()
        self.param.update(state="preparing", message="", notes=[], scenario="", index=0, count=len(scenarios),
                          done=0, total=0, failed=0, cost_usd=0.0, spent_usd=0.0, run_ids=[], elapsed_s=0.0)
        self._t0 = time.monotonic()
        options = {"traffic": traffic, "requests": requests, "seed": seed}
        self._thread = threading.Thread(target=self._work, args=(list(scenarios), Path(db), options),
                                        name="workbench-run", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the replay to stop; requests already finished stay recorded (the run is marked cancelled)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends; True if it did within ``timeout``."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.busy

    def _progress(self, done: int, total: int, cost: float, failed: int) -> None:
        self.done, self.total, self.cost_usd, self.failed = done, total, cost, failed
        self.elapsed_s = time.monotonic() - self._t0

    def _work(self, scenarios: list, db: Path, options: dict) -> None:
        try:
            prepared = prepare_many(scenarios, **options)
            self.notes = [n for p in prepared for n in p.notes]
            self.state = "running"
            with open_store(db) as store:
                for i, prep in enumerate(prepared):
                    if self._cancel.is_set():
                        break
                    self.param.update(index=i, scenario=prep.scenario.name, done=0, total=len(prep.requests),
                                      failed=0, cost_usd=0.0)
                    rid, stats = execute(prep, store, progress=self._progress, cancel=self._cancel.is_set)
                    # cost_usd keeps the finished scenario's own cost (shown beside its name); the total is
                    # spent_usd, which now includes it (see finished_scenario)
                    with self._lock:  # total_usd reads these three together
                        self.param.update(cost_usd=stats.cost_usd, spent_usd=self.spent_usd + stats.cost_usd,
                                          run_ids=[*self.run_ids, rid])
            self.state = "cancelled" if self._cancel.is_set() else "completed"
            self.message = (f"{len(self.run_ids)} of {len(prepared)} runs written to {db}"
                            + (" (cancelled: a cancelled run keeps the requests it finished)"
                               if self._cancel.is_set() else ""))
        except WorkbenchError as exc:
            self.param.update(state="failed", message=str(exc))
        except Exception as exc:  # noqa: BLE001  (the page shows one line; the log keeps the traceback)
            _log.exception("run failed")
            self.param.update(state="failed", message=f"unexpected error: {type(exc).__name__}: {exc}")
        finally:
            self.elapsed_s = time.monotonic() - self._t0
