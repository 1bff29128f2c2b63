"""A synthetic production log from a randomized router, with the truth known from the simulator.

The fleet is the workbench's simulated fleet (calibrated profiles, no random failures); prompts are
``scenarios/traffic/support_tickets.jsonl``, drawn uniformly with replacement; the logging router draws
each prompt's model with probabilities that depend on the prompt's difficulty (and logs them); the
answer's quality and cost are the simulator's own draws for that call. The true value of a target
policy is its expectation over the pool under the simulator's model: quality ``P(correct)`` of
``providers/simulated.py`` (``quality_easy + (quality_hard - quality_easy) * difficulty +
category_quality``) and cost ``prompt tokens x input price + E[output tokens] x output price`` with
output tokens ``max(1, round(output_tokens * (0.6 + 0.8 d) * LogNormal(0, 0.4)))`` as the simulator
draws them (the expectation taken over the normal's 20,000 midpoint quantiles).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from conftest import SCENARIOS

from workbench.analysis.offpolicy import LoggedBandit
from workbench.providers.simulated import SimulatedProvider
from workbench.scenario import parse_scenario
from workbench.seeds import request_key
from workbench.traffic import Request, load_traffic

FLEET_YAML = """name: synthetic-log
fleet:
  strong: {model: gpt-4o, sim: {error_rates: {}}}
  small: {model: gpt-4o-mini, sim: {error_rates: {}, category_quality: {account: 0.05, billing: 0.04}}}
  local: {model: ollama/llama3, price: {input_per_mtok: 0.05, output_per_mtok: 0.1},
          sim: {error_rates: {}, category_quality: {outage: -0.1}}}
router: {policy: static, params: {target: strong}}
traffic: {source: none.jsonl}
"""
ACTIONS = ("strong", "small", "local")
_OUT_SIGMA = 0.4  # providers/simulated.py draws output length with _lognormal(..., 0.4)


@dataclass
class Fleet:
    """The simulated fleet, its prompt pool and per (prompt, model) expected quality and cost."""

    provider: SimulatedProvider
    pool: list[Request]
    categories: tuple[str, ...]
    category: np.ndarray      # pool index -> category index
    difficulty: np.ndarray    # pool index -> difficulty
    quality: np.ndarray       # pool x action: P(correct)
    cost: np.ndarray          # pool x action: E[cost in USD]


def build_fleet() -> Fleet:
    """Build the simulated fleet over the support tickets (tokenizes once: a few seconds)."""
    scn = parse_scenario(FLEET_YAML)
    pool = load_traffic(SCENARIOS / "traffic" / "support_tickets.jsonl").requests
    prov = SimulatedProvider(scn, list(ACTIONS), pool, seed=0)
    cats = tuple(sorted({r.category or "" for r in pool}))
    d = np.array([0.5 if r.difficulty is None else r.difficulty for r in pool])
    z = np.array([NormalDist().inv_cdf((i + 0.5) / 20_000) for i in range(20_000)])
    quality = np.zeros((len(pool), len(ACTIONS)))
    cost = np.zeros_like(quality)
    for j, name in enumerate(ACTIONS):
        m = prov.models[name]
        for i, r in enumerate(pool):
            p = m.q_easy + (m.q_hard - m.q_easy) * d[i] + m.cat_q.get(r.category, 0.0)
            quality[i, j] = min(max(p, 0.0), 1.0)
        means = m.out_mean * (0.6 + 0.8 * d)
        # E[max(1, round(mean x LN))] per prompt, over the normal's quantiles
        out = np.array([np.maximum(1, np.round(mu * np.exp(_OUT_SIGMA * z))).mean() for mu in means])
        ptok = np.array([m.tokens[r.prompt] for r in pool], dtype=float)
        cost[:, j] = ptok * m.price.in_rate + out * m.price.out_rate  # litellm's one-token prices (workbench.pricing)
    return Fleet(prov, pool, cats, np.array([cats.index(r.category or "") for r in pool]), d, quality, cost)


def uniform_logging(fleet: Fleet) -> np.ndarray:
    """A randomized router whose choice depends on difficulty: harder prompts go strong more often."""
    d = fleet.difficulty
    return np.stack([0.2 + 0.5 * d, 0.5 - 0.3 * d, 0.3 - 0.2 * d], axis=1)


def skewed_logging(fleet: Fleet) -> np.ndarray:
    """A router that almost never leaves the strong model: poor overlap for anything else."""
    return np.tile([0.98, 0.01, 0.01], (len(fleet.pool), 1))


def target_policy(fleet: Fleet) -> np.ndarray:
    """The new design (pool x action, one-hot): hard prompts strong, billing and account small, the rest local."""
    cats = np.array(fleet.categories)[fleet.category]
    choice = np.where(fleet.difficulty >= 0.6, 0, np.where(np.isin(cats, ["billing", "account"]), 1, 2))
    return np.eye(len(ACTIONS))[choice]


def true_value(fleet: Fleet, target: np.ndarray) -> tuple[float, float]:
    """The target policy's expected mean quality and cost per request over the pool."""
    return float(np.mean(np.sum(target * fleet.quality, axis=1))), float(np.mean(np.sum(target * fleet.cost, axis=1)))


def draw_log(fleet: Fleet, logging: np.ndarray, n: int, seed: int) -> tuple[LoggedBandit, np.ndarray]:
    """``n`` logged rows under ``seed``: the log, and each row's pool index."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(fleet.pool), n)
    probs = logging[rows]
    u = rng.random(n)
    action = np.minimum((u[:, None] > np.cumsum(probs, axis=1)).sum(axis=1), len(ACTIONS) - 1)
    quality = np.empty(n)
    cost = np.empty(n)
    calls = [fleet.provider.bind(a) for a in ACTIONS]
    for i in range(n):
        out = calls[action[i]](fleet.pool[rows[i]], request_key(seed, f"log-{i}"), 0.0, 1)
        assert out.ok, out  # the synthetic fleet has no random failures
        quality[i], cost[i] = out.score, out.cost_usd
    log = LoggedBandit(ACTIONS, fleet.categories, action, probs[np.arange(n), action], fleet.category[rows],
                       quality, cost)
    return log, rows


def write_logged_dataset(fleet: Fleet, name: str, logging: np.ndarray, seed: int, *,
                         propensity: str = "logged") -> tuple[LoggedBandit, np.ndarray]:
    """Dataset ``name``: every pool prompt once, answered by the model a randomized router drew (source
    ``logged``), with that draw's probability in the outcomes column ``propensity`` (as the log importers
    write it). ``propensity``: ``logged``, ``null`` (column present, every value NULL) or ``absent``.
    Returns the log as arrays and each row's pool index (row i is pool prompt i)."""
    import json

    import duckdb
    import pandas as pd

    from workbench.store.outcomes import OutcomeStore
    from workbench.traffic import prompt_key

    rng = np.random.default_rng(seed)
    n = len(fleet.pool)
    probs = logging
    action = np.minimum((rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1), len(ACTIONS) - 1)
    prompts, outcomes = [], []
    for i, req in enumerate(fleet.pool):
        key = prompt_key(req)
        prompts.append({"prompt_key": key, "seq": i, "prompt_id": req.id, "prompt": req.prompt, "messages": None,
                        "category": req.category, "difficulty": req.difficulty, "expected": req.expected,
                        "metadata": json.dumps(req.metadata) if req.metadata else None})
        target = ACTIONS[action[i]]
        out = fleet.provider.bind(target)(req, request_key(seed, req.id), 0.0, 1)
        outcomes.append({"prompt_key": key, "model": fleet.provider.models[target].model, "response": out.text,
                         "prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens,
                         "latency_s": out.latency_s, "cost_usd": out.cost_usd, "score": out.score, "source": "logged"})
    path = OutcomeStore.build(name, pd.DataFrame(prompts), pd.DataFrame(outcomes),
                              {"source": "synthetic log of a randomized router (tests/synthetic_log.py)"})
    p = probs[np.arange(n), action]
    if propensity == "absent":  # a dataset written before outcomes had the column (the store adds it now)
        with duckdb.connect(str(path)) as con:
            con.execute("ALTER TABLE outcomes DROP COLUMN IF EXISTS propensity")
    else:
        props = pd.DataFrame({"prompt_key": [o["prompt_key"] for o in outcomes],  # noqa: F841  (read by DuckDB)
                              "p": p if propensity == "logged" else np.full(n, np.nan)})
        with duckdb.connect(str(path)) as con:
            con.execute("ALTER TABLE outcomes ADD COLUMN IF NOT EXISTS propensity DOUBLE")
            con.execute("UPDATE outcomes SET propensity = CASE WHEN isnan(t.p) THEN NULL ELSE t.p END "
                        "FROM props t WHERE outcomes.prompt_key = t.prompt_key")
    quality = np.array([o["score"] for o in outcomes], dtype=float)
    cost = np.array([o["cost_usd"] for o in outcomes], dtype=float)
    return LoggedBandit(ACTIONS, fleet.categories, action, p, fleet.category, quality, cost), np.arange(n)
