"""A routing scenario: the typed, validated form of one design an architect wants to try.

Why pydantic with ``extra="forbid"``: a misspelt key (``fallback:`` for ``fallbacks:``) must stop the
run with an error rather than silently change the design being measured. Why our own YAML line map:
pydantic knows the *field* that is wrong, YAML knows the *line*; the user needs both, in one message,
and nothing may run or be written before the whole file is known to be good.

Cross-references (a fallback naming a model that is not in the fleet, a provider kind that is not
registered, a policy's own params) are checked after the structure, with the same file/line/field
error. Policy params are validated by the
policy registry (``workbench.policies``), which calls :meth:`Scenario.error_at` so its errors name the
line too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StrictBool,
    ValidationError,
    model_validator,
)

from workbench.batch_schema import BatchSpec, check_batch
from workbench.caching import CacheSpec, check_cache
from workbench.errors import CONFIG_ERRORS, RETRYABLE_DEFAULT, ErrorKind, ScenarioError
from workbench.monitors.spec import MonitorSpec, check_monitors
from workbench.registry import MIXED, provider_kind, unknown_provider_message
from workbench.seeds import SEED_MAX
from workbench.steps import RouteSteps, StepSpec, check_steps
from workbench.timeline import TimelineEntry
from workbench.yamlio import _dotted, _line_for, dump_yaml, field_error, read_text, read_yaml

__all__ = [
    "Price", "TierPrice", "Limits", "Outage", "SimProfile", "ModelSpec", "HumanSpec", "RouterSpec", "FallbackRule",
    "RetrySpec", "Timeouts", "CircuitBreaker", "Budget", "GraderSpec", "PoissonArrival", "RecordedArrival",
    "BurstArrival", "Burst", "TrafficSpec", "RecordedSpec", "MIN_RATE_PER_S", "read_yaml", "field_error", "Scenario",
    "load_scenario", "parse_scenario",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
#: The lowest arrival rate (one request in about 11.6 days): slower ones put arrivals at times no
#: replay reaches (``rate_per_s: 1e-300`` gives arrival times of about 1e300 s, or infinity).
MIN_RATE_PER_S = 1e-6


def _sane_rate(value: float) -> float:
    if not value >= MIN_RATE_PER_S:
        raise ValueError(f"must be at least {MIN_RATE_PER_S:g} a second (one request in about 11.6 days), got "
                         f"{value:g}: a slower rate puts arrivals at times no replay reaches")
    return value


Rate = Annotated[float, AfterValidator(_sane_rate)]
Effort = Literal["low", "medium", "high"]


class _Model(BaseModel):
    # Strict numbers and booleans: `.inf`/`.nan` are never a price, rate or time, and only true/false
    # are booleans (pydantic would read `audit: on`, `yes` or `1` as true; the README says true/false).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TierPrice(_Model):
    """A model's prices at one service tier (flex, priority, batch), USD per million tokens."""

    input_per_mtok: NonNegFloat
    output_per_mtok: NonNegFloat
    cache_read_per_mtok: NonNegFloat | None = None
    cache_write_per_mtok: NonNegFloat | None = None


class Price(_Model):
    """Price override in USD per million tokens: it replaces litellm's map entry for the model (priced by
    litellm's cost function all the same, :mod:`workbench.pricing`). A tier without its block has no price."""

    input_per_mtok: NonNegFloat
    output_per_mtok: NonNegFloat
    cache_read_per_mtok: NonNegFloat | None = None
    cache_write_per_mtok: NonNegFloat | None = None
    cache_write_1h_per_mtok: NonNegFloat | None = None
    reasoning_per_mtok: NonNegFloat | None = None
    flex: TierPrice | None = None
    priority: TierPrice | None = None
    batch: TierPrice | None = None


class Limits(_Model):
    """Provider-side rate limits of the account, enforced by the simulated provider in virtual time."""

    rpm: Annotated[int, Field(gt=0)] | None = None
    tpm: Annotated[int, Field(gt=0)] | None = None


class Outage(_Model):
    """A window of virtual time (seconds from the run's start) in which every call fails."""

    start_s: NonNegFloat
    end_s: PosFloat
    kind: ErrorKind = ErrorKind.SERVER_ERROR

    @model_validator(mode="after")
    def _ordered(self) -> Outage:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s})")
        return self


class SimProfile(_Model):
    """Overrides of the simulated model's calibrated defaults (see ``providers/profiles.yaml``)."""

    family: str | None = None
    ttft_s: PosFloat | None = None
    tokens_per_s: PosFloat | None = None
    latency_sigma: NonNegFloat | None = None
    output_tokens: PosFloat | None = None
    error_rates: dict[ErrorKind, Share] | None = None
    quality_easy: Share | None = None
    quality_hard: Share | None = None
    category_quality: dict[str, Annotated[float, Field(ge=-1, le=1)]] | None = None
    outages: list[Outage] = []
    # Hidden reasoning tokens by ``reasoning_effort`` (mean, before difficulty and spread) and their spread.
    reasoning_tokens: dict[Effort, PosFloat] | None = None
    reasoning_sigma: NonNegFloat | None = None


class RecordedSpec(_Model):
    """Where a ``provider: recorded`` model's answers come from, and what a missing answer does.

    ``dataset`` defaults to the traffic's dataset; ``model`` is the model's name in the outcome matrix
    when it differs from ``model:``. ``on_miss: error`` (default) stops before the run when an answer is
    missing; ``simulate`` answers it with the simulated model instead, labelled ``simulated``.
    """

    dataset: Annotated[str, Field(min_length=1)] | None = None
    model: Annotated[str, Field(min_length=1)] | None = None
    on_miss: Literal["error", "simulate"] = "error"


class ModelSpec(_Model):
    """One fleet member: a litellm model name behind a provider kind."""

    model: Annotated[str, Field(min_length=1)]
    provider: Annotated[str, Field(min_length=1)] = "simulated"
    """A registered provider kind (``workbench.providers``), checked by :meth:`Scenario.check_references`."""
    price: Price | None = None
    limits: Limits = Limits()
    timeout_s: PosFloat | None = None
    context_window: Annotated[int, Field(gt=0)] | None = None
    api_base: str | None = None
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    # Discouraged (use api_key_env): kept only in memory; stored, dumped and hashed as '**********'.
    api_key: SecretStr | None = None
    sim: SimProfile = SimProfile()
    recorded: RecordedSpec = RecordedSpec()
    steps: RouteSteps = RouteSteps()  # tool and data steps around this model's call (workbench/steps.py)
    version: Annotated[str, Field(min_length=1)] | None = None  # the version label before any timeline change
    timeline: list[TimelineEntry] = []  # changes over time (workbench/timeline.py)
    tier: Literal["standard", "flex", "priority", "batch"] = "standard"
    reasoning_effort: Effort | None = None


class HumanSpec(_Model):
    """A queue of human agents: a routing or fallback target that costs money and waiting time."""

    agents: Annotated[int, Field(ge=1)]
    handling_time_s: PosFloat
    cost_per_request_usd: NonNegFloat
    accuracy: Share = 0.97


class RouterSpec(_Model):
    """The routing policy by registered name, with its typed params (validated by the policy)."""

    policy: Annotated[str, Field(min_length=1)]
    params: dict[str, Any] = {}


class FallbackRule(_Model):
    """Where to go next when the routed model fails with one of ``errors`` (when omitted: any kind but
    a configuration error, ``not_found``/``bad_request``/``auth``, which must be named to fall back)."""

    to: Annotated[str, Field(min_length=1)]
    errors: list[ErrorKind] | None = None

    def matches(self, kind: ErrorKind) -> bool:
        """True when this rule applies to a failure of ``kind``."""
        return kind not in CONFIG_ERRORS if self.errors is None else kind in self.errors


class RetrySpec(_Model):
    """Retries of the same model: exponential backoff with jitter, retry-after honoured."""

    max_retries: Annotated[int, Field(ge=0, le=20)] = 2
    backoff_s: NonNegFloat = 0.5
    multiplier: Annotated[float, Field(ge=1)] = 2.0
    max_backoff_s: NonNegFloat = 30.0
    jitter: Share = 0.2
    errors: list[ErrorKind] = list(RETRYABLE_DEFAULT)


class Timeouts(_Model):
    """Client-side timeout of one provider call; a model's own ``timeout_s`` wins."""

    attempt_s: PosFloat = 60.0


class CircuitBreaker(_Model):
    """Cooldown after repeated failures (litellm's ``allowed_fails`` / ``cooldown_time``).

    When a target fails more than ``allowed_fails`` times with one of ``errors`` within ``window_s``,
    it is skipped for ``cooldown_s``: requests go straight to their fallbacks, and no call is wasted.
    """

    allowed_fails: Annotated[int, Field(ge=0)] = 3
    window_s: PosFloat = 60.0
    cooldown_s: PosFloat = 30.0
    errors: list[ErrorKind] = list(RETRYABLE_DEFAULT)


class Budget(_Model):
    """Spending cap for the run; when spent, reject new requests or send them to a cheaper model."""

    max_usd: PosFloat
    on_exceed: Literal["reject", "downgrade"] = "reject"
    downgrade_to: str | None = None

    @model_validator(mode="after")
    def _target(self) -> Budget:
        if self.on_exceed == "downgrade" and not self.downgrade_to:
            raise ValueError("on_exceed: downgrade needs downgrade_to (a fleet model)")
        return self


class GraderSpec(_Model):
    """One grader by registered type, with its params."""

    type: Annotated[str, Field(min_length=1)]
    params: dict[str, Any] = {}


class PoissonArrival(_Model):
    """Requests arrive at random at a constant mean rate."""

    process: Literal["poisson"]
    rate_per_s: Rate


class RecordedArrival(_Model):
    """Requests arrive at the timestamps recorded in the traffic file, optionally sped up."""

    process: Literal["recorded"]
    field: str = "arrived_at"
    speedup: Annotated[float, Field(ge=1e-6)] = 1.0  # slower: arrival times no replay reaches


class Burst(_Model):
    """A window of higher arrival rate."""

    at_s: NonNegFloat
    duration_s: PosFloat
    rate_per_s: Rate


class BurstArrival(_Model):
    """Poisson arrivals at a base rate with bursts of a higher rate."""

    process: Literal["burst"]
    rate_per_s: Rate
    bursts: Annotated[list[Burst], Field(min_length=1)]


Arrival = Annotated[PoissonArrival | RecordedArrival | BurstArrival, Field(discriminator="process")]


class TrafficSpec(_Model):
    """Which requests are replayed, how many, and when they arrive.

    ``source`` is a traffic file (relative to the scenario's folder); ``dataset`` names an imported or
    recorded dataset (``workbench datasets list``) whose prompts are the traffic. Exactly one is given.
    """

    source: Annotated[str, Field(min_length=1)] | None = None
    dataset: Annotated[str, Field(min_length=1)] | None = None
    sample: Annotated[int, Field(ge=1)] | None = None
    replace: StrictBool = False
    arrival: Arrival = PoissonArrival(process="poisson", rate_per_s=1.0)

    @model_validator(mode="after")
    def _one_source(self) -> TrafficSpec:
        if (self.source is None) == (self.dataset is None):
            raise ValueError("give exactly one of source (a traffic file) or dataset (an imported dataset)")
        return self


class Scenario(_Model):
    """A whole routing design: fleet, humans, router, failure handling, budget, graders, traffic."""

    name: Annotated[str, Field(pattern=_NAME)]
    description: str = ""
    seed: Seed = 0
    concurrency: Annotated[int, Field(ge=1, le=100_000)] = 64
    fleet: Annotated[dict[Annotated[str, Field(pattern=_NAME)], ModelSpec], Field(min_length=1)]
    humans: dict[Annotated[str, Field(pattern=_NAME)], HumanSpec] = {}
    steps: dict[Annotated[str, Field(pattern=_NAME)], StepSpec] = {}  # retrieval/tool/lookup calls (steps.py)
    router: RouterSpec
    fallbacks: dict[str, list[FallbackRule]] = {}
    retries: RetrySpec = RetrySpec()
    timeouts: Timeouts = Timeouts()
    circuit_breaker: CircuitBreaker | None = None
    budget: Budget | None = None
    graders: list[GraderSpec] = []
    traffic: TrafficSpec
    monitors: list[MonitorSpec] = []  # drift monitors and their actions (workbench/monitors/spec.py)
    audit: StrictBool = False
    """Seal every request into a tamper-evident hash chain (``workbench audit verify RUN_ID``)."""
    cache: CacheSpec | None = None
    """Shared prompt prefixes and the providers' prompt cache (``workbench/caching.py``)."""
    batch: BatchSpec | None = None
    """Batch lanes (fleet models with ``tier: batch``): see :mod:`workbench.batch_schema`."""

    _path: Path | None = PrivateAttr(default=None)
    _text: str = PrivateAttr(default="")
    _lines: dict[tuple, int] = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        # Equal designs are equal scenarios, wherever they were read from (private provenance aside).
        if not isinstance(other, Scenario):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash(self.content_hash)

    # --- provenance -------------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        """The file this scenario was read from, if any."""
        return self._path

    @property
    def yaml_text(self) -> str:
        """The scenario as written (as dumped, with keys masked, when it holds an ``api_key``)."""
        if any(m.api_key is not None for m in self.fleet.values()):
            return self.to_yaml()  # never store or show a key the user pasted into the file
        return self._text or self.to_yaml()

    @property
    def content_hash(self) -> str:
        """SHA-256 of the canonical form: same design, same hash, whatever the comments or order.

        Defaults are left out, so a field added to the schema later (with a default that keeps the old
        behaviour) does not change the hash of every existing design; ``workbench_version`` is stored
        beside the hash for when a default itself changes."""
        canon = json.dumps(self.model_dump(mode="json", exclude_defaults=True), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()

    @property
    def targets(self) -> list[str]:
        """Every name a route or fallback may point at: fleet models, then human nodes."""
        return [*self.fleet, *self.humans]

    @property
    def mode(self) -> str:
        """The mode of the fleet's provider kinds (``simulated``, ``recorded``, ``live``...); ``mixed`` when
        the fleet combines modes."""
        modes = set()
        for m in self.fleet.values():
            kind = provider_kind(m.provider)
            modes.add(m.provider if kind is None else kind.mode)
        return modes.pop() if len(modes) == 1 else MIXED

    def to_yaml(self) -> str:
        """Dump as YAML (defaults omitted) that loads back to an equal scenario."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        return dump_yaml(data)

    def traffic_path(self, override: str | Path | None = None) -> Path:
        """Traffic file: an override as given (relative to cwd), else relative to the scenario file.
        A ``dataset:`` traffic has no file of its own here: the runner resolves the dataset."""
        if override is not None:
            return Path(override)
        if self.traffic.source is None:
            raise ValueError(f"{self.name}: traffic is the dataset '{self.traffic.dataset}', not a file")
        src = Path(self.traffic.source)
        if not src.is_absolute() and self._path is not None:
            src = self._path.parent / src
        return src

    def error_at(self, loc: tuple, message: str) -> ScenarioError:
        """A :class:`ScenarioError` naming this scenario's file, the line of ``loc`` and the field."""
        return ScenarioError(message, file=self._path or "<scenario>", line=_line_for(self._lines, loc),
                             field=_dotted(loc))

    # --- cross references -------------------------------------------------------------------
    def check_references(self) -> None:
        """Raise for the first name that points nowhere (provider kinds, fallbacks, budget, duplicate names)."""
        for name, spec in self.fleet.items():
            if provider_kind(spec.provider) is None:
                raise self.error_at(("fleet", name, "provider"), unknown_provider_message(spec.provider))
        targets = set(self.targets)
        both = set(self.fleet) & set(self.humans)
        if both:
            raise self.error_at(("humans", sorted(both)[0]), "name used both in fleet and humans")
        for src, rules in self.fallbacks.items():
            if src not in self.fleet:
                raise self.error_at(("fallbacks", src), f"'{src}' is not a fleet model "
                                    f"(fleet: {', '.join(self.fleet)})")
            for i, rule in enumerate(rules):
                if rule.to not in targets:
                    raise self.error_at(("fallbacks", src, i, "to"), f"unknown target '{rule.to}' "
                                        f"(known: {', '.join(self.targets)})")
                if rule.to == src:
                    raise self.error_at(("fallbacks", src, i, "to"), "a model cannot fall back to itself")
        if self.budget and self.budget.downgrade_to and self.budget.downgrade_to not in self.fleet:
            raise self.error_at(("budget", "downgrade_to"), f"'{self.budget.downgrade_to}' is not a "
                                f"fleet model (fleet: {', '.join(self.fleet)})")
        check_cache(self)
        check_steps(self)
        check_monitors(self)
        check_batch(self)


# --- loading --------------------------------------------------------------------------------------

def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and cross-check a scenario file; raise one :class:`ScenarioError` naming where."""
    p = Path(path)
    return parse_scenario(read_text(p, "scenario"), source=p)


def parse_scenario(text: str, source: str | Path | None = None) -> Scenario:
    """Validate scenario YAML text; ``source`` is the file named in errors and used for relative paths."""
    where = str(source) if source is not None else "<scenario>"
    data, lines = read_yaml(text, where)
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a YAML mapping (name:, fleet:, router:, traffic: ...)",
                            file=where, line=1)
    try:
        scn = Scenario.model_validate(data)
    except ValidationError as exc:
        raise field_error(exc, where, lines) from None
    scn._path = Path(source) if source is not None else None
    scn._text = text
    scn._lines = lines
    scn.check_references()
    return scn


