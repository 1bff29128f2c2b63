"""Providers answer provider calls: simulated (here), recorded and live (their own modules)."""

from workbench.providers.base import FleetProvider, Outcome, Provider, make_provider, provider_kinds

__all__ = ["FleetProvider", "Outcome", "Provider", "make_provider", "provider_kinds"]
