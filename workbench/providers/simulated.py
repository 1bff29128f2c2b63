"""The simulated provider: a calibrated, seeded model of each fleet member, in virtual time.

Why a model and not a fake: an architect asks how a design behaves when the large model is slow,
rate-limited or down, long before paying for traffic. Each fleet member gets latency (time to first
token + tokens per second), error rates by kind, outage windows, provider-side rpm/tpm limits that
answer 429 with a retry-after under bursts, output length and quality as a function of difficulty and
category, and hidden reasoning tokens for a model with ``reasoning_effort`` (billed as output, generated
at the model's speed). Defaults per model family live in ``profiles.yaml`` with the source of every
figure; each answer is priced by litellm's cost function at the model's tier (:mod:`workbench.pricing`)
and prompt tokens come from litellm's tokenizer.

Determinism: every draw is ``unit(request key ^ model key, salt)``, so the same request sent to the
same model on the same attempt behaves the same in every scenario that shares the seed, and the
simulated answer's correctness does not depend on the attempt at all (a model that gets a request
wrong gets it wrong on retry too). Everything this provider returns is labelled ``simulated``.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

from workbench.caching import BoundPrefix, bind_prefixes
from workbench.catalog import count_tokens, model_info
from workbench.errors import ErrorKind
from workbench.pricing import Pricer, pricer_for
from workbench.providers.base import Answer, Outcome, Provider, TimedCalls, register, unknown_price_error
from workbench.scenario import ModelSpec, Scenario
from workbench.seeds import key64, unit, unit2
from workbench.timeline import Timeline, TimelineState
from workbench.traffic import Request
from workbench.yamlio import read_yaml

__all__ = ["SimulatedProvider", "profile_for", "family_defaults"]

_QUICK_FAIL_S = 0.05  # a 429 or a context-window rejection returns at once
_SALT_Q, _SALT_ERR, _SALT_LAT, _SALT_LEN, _SALT_WRONG, _SALT_REASON = 0, 1, 2, 4, 6, 7  # fixed: changing one
# changes every draw
_ERR_ORDER = (ErrorKind.SERVER_ERROR, ErrorKind.TIMEOUT, ErrorKind.RATE_LIMIT, ErrorKind.CONTEXT_WINDOW,
              ErrorKind.CONTENT_POLICY, ErrorKind.NOT_FOUND, ErrorKind.BAD_REQUEST, ErrorKind.AUTH)


@lru_cache(maxsize=1)
def family_defaults() -> dict[str, dict]:
    """The calibrated family profiles from ``profiles.yaml``, in matching order."""
    text = resources.files("workbench.providers").joinpath("profiles.yaml").read_text(encoding="utf-8")
    return read_yaml(text, "workbench/providers/profiles.yaml")[0]["families"]


def profile_for(spec: ModelSpec) -> dict:
    """The effective simulation profile of a fleet model: its family's defaults, then ``sim:``."""
    families = family_defaults()
    family = spec.sim.family
    if family is None:
        family = next(f for f, p in families.items()
                      if any(re.search(pat, spec.model, re.IGNORECASE) for pat in p["patterns"]))
    prof = {k: v for k, v in families[family].items() if k != "patterns"}
    prof["family"] = family
    prof["error_rates"] = {ErrorKind(k): v for k, v in prof.get("error_rates", {}).items()}
    prof["category_quality"] = {}
    for key, value in spec.sim.model_dump(exclude_none=True, exclude={"family", "outages"}).items():
        prof[key] = {ErrorKind(k): v for k, v in value.items()} if key == "error_rates" else value
    prof["outages"] = [(o.start_s, o.end_s, o.kind) for o in spec.sim.outages]
    return prof


class _SimModel(TimedCalls):
    """One simulated fleet member with its own rate-limit windows."""

    def __init__(self, name: str, spec: ModelSpec, prof: dict, pricer: Pricer,
                 window: int | None, labels: dict[str | None, list[str]], prefix: BoundPrefix | None = None):
        self.name, self.model = name, spec.model
        self.mkey = key64("model", spec.model)  # by model, not by fleet name: same model, same luck
        self.ttft, self.tps, self.sigma = prof["ttft_s"], prof["tokens_per_s"], prof["latency_sigma"]
        self.out_mean = prof["output_tokens"]
        self.q_easy, self.q_hard = prof["quality_easy"], prof["quality_hard"]
        self.cat_q = prof["category_quality"]
        self.errors = [(k, prof["error_rates"][k]) for k in _ERR_ORDER if prof["error_rates"].get(k)]
        self.outages = prof["outages"]
        self.price, self.window, self.tier = pricer, window, spec.tier
        # hidden reasoning tokens per answer (mean at difficulty 0.5) and their spread; 0: not a reasoning call
        effort = spec.reasoning_effort
        self.reason_mean = 0.0 if effort is None else float(prof["reasoning_tokens"][effort])
        self.reason_sigma = float(prof.get("reasoning_sigma", 0.0)) if effort is not None else 0.0
        self.rpm, self.tpm = spec.limits.rpm, spec.limits.tpm
        self._req_times: deque[float] = deque()
        self._tok_times: deque[tuple[float, int]] = deque()
        self._tok_sum = 0
        self.labels = labels
        self.tokens: dict[str, int] = {}
        self.prefix = prefix  # a shared prompt prefix (cache: block): part of every prompt, maybe cached
        self.version = spec.version
        self.timeline = Timeline(spec.timeline, spec.version) if spec.timeline else None
        self.base = (self.ttft, self.tps, self.out_mean, self.q_easy, self.q_hard, self.cat_q, prof["error_rates"])

    def apply(self, st: TimelineState) -> None:
        """Move the profile to the timeline's state ``st`` (from the base profile, not cumulatively)."""
        ttft, tps, out_mean, q_easy, q_hard, cat_q, rates = self.base
        self.ttft, self.tps = ttft * st.latency_x, tps / st.latency_x  # both parts of the latency scale
        self.out_mean = out_mean * st.output_tokens_x
        self.q_easy, self.q_hard = q_easy + st.quality, q_hard + st.quality
        self.cat_q = cat_q if not st.category_quality else {
            c: cat_q.get(c, 0.0) + st.category_quality.get(c, 0.0) for c in {*cat_q, *st.category_quality}}
        moved = st.error_rates
        self.errors = [(k, min(1.0, max(0.0, rates.get(k, 0.0) + moved.get(k, 0.0)))) for k in _ERR_ORDER
                       if rates.get(k, 0.0) + moved.get(k, 0.0) > 0]

    def count(self, req: Request) -> int:
        """Prompt tokens of ``req`` by litellm's tokenizer for this model (cached per prompt text)."""
        key = req.prompt if req.messages is None else repr(req.messages)
        n = count_tokens(self.model, req.chat(), key)
        if req.messages is None:
            self.tokens[req.prompt] = n
        return n

    def call(self, req: Request, rkey: int, now: float, attempt: int) -> Outcome:
        for start, end, kind in self.outages:
            if start <= now < end:
                return Outcome(False, math.inf if kind is ErrorKind.TIMEOUT else _QUICK_FAIL_S, kind)
        ptok = self.tokens.get(req.prompt)
        if ptok is None:
            ptok = self.count(req)
        prefix = self.prefix
        if prefix is not None:
            ptok += prefix.tokens
        if self.window is not None and ptok >= self.window:
            return Outcome(False, _QUICK_FAIL_S, ErrorKind.CONTEXT_WINDOW, prompt_tokens=ptok)
        limited = self._rate_limited(now, ptok)
        if limited is not None:
            return Outcome(False, _QUICK_FAIL_S, ErrorKind.RATE_LIMIT, retry_after_s=limited)
        k = rkey ^ self.mkey
        a = attempt * 8
        if self.errors:
            u = unit(k, a + _SALT_ERR)
            for kind, rate in self.errors:
                if u < rate:
                    latency = math.inf if kind is ErrorKind.TIMEOUT else self.ttft
                    return Outcome(False, latency, kind, prompt_tokens=ptok)
                u -= rate
        d = 0.5 if req.difficulty is None else req.difficulty
        out = max(1, round(self.out_mean * (0.6 + 0.8 * d) * _lognormal(k, a + _SALT_LEN, 0.4)))
        rtok = 0
        if self.reason_mean:  # hidden reasoning: billed as output, generated at the model's speed
            rtok = max(1, round(self.reason_mean * (0.5 + d) * _lognormal(k, a + _SALT_REASON, self.reason_sigma)))
        latency = self.ttft * _lognormal(k, a + _SALT_LAT, self.sigma) + (out + rtok) / self.tps
        p = self.q_easy + (self.q_hard - self.q_easy) * d + self.cat_q.get(req.category, 0.0)
        correct = unit(k, _SALT_Q) < p
        cached = written = 0
        if prefix is not None:
            cached, written = prefix.use(now)
        cost = self.price(ptok, out + rtok, cached, written, rtok)
        return Outcome(True, latency, None, ptok, out + rtok, cost.total, self._answer(req, correct, k),
                       1.0 if correct else 0.0, cached_tokens=cached, cache_write_tokens=written,
                       reasoning_tokens=rtok, tier=self.tier, parts=cost)

    def _rate_limited(self, now: float, ptok: int) -> float | None:
        """Seconds until the call would fit the rpm/tpm windows, or None if it fits now."""
        if self.rpm is None and self.tpm is None:
            return None
        horizon = now - 60.0
        times = self._req_times
        while times and times[0] <= horizon:
            times.popleft()
        toks = self._tok_times
        while toks and toks[0][0] <= horizon:
            self._tok_sum -= toks.popleft()[1]
        if self.rpm is not None and len(times) >= self.rpm:
            return times[0] + 60.0 - now
        if self.tpm is not None and toks and self._tok_sum + ptok > self.tpm:
            return toks[0][0] + 60.0 - now
        times.append(now)
        toks.append((now, ptok))
        self._tok_sum += ptok
        return None

    def _answer(self, req: Request, correct: bool, k: int) -> str:
        if req.expected is None:
            return f"[simulated answer of {self.model}: {'correct' if correct else 'wrong'}]"
        if correct:
            return req.expected
        # A request may list its own `choices` (multiple choice, a classifier's labels); otherwise a
        # wrong answer is another label seen for its category in the traffic.
        pool: Sequence[str] = req.metadata.get("choices") or self.labels.get(req.category) or ()
        wrong = [x for x in pool if x != req.expected]
        return wrong[int(unit(k, _SALT_WRONG) * len(wrong))] if wrong else "unresolved"


def _lognormal(k: int, salt: int, sigma: float) -> float:
    """exp(sigma * Z) with Z standard normal by Box-Muller from two fixed draws; median 1."""
    if sigma == 0.0:
        return 1.0
    u1, u2 = unit2(k, salt)
    return math.exp(sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2))


@register
class SimulatedProvider(Provider):
    """A calibrated, seeded model of each fleet member in virtual time (no call leaves the machine)."""

    name = "simulated"
    mode = "simulated"
    colour = "#805ad5"
    order = 10
    asynchronous = False

    def __init__(self, scenario: Scenario, names: Sequence[str], requests: Sequence[Request], seed: int):
        self.notes: dict[str, str] = {}
        labels: dict[str | None, set[str]] = {}
        for r in requests:
            if r.expected is not None:
                labels.setdefault(r.category, set()).add(r.expected)
        sorted_labels = {c: sorted(v) for c, v in labels.items()}
        self.models: dict[str, _SimModel] = {}
        self.profiles: dict[str, dict] = {}
        #: (deployment, prefix) -> virtual time of last use: the prompt cache, shared by fleet names of one model
        self.cache_entries: dict[tuple[str, str], float] = {}
        prefixes = bind_prefixes(scenario, tuple(names), self.cache_entries)
        for name in names:
            spec = scenario.fleet[name]
            info = model_info(spec.model, spec.price, spec.context_window)
            if info is None:
                raise unknown_price_error(scenario, name)
            pricer = pricer_for(scenario, name)
            prof = profile_for(spec)
            self.profiles[name] = prof
            sim = _SimModel(name, spec, prof, pricer, info.max_input_tokens, sorted_labels, prefixes.get(name))
            for r in requests:  # count prompts now: tokenizers load before the clock starts
                if r.messages is None and r.prompt not in sim.tokens:
                    sim.count(r)
            self.models[name] = sim

    def bind(self, model: str) -> Answer:
        """The simulated ``model``'s answering callable (timed only when it has a timeline: the hot path
        of a fixed model is unchanged)."""
        return self.models[model].answerer()

    def pin_previous(self, model: str, now: float) -> str | None:
        """Freeze ``model`` at its version before the latest change begun by ``now`` (None: nothing to pin)."""
        return self.models[model].pin(now)
