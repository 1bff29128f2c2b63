"""Providers answer provider calls, one kind a module; see :mod:`workbench.providers.base` for the contract."""

from workbench.providers.base import FleetProvider, Outcome, Provider, check_provider, make_provider, register

__all__ = ["FleetProvider", "Outcome", "Provider", "check_provider", "make_provider", "register"]
