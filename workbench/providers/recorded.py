"""The recorded provider: answer every call from the outcome matrix (record once, re-route many times).

Why: when every fleet model's answer to every prompt is known (recorded from a live run with
``workbench record --all-models``, or imported from a public outcome set such as RouteLLM's), any
routing policy can be scored offline, exactly and for free. A recorded replay returns the stored
response, tokens, score and cost of the (prompt, model) pair; it never draws anything at random, so
the quality of "always model M" over a dataset is exactly the share of M's recorded answers that were
correct.

What is not in the matrix is stated, not invented:

* an answer imported from a production log (outcome ``source`` ``logged``, the logged model's own answer)
  is labelled ``logged`` on its attempt; a re-ask recorded by ``workbench record`` or an imported public
  set is labelled ``recorded`` (the provider's mode);
* a missing answer stops the run before it starts (``recorded.on_miss: error``, the default) or is
  answered by the simulated model and labelled ``simulated`` on its attempt (``on_miss: simulate``);
* cost: litellm's cost function over the stored tokens (:mod:`workbench.pricing`) with the scenario's
  ``price`` when it gives one (what-if pricing over the same answers) or at a ``tier`` other than
  standard; else the cost stored with the answer, its parts apportioned by litellm's prices of its
  tokens; else litellm's price of the stored tokens;
* latency: the stored latency, else (imported sets record none) the model family's simulated time to
  first token plus completion tokens at its simulated speed, without random spread (ASSUMED figures
  from ``profiles.yaml``); the run's notes say so.

Recorded answers never fail: rate limits, errors and outages are the simulated provider's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from workbench.catalog import model_info
from workbench.pricing import ZERO, Cost, Pricer, pricer_for
from workbench.providers.base import Answer, Outcome, Provider, TimedCalls, register, unknown_price_error
from workbench.providers.simulated import SimulatedProvider, profile_for
from workbench.scenario import Scenario
from workbench.timeline import Timeline, TimelineState
from workbench.traffic import Request, prompt_key

if TYPE_CHECKING:  # pragma: no cover
    from workbench.store.outcomes import AnswerRow

__all__ = ["RecordedProvider"]

#: An outcome's ``source`` -> the label of the attempt that replays it; any other source (``live``, a
#: re-ask made by ``workbench record``; ``imported``, a public outcome set) is the provider's own mode,
#: ``recorded``.
_SOURCE = {"simulated": "simulated", "logged": "logged"}


class _RecordedModel(TimedCalls):
    """One fleet model's recorded answers, keyed by prompt key."""

    def __init__(self, name: str, answers: dict[str, AnswerRow], pricer: Pricer, stored: bool, prof: dict,
                 fallback: Answer | None):
        self.name, self.answers, self.fallback = name, answers, fallback
        self.price, self.tier = pricer, pricer.tier
        self.stored = stored  # True: an answer's stored cost is its cost (litellm's prices only split it)
        self.ttft, self.tps = prof["ttft_s"], prof["tokens_per_s"]
        self.keys: dict[str, str] = {}
        self.version: str | None = None
        self.timeline: Timeline | None = None
        self.own = answers
        self.sources: dict[int, dict[str, AnswerRow]] = {}  # timeline entry index -> its answers

    def apply(self, st: TimelineState) -> None:
        """Answer from the answers the timeline's state gives (another dataset's, from a time on)."""
        self.answers = self.sources.get(st.source, self.own)

    def call(self, req: Request, rkey: int, now: float, attempt: int) -> Outcome:
        key = self.keys.get(req.id)
        if key is None:
            key = self.keys[req.id] = prompt_key(req)
        row = self.answers.get(key)
        if row is None:
            if self.fallback is None:
                from workbench.errors import InputError

                raise InputError(f"fleet model '{self.name}' has no recorded answer for request '{req.id}' "
                                 "(a prompt built during the run, e.g. by a classifier or a judge); set "
                                 f"fleet.{self.name}.recorded.on_miss: simulate")
            out = self.fallback(req, rkey, now, attempt)
            out.source = "simulated"
            return out
        ptok, ctok = int(row.prompt_tokens or 0), int(row.completion_tokens or 0)
        parts = self.price(ptok, ctok)
        if self.stored and row.cost_usd is not None and float(row.cost_usd) != parts.total:
            parts = _apportion(parts, float(row.cost_usd))
        latency = row.latency_s
        if latency is None:
            latency = self.ttft + ctok / self.tps
        return Outcome(True, float(latency), None, ptok, ctok, parts.total, row.response,
                       None if row.score is None else float(row.score),
                       source=_SOURCE.get(row.source or ""), tier=self.tier, parts=parts)


def _apportion(parts: Cost, stored: float) -> Cost:
    """A stored total split in the proportions of litellm's parts for the same tokens (all input if none)."""
    if not parts.total:
        return Cost(stored, 0.0, 0.0, 0.0, 0.0, stored, stored)
    f = stored / parts.total
    return Cost(parts.input * f, parts.cached_input * f, parts.cache_write * f, parts.output * f,
                parts.reasoning * f, stored, stored)


class _StoredOnly(Pricer):
    """The pricer of a model litellm does not know whose every answer has a stored cost: prices nothing,
    so each stored cost is apportioned all to input."""

    def __init__(self, model: str):  # no litellm entry to read: nothing to probe
        self.model, self.tier, self.entry, self.standard = model, "standard", None, self

    def __call__(self, prompt: int, completion: int, cached: int = 0, written: int = 0, reasoning: int = 0) -> Cost:
        return ZERO


@register
class RecordedProvider(Provider):
    """Answers from a dataset's outcome matrix (recorded or imported), exactly and for free."""

    name = "recorded"
    mode = "recorded"
    colour = "#2b6cb0"
    order = 20
    asynchronous = False

    def __init__(self, scenario: Scenario, names: Sequence[str], requests: Sequence[Request], seed: int):
        keys = {r.id: prompt_key(r) for r in requests}
        self.models: dict[str, _RecordedModel] = {}
        self.notes: dict[str, str] = {}
        to_simulate = [n for n in names if scenario.fleet[n].recorded.on_miss == "simulate"]
        sim = SimulatedProvider(scenario, to_simulate, requests, seed) if to_simulate else None
        for name in names:
            self.models[name] = self._load(scenario, name, requests, keys, sim)

    def _load(self, scenario: Scenario, name: str, requests, keys, sim) -> _RecordedModel:
        spec = scenario.fleet[name]
        rec = spec.recorded
        dataset = rec.dataset or scenario.traffic.dataset
        if dataset is None:
            raise scenario.error_at(("fleet", name, "provider"), "a recorded model needs a dataset: give "
                                    f"fleet.{name}.recorded.dataset or traffic.dataset")
        column = rec.model or spec.model
        answers, _, note = self._answers(scenario, name, dataset, column, requests, keys, ("fleet", name, "model"))
        self.notes[name] = note
        fallback = sim.bind(name) if sim is not None and name in sim.models else None
        stored = spec.price is None and spec.tier == "standard"
        pricer = pricer_for(scenario, name) if not stored or model_info(spec.model) is not None \
            else _StoredOnly(spec.model)
        model = _RecordedModel(name, answers, pricer, stored, profile_for(spec), fallback)
        model.version = spec.version
        if spec.timeline:  # version A, then version B: another dataset's (or column's) answers from a time on
            model.timeline = Timeline(spec.timeline, spec.version)
            for i, e in enumerate(model.timeline.entries):
                if e.dataset is not None or e.model is not None:
                    where = ("fleet", name, "timeline", spec.timeline.index(e), "dataset" if e.dataset else "model")
                    alt, _, alt_note = self._answers(scenario, name, e.dataset or dataset, e.model or column,
                                                     requests, keys, where)
                    model.sources[i] = alt
                    self.notes[name] += f"; from {e.start:g} s: {alt_note}"
        return model

    def _answers(self, scenario: Scenario, name: str, dataset: str, column: str, requests, keys,
                 where: tuple) -> tuple[dict, list[str], str]:
        """``column``'s answers in ``dataset`` (priced), the requests missing one, and what a report says."""
        spec = scenario.fleet[name]
        # here, not at import: the registry imports every provider module to list the kinds (a scenario
        # is checked against it), and the store pulls in DuckDB and pandas
        from workbench.store.outcomes import OutcomeStore

        with OutcomeStore(dataset) as ds:
            answers = ds.answers(column, keys.values())
            meta = ds.meta()
        missing = [r.id for r in requests if keys[r.id] not in answers]
        if missing and spec.recorded.on_miss == "error":
            raise scenario.error_at(
                where,
                f"dataset '{dataset}' has no answer of '{column}' for {len(missing):,} of {len(requests):,} "
                f"requests (first: '{missing[0]}'); record them (`workbench record SCENARIO --all-models`) "
                f"or set fleet.{name}.recorded.on_miss: simulate")
        if spec.price is None and any(row.cost_usd is None for row in answers.values()) \
                and model_info(spec.model) is None:
            raise unknown_price_error(scenario, name)
        note = f"answers of '{column}' from dataset '{dataset}' ({meta.get('source', 'unknown source')})"
        if any(row.latency_s is None for row in answers.values()):
            note += "; latencies not recorded: simulated time to first token + tokens at the family's speed"
        if spec.price is not None:
            note += f"; priced at the scenario's price ({spec.price.input_per_mtok:g}/{spec.price.output_per_mtok:g} "\
                    "USD per M tokens in/out)"
        if missing:
            note += f"; {len(missing):,} missing answers simulated and labelled so"
        return answers, missing, note

    def bind(self, model: str) -> Answer:
        """The recorded ``model``'s answering callable (timed only when it has a timeline)."""
        return self.models[model].answerer()

    def pin_previous(self, model: str, now: float) -> str | None:
        """Freeze ``model`` at its answers and version before the latest change begun by ``now``."""
        return self.models[model].pin(now)

