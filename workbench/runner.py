"""Running scenarios: validate everything first, then replay and record.

Why two steps (:func:`prepare`, then :func:`execute`): bad input must stop a command before anything
is written. ``prepare`` loads the scenario, the traffic, the sample, the arrival times, the provider,
the policy and the graders, and raises the first problem it meets naming its file and line; only a
fully prepared run opens the trace database. ``compare`` prepares every scenario before running any,
so a typo in the third file does not leave two orphan runs behind.

The CLI, the app and the notebooks all run scenarios through this module.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import workbench
from workbench.errors import AllRequestsFailed, InputError, RunInterrupted, StoreError
from workbench.graders import Grader, build_graders
from workbench.policies import Policy, build_policy
from workbench.providers import FleetProvider, make_provider
from workbench.replay import Progress, ReplayStats, replay
from workbench.scenario import Scenario, TrafficSpec, load_scenario, parse_scenario
from workbench.seeds import check_seed
from workbench.store import RunInfo, TraceStore
from workbench.store.alerts import write_alerts
from workbench.store.base import check_run_id
from workbench.timeline import check_timelines
from workbench.traffic import Request, arrival_times, load_dataset_traffic, load_traffic, sample_requests

__all__ = ["Prepared", "prepare", "assemble", "prepare_many", "execute", "resume", "new_run_id", "method_notes",
           "replayed_requests", "all_failed"]


@dataclass
class Prepared:
    """A run that passed every check and can be executed."""

    scenario: Scenario
    traffic_spec: TrafficSpec
    traffic_path: Path
    traffic_hash: str
    seed: int
    requests: list[Request]
    arrivals: list[float]
    provider: FleetProvider
    policy: Policy
    graders: list[Grader]
    notes: list[str]


def prepare(scenario: Scenario | str | Path, *, traffic: str | Path | None = None,
            requests: int | None = None, seed: int | None = None,
            traffic_spec: TrafficSpec | None = None) -> Prepared:
    """Load and check one run. ``traffic``/``requests``/``seed`` override the scenario's own."""
    scn = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    spec = traffic_spec or scn.traffic
    if requests is not None:
        spec = spec.model_copy(update={"sample": requests})
    run_seed = scn.seed if seed is None else check_seed(seed)  # --seed: the scenario's is checked on load
    spec, path, loaded, ordered, times = _replayed(scn, spec, traffic, traffic_spec is not None, run_seed)
    resolved = spec if spec.dataset is not None else spec.model_copy(update={"source": str(path)})
    return assemble(scn, resolved, path, loaded.sha256, run_seed, ordered, times)


def assemble(scn: Scenario, traffic_spec: TrafficSpec, traffic_path: Path, traffic_hash: str, seed: int,
             requests: list[Request], arrivals: list[float]) -> Prepared:
    """A run of ``scn`` over requests already loaded and placed in time (a sweep's trials share them):
    its policy (fitted on those requests), graders and provider."""
    check_timelines(scn, requests, arrivals)  # a change past the traffic's end: stop before anything runs
    policy = build_policy(scn)
    policy.fit(requests)  # calibration (e.g. a threshold for a target share) sees the replayed requests
    graders = build_graders(scn)
    provider = make_provider(scn, requests, seed)
    return Prepared(scn, traffic_spec, traffic_path, traffic_hash, seed, requests, arrivals, provider, policy,
                    graders, [])


def _replayed(scn: Scenario, spec: TrafficSpec, traffic, spec_given: bool, seed: int):
    """The traffic a run replays: its spec (a file override drops the dataset), path, loaded file,
    the sampled requests in arrival order, and their arrival times."""
    if traffic is None and spec.dataset is not None:
        loaded = load_dataset_traffic(spec.dataset)
        path = loaded.path
    else:
        path = Path(spec.source) if spec_given and spec.source is not None else scn.traffic_path(traffic)
        loaded = load_traffic(path)
        if traffic is not None:
            spec = spec.model_copy(update={"dataset": None})
    sample = sample_requests(loaded.requests, spec.sample, seed, replace=spec.replace, source=path)
    ordered, times = arrival_times(sample, spec.arrival, seed, source=path)
    return spec, path, loaded, ordered, times


def replayed_requests(scenario: Scenario, seed: int | None = None) -> list[Request]:
    """The requests a run of ``scenario`` replays, in arrival order (no provider is built)."""
    seed = scenario.seed if seed is None else seed
    return _replayed(scenario, scenario.traffic, None, False, seed)[3]


def prepare_many(scenarios: Sequence[Scenario | str | Path], *, traffic: str | Path | None = None,
                 requests: int | None = None, seed: int | None = None) -> list[Prepared]:
    """Prepare several scenarios over the same traffic, sample and seed (the first scenario's,
    unless overridden), so that their results can be compared request by request."""
    scns = [s if isinstance(s, Scenario) else load_scenario(s) for s in scenarios]
    first = prepare(scns[0], traffic=traffic, requests=requests, seed=seed)
    out = [first]
    for scn in scns[1:]:
        p = prepare(scn, seed=first.seed, traffic_spec=first.traffic_spec)
        if scn.seed != first.seed and seed is None:
            p.notes.append(f"{scn.name}: replayed with seed {first.seed} (its own is {scn.seed}) "
                           "so that every scenario sees the same traffic")
        own = scn.traffic
        if (_source_id(scn, traffic) != _source_id(first.scenario, traffic)
                or own.arrival != first.traffic_spec.arrival
                or (requests is None and own.sample != first.traffic_spec.sample)):
            p.notes.append(f"{scn.name}: replayed over {first.scenario.name}'s traffic "
                           "(source, sample and arrival) so that the comparison is fair")
        out.append(p)
    return out


def _source_id(scn: Scenario, traffic: str | Path | None) -> str:
    """What a scenario's traffic comes from: a file's resolved path or a dataset's name."""
    if traffic is None and scn.traffic.dataset is not None:
        return f"dataset:{scn.traffic.dataset}"
    return str(scn.traffic_path(traffic).resolve())


def new_run_id(scenario_name: str) -> str:
    """A readable, unique run id: ``<scenario>-<UTC time>-<random>`` (the name cut to 100 characters,
    so the id stays within :data:`workbench.store.base.RUN_ID_PATTERN`)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{scenario_name[:100]}-{stamp}-{secrets.token_hex(3)}"


def execute(prep: Prepared, store: TraceStore, *, run_id: str | None = None,
            progress: Progress | None = None, cancel: Callable[[], bool] | None = None,
            flush_every: int = 5000) -> tuple[str, ReplayStats]:
    """Replay a prepared run into ``store``; returns the run id and the replay's counters.

    The run row is marked ``completed``, ``cancelled``, ``interrupted`` (a live run stopped by
    SIGTERM/SIGINT: :class:`RunInterrupted` is raised) or ``failed``; rows flushed before a failure
    stay in the store.
    """
    scn = prep.scenario
    rid = new_run_id(scn.name) if run_id is None else check_run_id(run_id)
    store.begin_run(RunInfo(
        run_id=rid, scenario=scn.name, scenario_yaml=scn.yaml_text, scenario_hash=scn.content_hash,
        scenario_path=str(scn.path.resolve()) if scn.path else None,
        traffic_path=str(prep.traffic_path.resolve()), traffic_hash=prep.traffic_hash,
        requests_planned=len(prep.requests), seed=prep.seed, mode=prep.provider.mode,
        model_modes=prep.provider.modes, workbench_version=workbench.__version__,
        traffic_spec=prep.traffic_spec.model_dump_json(exclude_none=True), notes=tuple(method_notes(prep)),
        audit=scn.audit))
    return rid, _replay_into(store, prep, rid, range(len(prep.requests)), progress, cancel, flush_every)


def method_notes(prep: Prepared) -> list[str]:
    """What a reader of the results must know about how they were made: the policy's caveats (an
    in-sample calibration, an upper-bound scorer, out-of-sample learned scores) and the providers'
    (answers recorded, imported or simulated on a miss), plus the runner's own notes."""
    notes = list(prep.policy.method_notes())
    for g in prep.graders:
        sha256 = getattr(g, "sha256", None)  # a grader reading a file (human labels): which file, which version
        if sha256:
            notes.append(f"grader {g.name}: {getattr(g, 'path', '?')} (SHA-256 {sha256[:12]})")
    for name, note in prep.provider.notes.items():
        notes.append(f"{name}: {note}")
    return notes + prep.notes


def _replay_into(store: TraceStore, prep: Prepared, rid: str, picked: Sequence[int], progress, cancel,
                 flush_every: int) -> ReplayStats:
    try:
        stats = replay(prep.scenario, [prep.requests[i] for i in picked], [prep.arrivals[i] for i in picked],
                       provider=prep.provider, policy=prep.policy, graders=prep.graders, seed=prep.seed,
                       run_id=rid, sink=store, progress=progress, cancel=cancel, flush_every=flush_every,
                       seqs=picked)
    except RunInterrupted as exc:  # a live run stopped by a signal: everything finished is written
        recorded = len(store.recorded_request_ids(rid))
        stopped = RunInterrupted(exc.signal_name, rid, recorded, len(prep.requests), str(store.path))
        store.finish_run(rid, "interrupted", str(stopped))
        raise stopped from None
    except BaseException as exc:
        try:
            store.finish_run(rid, "failed", f"{type(exc).__name__}: {exc}")
        except StoreError:  # the store itself failed (full disk): the first error is the one to show
            pass
        raise
    write_alerts(store.con, stats.alerts)
    store.finish_run(rid, "cancelled" if stats.cancelled else "completed")
    return stats


def resume(store: TraceStore, run_id: str, *, progress: Progress | None = None,
           cancel: Callable[[], bool] | None = None, flush_every: int = 5000) -> tuple[int, ReplayStats | None]:
    """Finish a run that stopped part way: replay only its requests not yet recorded.

    The scenario comes from the stored YAML, the traffic from the stored spec (whose file must be
    unchanged), the seed from the run; each request is therefore the same request at the same arrival
    time, and ends up recorded exactly once. What cannot be restored is the fleet's state at the
    stop (rate-limit windows, queues): the resumed part starts with a fresh fleet.
    Returns how many requests were left and the replay's counters (None if nothing was left).
    """
    info = store.run_info(run_id)
    if info["traffic_spec"] is None:
        raise InputError(f"run '{run_id}' was written by a version that did not store its traffic spec")
    if "'**********'" in info["scenario_yaml"]:
        raise InputError(f"run '{run_id}' had an api_key in its scenario, which is never stored: it cannot "
                         "be resumed (use api_key_env)")
    scn = parse_scenario(info["scenario_yaml"], source=info["scenario_path"])
    prep = prepare(scn, seed=info["seed"], traffic_spec=TrafficSpec.model_validate_json(info["traffic_spec"]))
    if prep.traffic_hash != info["traffic_hash"]:
        raise InputError(f"{prep.traffic_path} changed since run '{run_id}' (SHA-256 differs): resuming would "
                         "replay other requests")
    done = store.recorded_request_ids(run_id)
    picked = [i for i, r in enumerate(prep.requests) if r.id not in done]
    if not picked:
        store.finish_run(run_id, "completed", info["note"])
        return 0, None
    store.reopen_run(run_id)
    return len(picked), _replay_into(store, prep, run_id, picked, progress, cancel, flush_every)


#: What to check first when every request failed with one kind of error.
_HINTS = {"not_found": "check the model name (and api_base)", "auth": "check the key (api_key_env)",
          "bad_request": "check the model's request parameters", "rate_limit": "the rate limits leave no room",
          "server_error": "the provider fails or cannot be reached", "timeout": "the provider does not answer "
          "within timeout_s", "context_window": "the prompts exceed the model's window",
          "content_policy": "the provider refuses the content", "circuit_open": "every circuit breaker is open"}


def all_failed(summary: dict, scenario_yaml: str) -> AllRequestsFailed | None:
    """Why a run answered nothing, as one line (None when it answered some request or had none).

    Built from the summary's ``failures`` (last error of each failed request) and the scenario's
    ``api_base`` per fleet model, e.g. ``all 40 requests failed: 40 not_found from openai/gpt-4o-mini
    at http://127.0.0.1:8011/v1 — check the model name (and api_base)``.
    """
    n = summary["requests"]
    if not n or summary["failed"] != n:
        return None
    from workbench.providers.live import expand_env

    fleet = parse_scenario(scenario_yaml).fleet
    causes = []
    for f in summary["failures"]:
        base = fleet[f["target"]].api_base if f["target"] in fleet else None
        where = f" at {expand_env(base)}" if base else ""
        causes.append(f"{f['requests']:,} {f['error_kind']} from {f['model'] or f['target']}{where}")
    kinds = {f["error_kind"] for f in summary["failures"]}
    hint = _HINTS.get(kinds.pop(), "") if len(kinds) == 1 else ""
    return AllRequestsFailed(f"all {n:,} requests of run {summary['run_id']} failed: {', '.join(causes)}"
                             + (f" — {hint}" if hint else "") + " (messages: attempts.error_message)")

