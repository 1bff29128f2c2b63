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
* cost: the scenario's ``price`` when it gives one (what-if pricing over the same answers), else the
  cost stored with the answer, else litellm's price map times the stored tokens;
* latency: the stored latency, else (imported sets record none) the model family's simulated time to
  first token plus completion tokens at its simulated speed, without random spread (ASSUMED figures
  from ``profiles.yaml``); the run's notes say so.

Recorded answers never fail: rate limits, errors and outages are the simulated provider's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from workbench.catalog import model_info
from workbench.providers.base import Answer, Outcome, Provider, register, unknown_price_error
from workbench.providers.simulated import SimulatedProvider, profile_for
from workbench.scenario import ModelSpec, Scenario
from workbench.timeline import Timeline
from workbench.traffic import Request, prompt_key

if TYPE_CHECKING:  # pragma: no cover
    from workbench.store.outcomes import AnswerRow

__all__ = ["RecordedProvider"]

#: An outcome's ``source`` -> the label of the attempt that replays it; any other source (``live``, a
#: re-ask made by ``workbench record``; ``imported``, a public outcome set) is the provider's own mode,
#: ``recorded``.
_SOURCE = {"simulated": "simulated", "logged": "logged"}


class _RecordedModel:
    """One fleet model's recorded answers, keyed by prompt key."""

    def __init__(self, name: str, answers: dict[str, AnswerRow], price: tuple[float, float] | None, prof: dict,
                 fallback: Answer | None):
        self.name, self.answers, self.fallback = name, answers, fallback
        self.price = price  # (input, output) USD per token when the scenario overrides it, else None
        self.ttft, self.tps = prof["ttft_s"], prof["tokens_per_s"]
        self.keys: dict[str, str] = {}
        self.version: str | None = None
        self.timeline: Timeline | None = None
        self.own = answers
        self.sources: dict[int, dict[str, AnswerRow]] = {}  # timeline entry index -> its answers

    def call_timed(self, req: Request, rkey: int, now: float, attempt: int) -> Outcome:
        """:meth:`call` from the answers the timeline gives at ``now``, labelled with its version."""
        assert self.timeline is not None
        st = self.timeline.at(now)
        self.answers = self.sources.get(st.source, self.own)
        out = self.call(req, rkey, now, attempt)
        out.version = st.version
        return out

    def call_labelled(self, req: Request, rkey: int, now: float, attempt: int) -> Outcome:
        """:meth:`call` labelled with the model's fixed ``version:``."""
        out = self.call(req, rkey, now, attempt)
        out.version = self.version
        return out

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
        cost = row.cost_usd  # priced at load when the dataset had none (RecordedProvider._load)
        if self.price is not None:
            cost = ptok * self.price[0] + ctok * self.price[1]
        latency = row.latency_s
        if latency is None:
            latency = self.ttft + ctok / self.tps
        return Outcome(True, float(latency), None, ptok, ctok, 0.0 if cost is None else float(cost), row.response,
                       None if row.score is None else float(row.score),
                       source=_SOURCE.get(row.source or ""))


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
        model = _RecordedModel(name, answers, _price(spec), profile_for(spec), fallback)
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
        if spec.price is None and any(row.cost_usd is None for row in answers.values()):
            info = model_info(spec.model)
            if info is None:
                raise unknown_price_error(scenario, name)
            answers = {k: row if row.cost_usd is not None else row._replace(
                           cost_usd=(row.prompt_tokens or 0) * info.input_per_token
                           + (row.completion_tokens or 0) * info.output_per_token)
                       for k, row in answers.items()}
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
        m = self.models[model]
        return m.call_timed if m.timeline is not None else m.call_labelled if m.version is not None else m.call

    def pin_previous(self, model: str, now: float) -> str | None:
        """Freeze ``model`` at its answers and version before the latest change begun by ``now``."""
        tl = self.models[model].timeline
        st = tl.pin(now) if tl is not None else None
        return None if st is None else st.version


def _price(spec: ModelSpec) -> tuple[float, float] | None:
    """The scenario's price override in USD per token (input, output), or None."""
    if spec.price is None:
        return None
    return spec.price.input_per_mtok / 1e6, spec.price.output_per_mtok / 1e6
