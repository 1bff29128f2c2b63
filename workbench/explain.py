"""Explain a route without calling any provider: the policy's decision, the fallback chain and the route's steps.

Why: an architect (or an interview panel) wants to ask "where would *this* request go, and what
happens if that model fails?" of a design, instantly and for free. The policy decides exactly as in
a replay (same seed, same request key); the fallback chain is listed in the order the replay would
walk it if every attempt failed with a matching error.
"""

from __future__ import annotations

from typing import Any

from workbench.policies import Policy, RouteContext, build_policy
from workbench.scenario import Scenario
from workbench.seeds import check_seed, key64, request_key
from workbench.steps import route_steps
from workbench.traffic import Request

__all__ = ["explain", "fallback_chain", "monitor_list"]


def fallback_chain(scenario: Scenario, target: str) -> list[dict[str, Any]]:
    """Fallbacks of ``target`` in the replay's order (a target's own rules appended, none twice)."""
    visited = {target}
    pending = [(target, r) for r in scenario.fallbacks.get(target, ())]
    out = []
    while pending:
        source, rule = pending.pop(0)
        if rule.to in visited:
            continue
        visited.add(rule.to)
        kind = "human" if rule.to in scenario.humans else "model"
        out.append({"after": source, "to": rule.to, "kind": kind,
                    "errors": [e.value for e in rule.errors] if rule.errors else "any but configuration errors"})
        pending.extend((rule.to, r) for r in scenario.fallbacks.get(rule.to, ()))
    return out


def explain(scenario: Scenario, text: str, *, category: str | None = None, difficulty: float | None = None,
            metadata: dict | None = None, request_id: str | None = None, seed: int | None = None) -> dict:
    """The route ``text`` would take under ``scenario`` and why, as a JSON-ready dict.

    With ``request_id`` (a traffic id) and the run's seed, a random policy draws exactly as it did in
    the replay; without it the id is derived from the text, so the same text gets the same answer.
    """
    policy = build_policy(scenario)
    if request_id is None:
        request_id = f"explain-{key64(text):016x}"
    run_seed = scenario.seed if seed is None else check_seed(seed)
    if type(policy).fit is not Policy.fit:  # calibrated on the replayed traffic, as in a run
        from workbench.runner import replayed_requests

        policy.fit(replayed_requests(scenario, run_seed))
    req = Request(id=request_id, prompt=text, category=category, difficulty=difficulty,
                  metadata=dict(metadata or {}))
    decision = policy.decide(req, RouteContext(0.0, 0.0, request_key(run_seed, request_id)))
    consult = decision.consult.model if decision.consult else None
    target = decision.target
    spec = scenario.fleet.get(target) if target else None
    retry = scenario.retries
    steps = route_steps(scenario, target)
    return {
        "scenario": scenario.name, "policy": scenario.router.policy, "seed": run_seed, "request_id": request_id,
        "consult": consult,  # a model the policy asks first (explain makes no call, so no target yet)
        "target": target, "target_model": spec.model if spec else ("human" if target else None),
        "reason": decision.reason, "score": decision.score,
        "retries": {"max_retries": retry.max_retries, "errors": [e.value for e in retry.errors]},
        "fallbacks": fallback_chain(scenario, target) if target else [],
        "budget": None if scenario.budget is None else scenario.budget.model_dump(mode="json"),
        **({"steps": steps} if steps else {}),  # the route's tool and data steps, when it has any
        "monitors": monitor_list(scenario),
    }


def monitor_list(scenario: Scenario) -> list[dict[str, Any]]:
    """The scenario's monitors: what each watches, with which detector and parameters, and its action."""
    out = []
    for m in scenario.monitors:
        det = m.detector.model_dump(mode="json", exclude={"type", "direction"})
        params = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in det.items())
        action = m.action if isinstance(m.action, str) else f"switch_fallback:{m.action.switch_fallback}"
        out.append({"name": m.name, "metric": m.metric, "target": m.target or "the design",
                    "detector": f"{m.detector.type} ({params}; {m.direction})", "action": action})
    return out
