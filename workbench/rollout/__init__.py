"""Rollouts: move traffic from a baseline design to a candidate in stages, behind guardrails.

Why a package: a rollout is a plan (:mod:`~workbench.rollout.plan`), a statistical test per guarded
metric (:mod:`~workbench.rollout.guardrails`), a controller that assigns arms and decides stages
(:mod:`~workbench.rollout.controller`), a clock that drives both designs' engines on one heap
(:mod:`~workbench.rollout.clock`) and the run that ties them to the trace store
(:mod:`~workbench.rollout.run`). Each is small; together they sit beside the runner, above replay.
"""

from workbench.rollout.plan import Guardrail, RolloutPlan, Stage, load_plan, parse_plan
from workbench.rollout.run import RolloutPrepared, RolloutResult, prepare_rollout, run_rollout

__all__ = ["Guardrail", "RolloutPlan", "Stage", "load_plan", "parse_plan", "RolloutPrepared", "RolloutResult",
           "prepare_rollout", "run_rollout"]
