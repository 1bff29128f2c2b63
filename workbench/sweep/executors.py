"""Where a sweep's trials compute: in this process, a local process pool, or a Ray cluster.

Why every executor runs the same function (:func:`run_trial`) and the parent writes every row: a
trial replays into a private in-memory store and returns its run's tables as Parquet bytes
(:mod:`workbench.store.sweeps`); the parent inserts them into the trace file in trial order. The
rows a trial produces therefore do not depend on where it ran, and DuckDB's one-writer rule holds.

What is shipped once per worker (:class:`Shared`): the requests in arrival order and their arrival
times, loaded and sampled by the parent, so a worker never re-reads the traffic, and a Ray node needs
no copy of the traffic file. What a trial needs besides: its scenario YAML and run id.

Process pools start their workers from a ``forkserver``: a clean interpreter (no inherited DuckDB
threads, unlike ``fork``) that imports the workbench and litellm once, then forks each worker
already loaded, for this sweep and every later one in the same process. As with ``spawn``, a script
that runs a sweep with the pool must guard its entry point (``if __name__ == "__main__":``). On Ray,
one actor per CPU holds the shared data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import cast

__all__ = ["Shared", "TrialTask", "TrialOutput", "run_trial", "make_executor", "SerialExecutor",
           "PoolExecutor", "RayExecutor", "EXECUTORS"]

EXECUTORS = ("process", "serial", "ray")


@dataclass(frozen=True)
class Shared:
    """What every trial of a sweep replays: the same traffic, in the same order, with the same seed."""

    traffic_spec: str  # JSON of the resolved TrafficSpec
    traffic_path: str
    traffic_hash: str
    seed: int
    requests: list
    arrivals: list


@dataclass(frozen=True)
class TrialTask:
    """One design to replay: its scenario YAML (relative paths resolve against ``source``) and run id."""

    run_id: str
    yaml: str
    source: str | None


@dataclass(frozen=True)
class TrialOutput:
    """A replayed trial: its run's rows, per table, as Parquet bytes, and its :func:`run_summary`
    (computed in the worker over the same rows, so the parent's search need not query for it)."""

    run_id: str
    tables: dict
    summary: dict


def run_trial(shared: Shared, task: TrialTask) -> TrialOutput:
    """Replay one trial into an in-memory store and export its run (the same in every executor)."""
    from workbench.analysis.summary import run_summary
    from workbench.runner import assemble, execute
    from workbench.scenario import TrafficSpec, parse_scenario
    from workbench.store import TraceStore
    from workbench.store.sweeps import export_run_tables

    scn = parse_scenario(task.yaml, source=task.source)
    prep = assemble(scn, TrafficSpec.model_validate_json(shared.traffic_spec), Path(shared.traffic_path),
                    shared.traffic_hash, shared.seed, shared.requests, shared.arrivals)
    with TraceStore(":memory:") as mem:
        execute(prep, mem, run_id=task.run_id, flush_every=len(shared.requests) + 1)
        return TrialOutput(task.run_id, export_run_tables(mem, task.run_id), run_summary(mem.con, task.run_id))


class SerialExecutor:
    """Trials one after the other in this process."""

    name = "serial"
    workers = 1

    def __init__(self, shared: Shared):
        self.shared = shared

    def map(self, tasks: Iterable[TrialTask]) -> Iterator[TrialOutput]:
        """Outputs in task order."""
        for task in tasks:
            yield run_trial(self.shared, task)

    def close(self) -> None:
        """Nothing to release."""


_WORKER_SHARED: Shared | None = None


def _init_worker(shared: Shared) -> None:
    global _WORKER_SHARED
    _WORKER_SHARED = shared


def _pool_trial(task: TrialTask) -> TrialOutput:
    assert _WORKER_SHARED is not None  # set by _init_worker, the pool's initializer, in every worker
    return run_trial(_WORKER_SHARED, task)


#: Imported once by the fork server, so that each worker starts with them loaded (litellm alone takes
#: seconds to import).
_PRELOAD = ["workbench.sweep.executors", "workbench.runner", "workbench.providers", "workbench.store", "litellm"]


def _context():
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


class PoolExecutor:
    """A local pool of ``workers`` processes (default: one per CPU)."""

    name = "process"

    def __init__(self, shared: Shared, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_context(),
                                         initializer=_init_worker, initargs=(shared,))

    def map(self, tasks: Iterable[TrialTask]) -> Iterator[TrialOutput]:
        """Outputs in task order, computed in parallel."""
        return self._pool.map(_pool_trial, list(tasks))

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class _RayWorker:
    """A Ray actor's state: the shared traffic, received once."""

    def __init__(self, shared: Shared):
        import workbench  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm is imported)

        self.shared = shared

    def run(self, task: TrialTask) -> TrialOutput:
        """One trial (see :func:`run_trial`)."""
        return run_trial(self.shared, task)


class RayExecutor:
    """One actor per CPU of a Ray cluster: the one already connected, ``address`` (``auto``,
    ``ray://HOST:10001``), or a local instance started here (and stopped by :meth:`close`)."""

    name = "ray"

    def __init__(self, shared: Shared, workers: int | None = None, address: str | None = None):
        import ray
        from ray.actor import ActorHandle
        from ray.util import ActorPool

        self._ray, self._owned = ray, False
        if not ray.is_initialized():
            if address is None:  # a local instance: no usage report, no dashboard
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(include_dashboard=False, num_cpus=workers, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
            self._owned = True
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        ref = ray.put(shared)
        actor = ray.remote(num_cpus=1)(_RayWorker)
        # ray types ActorClass.remote as "a handle or the class"; at run time it is always a handle
        self._actors = [cast(ActorHandle, actor.remote(ref)) for _ in range(self.workers)]
        self._pool = ActorPool(self._actors)

    def map(self, tasks: Iterable[TrialTask]) -> Iterator[TrialOutput]:
        """Outputs in task order, computed by the actors."""
        return self._pool.map(lambda actor, task: actor.run.remote(task), list(tasks))

    def close(self) -> None:
        """Release the actors; stop the Ray instance if this executor started it."""
        for a in self._actors:
            self._ray.kill(a)
        self._actors = []
        if self._owned:
            self._ray.shutdown()


def make_executor(kind: str, shared: Shared, workers: int | None = None, address: str | None = None):
    """``serial``, ``process`` (default) or ``ray``."""
    if kind == "serial":
        return SerialExecutor(shared)
    if kind == "process":
        return PoolExecutor(shared, workers)
    if kind == "ray":
        return RayExecutor(shared, workers, address)
    raise ValueError(f"unknown executor '{kind}' ({', '.join(EXECUTORS)})")
