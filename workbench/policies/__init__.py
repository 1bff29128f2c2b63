"""Routing policies, one a module; see :mod:`workbench.policies.base` for the contract."""

from workbench.policies.base import (
                                     Consult,
                                     Decision,
                                     FleetState,
                                     Policy,
                                     RouteContext,
                                     build_policy,
                                     get_policy,
                                     policy_names,
)

__all__ = ["Consult", "Decision", "FleetState", "Policy", "RouteContext", "build_policy", "get_policy", "policy_names"]
