"""Form edits of a scenario, as functions over its YAML tree (a mapping), plus YAML in and out.

Why on the raw YAML and not on the pydantic model: the form must keep working while the design is
invalid (a fallback to a model not yet added, a policy whose params are still being typed), and the
YAML text stays the one source of truth: every edit is applied to the round-trip tree the text parses
to (ruamel.yaml, :mod:`workbench.yamlio`), changing only the fields edited, and the tree is dumped
again, so the file's comments (a scenario's brief), key order and layout survive a form edit. The
scenario's own validation (``workbench.scenario.parse_scenario``) then judges the result, with its
file:line field message.

Each function changes ``data`` in place and raises :class:`InputError` naming the field for an edit
that cannot be expressed at all (a duplicate name, params that are not a mapping).
"""

from __future__ import annotations

import re
from typing import Any

from workbench import yamlio
from workbench.errors import ErrorKind, InputError
from workbench.registry import provider_kind_names, unknown_provider_message

__all__ = ["load_yaml_data", "dump_yaml", "set_field", "set_model", "add_model", "remove_model",
           "set_provider", "add_fallback", "remove_fallback", "set_policy", "parse_params", "set_human",
           "remove_human", "set_budget", "set_name_line", "ERROR_KINDS", "provider_names"]

#: Error kinds a fallback rule or retry may name (circuit_open is the client's own, never a rule's).
ERROR_KINDS = [k.value for k in ErrorKind if k is not ErrorKind.CIRCUIT_OPEN]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def load_yaml_data(text: str, where: str = "<yaml>") -> Any:
    """The round-trip tree ``text`` parses to under the scenario's YAML rules (YAML 1.2, comments kept);
    an :class:`InputError` naming the line and field if it cannot."""
    tree, _, _ = yamlio.read_tree(text, where, InputError)
    return tree


def dump_yaml(data: Any) -> str:
    """YAML text of a tree (its comments, key order and layout kept) or of plain data."""
    return yamlio.dump_yaml(data)


def _name(value: str, field: str) -> str:
    value = (value or "").strip()
    if not _NAME.match(value):
        raise InputError(f"'{value}' is not a name (letters, digits, - _ . ; no spaces)", field=field)
    return value


def _fleet(data: dict) -> dict:
    fleet = data.setdefault("fleet", {})
    if not isinstance(fleet, dict):
        raise InputError("fleet is not a mapping: fix it in the YAML first", field="fleet")
    return fleet


def _member(data: dict, member: str) -> dict:
    fleet = _fleet(data)
    if member not in fleet:
        raise InputError(f"no fleet model '{member}'", field="fleet")
    if not isinstance(fleet[member], dict):
        fleet[member] = {}
    return fleet[member]


def set_field(data: dict, key: str, value: Any) -> None:
    """Set a top-level field (name, description, seed, concurrency); None removes it."""
    if value is None or value == "":
        data.pop(key, None)
    else:
        yamlio.assign(data, key, value)


def set_model(data: dict, member: str, model: str) -> None:
    """Point fleet member ``member`` at litellm model ``model`` (a swap keeps the member's other settings)."""
    model = (model or "").strip()
    if not model:
        raise InputError("a model name is required", field=f"fleet.{member}.model")
    yamlio.assign(_member(data, member), "model", model)


def add_model(data: dict, name: str, model: str, provider: str = "simulated") -> None:
    """Add a fleet member ``name`` running ``model``."""
    name = _name(name, "fleet")
    fleet = _fleet(data)
    if name in fleet or name in (data.get("humans") or {}):
        raise InputError(f"'{name}' is already a fleet model or a human node", field=f"fleet.{name}")
    if not (model or "").strip():
        raise InputError("a model name is required", field=f"fleet.{name}.model")
    yamlio.assign(fleet, name, {"model": model.strip(), "provider": provider})


def _drop_rules_to(data: dict, target: str) -> None:
    fallbacks = data.get("fallbacks")
    if isinstance(fallbacks, dict):
        for src, rules in list(fallbacks.items()):
            if isinstance(rules, list):
                for i in reversed(range(len(rules))):  # in place: the other rules keep their comments
                    if isinstance(rules[i], dict) and rules[i].get("to") == target:
                        del rules[i]
                if not rules:
                    del fallbacks[src]
        if not fallbacks:
            del data["fallbacks"]


def remove_model(data: dict, name: str) -> None:
    """Remove a fleet member and every fallback rule from or to it (router params are left to fix)."""
    _fleet(data).pop(name, None)
    if isinstance(data.get("fallbacks"), dict):
        data["fallbacks"].pop(name, None)
    _drop_rules_to(data, name)


def provider_names() -> list[str]:
    """The provider kinds a fleet member can run on (the registered ones, in display order)."""
    return provider_kind_names()


def set_provider(data: dict, member: str, provider: str) -> None:
    """Run fleet member ``member`` on a registered provider kind (simulated, recorded, live, ...)."""
    if provider not in provider_kind_names():
        raise InputError(unknown_provider_message(provider), field=f"fleet.{member}.provider")
    yamlio.assign(_member(data, member), "provider", provider)


def add_fallback(data: dict, source: str, to: str, errors: list[str] | None = None) -> None:
    """Append a rule to ``source``'s fallback chain: on ``errors`` (any kind when empty) go to ``to``."""
    rule: dict[str, Any] = {"to": to}
    if errors:
        rule["errors"] = list(errors)
    fallbacks = data.setdefault("fallbacks", yamlio.to_node({}))
    if not isinstance(fallbacks, dict):
        raise InputError("fallbacks is not a mapping: fix it in the YAML first", field="fallbacks")
    chain = fallbacks.setdefault(source, yamlio.to_node([]))
    if not isinstance(chain, list):
        raise InputError("a fallback chain is a list of rules", field=f"fallbacks.{source}")
    chain.append(yamlio.to_node(rule))


def remove_fallback(data: dict, source: str, index: int) -> None:
    """Remove rule ``index`` of ``source``'s fallback chain."""
    chain = (data.get("fallbacks") or {}).get(source)
    if not isinstance(chain, list) or not 0 <= index < len(chain):
        raise InputError(f"no fallback rule {index} for '{source}'", field=f"fallbacks.{source}")
    del chain[index]
    if not chain:
        del data["fallbacks"][source]
        if not data["fallbacks"]:
            del data["fallbacks"]


def parse_params(text: str) -> dict:
    """Policy params typed as YAML or JSON (JSON is YAML); blank means none."""
    if not (text or "").strip():
        return {}
    try:
        params = yamlio.plain(load_yaml_data(text))
    except InputError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        raise InputError(f"not YAML or JSON{where}: {exc.reason.removeprefix('invalid YAML: ')}",
                         field="router.params") from None
    if not isinstance(params, dict):
        raise InputError("params are a mapping, e.g. {target: large}", field="router.params")
    return params


def set_policy(data: dict, policy: str, params: dict) -> None:
    """Route with ``policy`` and ``params`` (validated with the whole scenario afterwards)."""
    yamlio.assign(data, "router", {"policy": policy, "params": params} if params else {"policy": policy})


def set_human(data: dict, name: str, agents: int, handling_time_s: float, cost_per_request_usd: float,
              accuracy: float | None = None) -> None:
    """Add or update a human node (a queue of agents that answers what models could not)."""
    name = _name(name, "humans")
    if name in _fleet(data):
        raise InputError(f"'{name}' is already a fleet model", field=f"humans.{name}")
    humans = data.setdefault("humans", yamlio.to_node({}))
    node: dict[str, Any] = {"agents": agents, "handling_time_s": handling_time_s,
                            "cost_per_request_usd": cost_per_request_usd}
    if accuracy is not None:
        node["accuracy"] = accuracy
    yamlio.assign(humans, name, node)


def remove_human(data: dict, name: str) -> None:
    """Remove a human node and every fallback rule to it."""
    humans = data.get("humans")
    if isinstance(humans, dict):
        humans.pop(name, None)
        if not humans:
            del data["humans"]
    _drop_rules_to(data, name)


def set_budget(data: dict, max_usd: float | None, on_exceed: str = "reject", downgrade_to: str | None = None) -> None:
    """Cap the run's spending (None removes the budget); when spent, reject or downgrade."""
    if max_usd is None:
        data.pop("budget", None)
        return
    budget: dict[str, Any] = {"max_usd": max_usd, "on_exceed": on_exceed}
    if on_exceed == "downgrade" and downgrade_to:
        budget["downgrade_to"] = downgrade_to
    yamlio.assign(data, "budget", budget)


def set_name_line(text: str, name: str) -> str:
    """``text`` with its top-level ``name:`` set to ``name`` (comments and layout kept); added if absent."""
    line = f"name: {name}"
    new, n = re.subn(r"(?m)^name:.*$", line, text, count=1)
    return new if n else f"{line}\n{text}"
