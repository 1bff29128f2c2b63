"""``threshold``: score each request, send it to the strong model when the score passes a threshold.

Why this shape (RouteLLM's): every learned router in the RouteLLM paper reduces to "a score per request,
and one cut". The scorer says which requests look hard; the cut says how many strong calls the architect
can afford. Keeping the two apart lets the same cut be tried with different scorers over the same traffic.

Scorers (``scorer.type``), all cheap and offline:

* ``length``: the prompt's length in characters.
* ``difficulty``: the request's ``difficulty`` field. With simulated traffic that field is the ground
  truth the simulator grades against, so this scorer is an *upper bound* on what any scorer could
  reach, not a deployable router; the decision's reason says "difficulty field" to keep that visible.
* ``keywords``: the sum of the weights of the keywords found in the prompt (whole words or phrases,
  case-insensitive, as in ``rules``). Each keyword counts once however often it appears: a ticket
  repeating "refund" five times is not harder than one saying it once.
* ``metadata``: ``float(request.metadata[field])``; a missing key scores 0.

The cut is either ``threshold`` (fixed: score >= threshold goes strong) or ``strong_share``
(calibrated). Calibration follows RouteLLM's ``calibrate_threshold``: the threshold is the
``1 - strong_share`` quantile of the scores of the requests given to :meth:`Threshold.fit`, which the
runner calls with the very requests it is about to replay. That is *in-sample*: the share is hit on
this traffic by construction, and a deployment calibrated on last month's traffic would see some drift.
The decision's reason says so.

Why ties get a draw: RouteLLM routes ``score >= quantile`` strong, which overshoots the share whenever
many requests share the quantile's score (``difficulty`` has a few dozen distinct values; a keyword
scorer gives most requests 0). Here the quantile is an observed score and requests exactly at it go
strong with the probability that makes the *expected* share exact, drawn with
``RouteContext.uniform`` so it is fixed per request and seed (see :meth:`Threshold.fit`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from workbench.errors import InputError, TrafficError
from workbench.policies.base import Decision, Policy, PolicyParams, RouteContext, register

if TYPE_CHECKING:  # pragma: no cover
    from workbench.traffic import Request

__all__ = ["Threshold", "calibrate", "Scorer", "LengthScorer", "DifficultyScorer", "KeywordsScorer",
           "MetadataScorer", "LearnedScorer"]

_SALT = 0x7E5E  # tie-break draws; not weighted's salt, so the two policies' draws are independent
_NonEmpty = Annotated[str, Field(min_length=1)]
_Finite = Annotated[float, Field(allow_inf_nan=False)]

#: A compiled scorer: the request's score (a finite float).
ScoreFn = Callable[["Request"], float]


class _ScorerBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class LengthScorer(_ScorerBase):
    """Score = the prompt's length in characters."""

    type: Literal["length"]

    def build(self) -> tuple[str, ScoreFn]:
        """The reason's label and the score function."""
        return "length", lambda req: float(len(req.prompt))


class DifficultyScorer(_ScorerBase):
    """Score = the request's ``difficulty`` field (ground truth with simulated traffic: an upper bound)."""

    type: Literal["difficulty"]

    def build(self) -> tuple[str, ScoreFn]:
        """The reason's label and the score function."""
        def score(req: Request) -> float:
            d = req.difficulty
            if d is None:
                raise TrafficError(f"scorer 'difficulty' needs a difficulty on every request; "
                                   f"request '{req.id}' has none", field="difficulty")
            return d
        return "difficulty field", score


class KeywordsScorer(_ScorerBase):
    """Score = sum of the weights of the keywords found (whole words, case-insensitive, each once)."""

    type: Literal["keywords"]
    keywords: Annotated[dict[str, _Finite], Field(min_length=1)]

    @field_validator("keywords")
    @classmethod
    def _distinct_words(cls, v: dict[str, float]) -> dict[str, float]:
        seen: set[str] = set()
        for word in v:
            key = " ".join(word.split()).casefold()
            if not key:
                raise ValueError("a keyword cannot be blank")
            if key in seen:
                raise ValueError(f"keyword {word!r} is listed twice (matching ignores case and spacing)")
            seen.add(key)
        return v

    def build(self) -> tuple[str, ScoreFn]:
        """The reason's label and the score function (one regex for all keywords, compiled once)."""
        weights = {" ".join(w.split()).casefold(): wt for w, wt in self.keywords.items()}
        # Longest first, so "credit card" wins over "credit" where both start; lookarounds rather than
        # \b so keywords ending in punctuation ("c++") work, as in ``rules``.
        phrases = sorted((w.split() for w in self.keywords), key=lambda p: -len(" ".join(p)))
        alternatives = "|".join(r"\s+".join(map(re.escape, p)) for p in phrases)
        pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

        def score(req: Request) -> float:
            found = {" ".join(m.split()).casefold() for m in pattern.findall(req.prompt)}
            return float(sum(weights.get(f, 0.0) for f in found))
        return "keywords", score


class MetadataScorer(_ScorerBase):
    """Score = ``float(request.metadata[field])``; a missing key scores 0."""

    type: Literal["metadata"]
    field: _NonEmpty

    def build(self) -> tuple[str, ScoreFn]:
        """The reason's label and the score function."""
        key = self.field

        def score(req: Request) -> float:
            value = req.metadata.get(key) if req.metadata else None
            if value is None:
                return 0.0
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number):
                raise TrafficError(f"scorer 'metadata' needs a number in metadata '{key}'; "
                                   f"request '{req.id}' has {value!r}", field=key)
            return number
        return f"metadata {key}", score


class LearnedScorer(_ScorerBase):
    """Score = out-of-sample P(``model`` answers wrongly), learned from a dataset's recorded scores.

    A TF-IDF + logistic-regression model per fold (``workbench.policies.learned``), cross-fitted over
    the replayed requests: every request's score comes from a model trained on the other folds, never
    on its own label, so the routing quality it reaches is what an unseen prompt would get. With
    ``method: nested`` and ``strong`` (the strong model as named in the outcome matrix), the score is
    P(strong right) - P(model right) from the nested-CV learner of ``workbench.policies.quality``
    (cross-fitted the same way), the better scorer ``datasets eval`` reports.
    """

    type: Literal["learned"]
    model: _NonEmpty  # the (weak) model whose failures are predicted, as named in the outcome matrix
    dataset: _NonEmpty | None = None  # default: the scenario's traffic dataset
    folds: Annotated[int, Field(ge=2, le=20)] = 5
    seed: int = 0
    method: Literal["tfidf", "nested"] = "tfidf"
    strong: _NonEmpty | None = None  # with method nested: the strong model, as named in the outcome matrix
    _scores: dict[str, float] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _strong_for_nested(self) -> LearnedScorer:
        if self.method == "nested" and self.strong is None:
            raise ValueError("method nested predicts the gain of the strong model: give strong (its name in "
                             "the outcome matrix)")
        return self

    def build(self) -> tuple[str, ScoreFn]:
        """The reason's label and the score function (a lookup filled by :meth:`fit_scores`)."""
        table = self._scores

        def score(req: Request) -> float:
            if req.id not in table:
                raise InputError(f"scorer 'learned' scores the replayed requests only (each out of sample); "
                                 f"'{req.id}' is not one of them: give a traffic request id (explain --id)")
            return table[req.id]
        label = (f"learned P({self.model} wrong)" if self.method == "tfidf" else
                 f"learned P({self.strong} right) - P({self.model} right)")
        return label, score

    def fit_scores(self, requests: Sequence[Request], scenario) -> None:
        """Cross-fit over ``requests`` with their recorded scores from the dataset."""
        from workbench.policies.learned import cross_fitted_scores
        from workbench.store.outcomes import OutcomeStore
        from workbench.traffic import prompt_key

        name = self.dataset or scenario.traffic.dataset
        if name is None:
            raise scenario.error_at(("router", "params", "scorer", "dataset"),
                                    "scorer 'learned' needs a dataset (the traffic's, or dataset: NAME)")
        labels: dict[str, list[float]] = {}
        with OutcomeStore(name) as ds:
            for field, model in (("model", self.model), ("strong", self.strong)):
                if model is None or (field == "strong" and self.method == "tfidf"):
                    continue
                recorded = ds.answers(model, [prompt_key(r) for r in requests])
                labels[model] = []
                for r in requests:
                    row = recorded.get(prompt_key(r))
                    if row is None or row.score is None:
                        raise scenario.error_at(("router", "params", "scorer", field),
                                                f"dataset '{name}' has no score of '{model}' for request '{r.id}'")
                    labels[model].append(float(row.score))
        texts = [r.prompt for r in requests]
        try:
            if self.method == "tfidf":
                scores = cross_fitted_scores(texts, labels[self.model], folds=self.folds, seed=self.seed)
            else:
                from workbench.policies.quality import cross_fitted_quality, expected_gain, gain_selector

                assert self.strong is not None  # _strong_for_nested: method nested requires it
                pred = cross_fitted_quality(texts, labels, folds=self.folds, seed=self.seed,
                                            select=gain_selector(self.strong, self.model))
                scores = expected_gain(pred.selected, self.strong, self.model)
        except ValueError as exc:  # e.g. fewer distinct prompts than folds
            raise scenario.error_at(("router", "params", "scorer", "folds"), str(exc)) from None
        self._scores.update({r.id: float(x) for r, x in zip(requests, scores, strict=True)})


Scorer = Annotated[LengthScorer | DifficultyScorer | KeywordsScorer | MetadataScorer | LearnedScorer,
                   Field(discriminator="type")]


def calibrate(scores: Sequence[float], strong_share: float) -> tuple[float, float]:
    """``(cut, p)`` so that sending ``score > cut``, and ``score == cut`` with probability ``p``, to
    strong sends exactly ``strong_share`` of ``scores`` there in expectation."""
    if not scores:
        raise ValueError("cannot calibrate a threshold on no requests")
    desc = sorted(scores, reverse=True)
    k = strong_share * len(desc)  # strong calls wanted (not necessarily whole)
    # The (1 - share) quantile as an observed score: the ceil(k)-th highest. Then fewer than k scores
    # are above it and at least k are at or above it, so 0 <= p <= 1 below.
    cut = desc[max(math.ceil(k) - 1, 0)]
    above = sum(1 for s in desc if s > cut)
    tied = sum(1 for s in desc if s == cut)
    return cut, min(max((k - above) / tied, 0.0), 1.0)


@register
class Threshold(Policy):
    """Send a request to ``strong`` when its score passes a fixed or calibrated threshold, else ``weak``."""

    name = "threshold"

    class Params(PolicyParams):
        """``strong``/``weak`` targets, a ``scorer``, and exactly one of ``threshold`` and ``strong_share``.

        ``threshold``: score >= threshold goes strong. ``strong_share`` (0-1): the threshold is
        calibrated so that this share of the replayed requests goes strong (in-sample).
        """

        strong: _NonEmpty
        weak: _NonEmpty
        scorer: Scorer
        threshold: _Finite | None = None
        strong_share: Annotated[float, Field(ge=0.0, le=1.0)] | None = None

        @field_validator("strong_share")
        @classmethod
        def _not_both(cls, v: float | None, info: ValidationInfo) -> float | None:
            # A field validator (not only the model validator) so the error points at this line.
            if v is not None and info.data.get("threshold") is not None:
                raise ValueError("give either threshold (fixed) or strong_share (calibrated), not both")
            return v

        @model_validator(mode="after")
        def _one_cut(self) -> Threshold.Params:
            if (self.threshold is None) == (self.strong_share is None):
                raise ValueError("give exactly one of threshold (a fixed score) and strong_share "
                                 "(a share of strong calls to calibrate for)")
            return self

    params: Params

    def __init__(self, params, scenario):
        super().__init__(params, scenario)
        self._label, self._score = params.scorer.build()
        self._cut: float | None = params.threshold
        self._tie_p = 1.0  # a fixed threshold sends score == threshold strong
        share = params.strong_share
        self._how = ("fixed threshold" if share is None else
                     f"calibrated to {share:.0%} strong on the replayed traffic, in-sample")

    def referenced_targets(self) -> dict[tuple, str]:
        return {("strong",): self.params.strong, ("weak",): self.params.weak}

    def method_notes(self) -> list[str]:
        notes = []
        scorer = self.params.scorer
        if isinstance(scorer, LearnedScorer):
            from workbench.policies.learned import learned_note

            if scorer.method == "nested":
                from workbench.policies.quality import quality_note

                notes.append(f"threshold policy: {quality_note(scorer.folds)}; seed {scorer.seed}; score = "
                             f"P({scorer.strong} right) - P({scorer.model} right) from their recorded scores")
            else:
                notes.append(f"threshold policy: {learned_note(scorer.folds)}; seed {scorer.seed}, trained on "
                             f"{scorer.model}'s recorded scores")
        elif isinstance(scorer, DifficultyScorer):
            notes.append("threshold policy: the 'difficulty' scorer reads the field the simulator grades "
                         "against: an upper bound, not a deployable router")
        if self.params.strong_share is not None:
            notes.append(f"threshold policy: cut calibrated to {self.params.strong_share:.0%} strong calls "
                         "on the replayed traffic itself (in-sample)")
        return notes

    def fit(self, requests: Sequence[Request]) -> None:
        """Score every request (so a bad one fails before the clock starts); calibrate if asked to."""
        if isinstance(self.params.scorer, LearnedScorer):
            self.params.scorer.fit_scores(requests, self.scenario)
        scores = [self._score(r) for r in requests]
        if self.params.strong_share is not None:
            self._cut, self._tie_p = calibrate(scores, self.params.strong_share)

    def decide(self, req, ctx: RouteContext) -> Decision:
        cut = self._cut
        if cut is None:
            raise RuntimeError("policy 'threshold' with strong_share must be fitted first: call "
                               "fit(requests) with the requests to calibrate on (the runner does)")
        s = self._score(req)
        p, label, how = self.params, self._label, self._how
        if s > cut:
            return Decision(p.strong, f"{label} score {s:.6g} > {cut:.6g} ({how}) -> {p.strong}", s)
        if s < cut:
            return Decision(p.weak, f"{label} score {s:.6g} < {cut:.6g} ({how}) -> {p.weak}", s)
        if self._tie_p >= 1.0:
            return Decision(p.strong, f"{label} score {s:.6g} >= {cut:.6g} ({how}) -> {p.strong}", s)
        # A tie at a calibrated cut: strong with probability tie_p, which fit() chose so that the
        # expected number of strong calls is exactly strong_share * n. The draw is fixed by the request
        # and the seed, so every replay of this scenario routes each tied request the same way.
        u = ctx.uniform(_SALT)
        strong = u < self._tie_p
        target = p.strong if strong else p.weak
        return Decision(target, f"{label} score {s:.6g} = {cut:.6g}, tie draw {u:.3f} "
                        f"{'<' if strong else '>='} {self._tie_p:.3f} ({how}) -> {target}", s)
