"""One :class:`~.common.LogRecord` -> one staged row: scrubbed, keyed, counted and priced.

Why scrubbing happens here, first: every text of a record (chat, prompt, answer, metadata, user, session,
tags) passes through the scrubber before the prompt's key is computed and before anything reaches the
writer, so no scrubbed value can reach the dataset, its WAL or anything exported from it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from workbench import catalog
from workbench.datasets.generic import Pricer
from workbench.datasets.logs.common import LogRecord, Where
from workbench.datasets.logs.scrub import Scrubber

__all__ = ["RowMaker"]


class RowMaker:
    """Turns records into staged rows; counts what it had to fill in."""

    def __init__(self, pricer: Pricer, scrubber: Scrubber | None, score: str | None):
        self.pricer, self.scrubber, self.score_name = pricer, scrubber, score
        self.tokens_counted = self.costs_priced = self.no_latency = 0
        self._models: set[str] = set()

    def row(self, rec: LogRecord, where: Where) -> dict[str, Any]:
        """The staged row of ``rec`` (keys of :data:`workbench.store.logged.STAGE_COLUMNS`)."""
        if self.scrubber is not None:
            _scrub(rec, self.scrubber)
        if rec.messages:
            users = [m["content"] for m in rec.messages if m["role"] == "user"]
            prompt = users[-1] if users else rec.messages[-1]["content"]
        else:
            prompt = rec.prompt or ""
        if not prompt.strip():
            raise where.error("the request has no prompt text", "messages" if rec.messages else "prompt")
        # the key as workbench.traffic.prompt_key computes it, from the one JSON text also stored (one dump)
        chat = json.dumps(rec.messages, sort_keys=True, ensure_ascii=False, separators=(",", ":")) \
            if rec.messages else None
        key = hashlib.sha256((chat if chat is not None else prompt).encode("utf-8")).hexdigest()
        meta = dict(rec.metadata)
        for k, v in (("user", rec.user), ("session", rec.session), ("tags", rec.tags or None),
                     ("logged_model", rec.model), ("propensity", rec.propensity)):
            if v is not None:
                meta[k] = v
        if rec.propensity is not None and not 0 < rec.propensity <= 1:
            raise where.error("a choice probability is in (0, 1]", "propensity")
        row: dict[str, Any] = {
            "file": str(where.file), "line": where.line, "prompt_key": key, "prompt_id": rec.request_id,
            "prompt": prompt, "messages": chat,
            "category": rec.category, "metadata": json.dumps(meta, ensure_ascii=False, default=str) if meta else None,
            "arrived_at": rec.arrived_at}
        if rec.model is not None:
            row.update(self._outcome(rec, key, where))
        return row

    def _outcome(self, rec: LogRecord, key: str, where: Where) -> dict[str, Any]:
        model = rec.model
        assert model is not None
        ptok, ctok = rec.prompt_tokens, rec.completion_tokens
        if ptok is None:
            ptok = catalog.count_tokens(model, rec.messages or [{"role": "user", "content": rec.prompt or ""}], key)
            self.tokens_counted += 1
        if ctok is None:
            ctok = catalog.count_text_tokens(model, rec.response or "")
            self.tokens_counted += 1
        cost = rec.cost_usd
        if cost is None:
            if self.pricer.info(model) is None:
                raise where.error(f"model {model!r} logged no cost and has no price in litellm's map: give "
                                  f"--price '{model}=IN,OUT' (USD per million tokens)", "model")
            cost = self.pricer.cost(model, ptok, ctok)
            self.costs_priced += 1
            self._models.add(model)
        if rec.latency_s is None:
            self.no_latency += 1
        return {"model": model, "response": rec.response, "prompt_tokens": ptok, "completion_tokens": ctok,
                "latency_s": rec.latency_s, "cost_usd": cost, "score": self._score(rec.feedback, where),
                "feedback": json.dumps(rec.feedback, ensure_ascii=False, default=str) if rec.feedback else None,
                "propensity": rec.propensity}

    def _score(self, feedback: dict[str, Any], where: Where) -> float | None:
        if self.score_name is not None:
            value = feedback.get(self.score_name)
            if value is None:
                return None
            score = _unit(value)
            if score is None:
                raise where.error(f"score {self.score_name!r} must be a number in [0, 1] or true/false",
                                  self.score_name)
            return score
        numeric = [s for s in (_unit(v) for v in feedback.values()) if s is not None]
        return numeric[0] if len(numeric) == 1 else None

    def prices_used(self) -> dict[str, dict[str, Any]]:
        """Prices applied to answers that logged no cost, per model."""
        return self.pricer.describe(sorted(self._models))


def _unit(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return 1.0 if value.strip().lower() == "true" else 0.0
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if 0.0 <= x <= 1.0 else None


def _scrub(rec: LogRecord, s: Scrubber) -> None:
    if rec.messages:
        rec.messages = [{"role": m["role"], "content": s.text(m["content"])} for m in rec.messages]
    rec.prompt = s.text(rec.prompt) if rec.prompt else rec.prompt
    rec.response = s.text(rec.response) if rec.response else rec.response
    rec.user = s.text(rec.user) if rec.user else rec.user
    rec.session = s.text(rec.session) if rec.session else rec.session
    rec.category = s.text(rec.category) if rec.category else rec.category
    rec.request_id = s.text(rec.request_id)
    rec.tags = [s.text(t) for t in rec.tags]
    rec.metadata = s.value(rec.metadata)
    rec.feedback = s.value(rec.feedback)
