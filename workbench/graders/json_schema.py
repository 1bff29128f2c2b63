"""``json_schema``: 1 when the answer is JSON that a JSON Schema accepts, else 0.

Why: structured output (a tool call, an extraction) is right or wrong by its shape before anything
else, and a router that sends it to a model that breaks the format costs a retry or a bug. The answer
is parsed whole; failing that, its first fenced block marked ``json`` is, because chat models wrap JSON
in Markdown. ``NaN`` and ``Infinity`` are not JSON and fail. The schema is written inline in the
scenario and checked against its own metaschema (the ``jsonschema`` library, any draft it knows,
Draft 2020-12 when ``$schema`` is absent) when the scenario is built, with ``format`` checked. Only
local references (``$ref: "#/..."``) are allowed: a replay never fetches anything, and an unreachable
reference would otherwise fail mid-run. The schema's regexes (``pattern``, ``patternProperties``, and
so ``additionalProperties``) run on RE2 like every user regex (linear time, see
:func:`workbench.registry.compile_regex`); one RE2 cannot run is an error when the scenario is built.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Any

from pydantic import Field, field_validator

from workbench.graders.base import Grader, GraderParams, register
from workbench.registry import check_regex, compile_regex

__all__ = ["JsonSchema", "extract_json"]

_FENCE = re.compile(r"```[ \t]*json[ \t]*\r?\n(.*?)```", re.I | re.S)
_NOT_JSON = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return _NOT_JSON


def extract_json(text: str) -> tuple[bool, Any]:
    """``(True, value)``: the answer parsed as JSON, else its first ```json block; ``(False, None)``."""
    value = _loads(text)
    if value is _NOT_JSON:
        m = _FENCE.search(text)
        if m:
            value = _loads(m[1])
    return (False, None) if value is _NOT_JSON else (True, value)


def _remote_ref(node: Any) -> str | None:
    """The first ``$ref`` in ``node`` that does not point inside the schema, or None."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                return ref
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _validator_class(schema: dict[str, Any]) -> Any:
    """The validator class of the schema's ``$schema`` draft (2020-12 when absent), its regex keywords on
    RE2; ValueError if unknown."""
    from jsonschema import Draft202012Validator, validators

    declared = schema.get("$schema")
    if declared is None:
        return _on_re2(Draft202012Validator)
    cls = validators.validator_for(schema, default=None) if isinstance(declared, str) else None
    if cls is None:
        raise ValueError(f"unknown $schema {declared!r} (use a JSON Schema draft's URI, or leave it out)")
    return _on_re2(cls)


def _on_re2(cls: Any) -> Any:
    """``cls`` with the keywords that search a regex in the answer (``pattern``, ``patternProperties``,
    ``additionalProperties``) searching with RE2 instead of Python's backtracking ``re``."""
    from jsonschema import ValidationError, validators

    def pattern(validator, regex, instance, schema):
        if validator.is_type(instance, "string") and not compile_regex(regex).search(instance):
            yield ValidationError(f"{instance!r} does not match {regex!r}")

    def pattern_properties(validator, patterns, instance, schema):
        for regex, subschema in patterns.items() if validator.is_type(instance, "object") else ():
            for key in [k for k in instance if compile_regex(regex).search(k)]:
                yield from validator.descend(instance[key], subschema, path=key, schema_path=regex)

    def additional_properties(validator, allowed, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        regexes = [compile_regex(r) for r in schema.get("patternProperties", {})]
        extras = [k for k in instance if k not in schema.get("properties", {}) and not any(
            rx.search(k) for rx in regexes)]
        if validator.is_type(allowed, "object"):
            for key in extras:
                yield from validator.descend(instance[key], allowed, path=key)
        elif not allowed and extras:
            yield ValidationError(f"additional properties are not allowed ({', '.join(map(repr, extras))})")

    return validators.extend(cls, {"pattern": pattern, "patternProperties": pattern_properties,
                                   "additionalProperties": additional_properties})


def _regexes(node: Any) -> list[tuple[str, str]]:
    """Every regex of a schema, as (where, regex): ``pattern`` values and ``patternProperties`` keys."""
    out, stack = [], [("", node)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("pattern"), str):
                out.append((f"{where}/pattern", item["pattern"]))
            if isinstance(item.get("patternProperties"), dict):
                out += [(f"{where}/patternProperties", k) for k in item["patternProperties"]]
            stack += [(f"{where}/{k}", v) for k, v in item.items() if k not in ("const", "enum", "examples")]
        elif isinstance(item, list):
            stack += [(f"{where}/{i}", v) for i, v in enumerate(item)]
    return out


@register
class JsonSchema(Grader):
    """1 when the answer (or its first ```json block) is JSON valid against ``schema``, else 0."""

    name = "json_schema"

    params: Params  # the validated params: this class's own, not the base GraderParams

    class Params(GraderParams):
        """``schema``: the JSON Schema, inline (a mapping)."""

        # "schema" would shadow BaseModel.schema; the YAML key is still ``schema``
        schema_: dict[str, Any] = Field(alias="schema")

        @field_validator("schema_")
        @classmethod
        def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
            from jsonschema import SchemaError

            try:
                _validator_class(schema).check_schema(schema)
            except SchemaError as exc:
                where = "/".join(map(str, exc.absolute_path))
                raise ValueError(f"invalid JSON Schema{' at ' + where if where else ''}: "
                                 f"{exc.message}") from None
            except RecursionError:
                raise ValueError("invalid JSON Schema: nested too deeply") from None
            ref = _remote_ref(schema)
            if ref is not None:
                raise ValueError(f"$ref '{ref}' points outside the schema (only '#/...' references work)")
            for where, regex in _regexes(schema):
                try:
                    check_regex(regex)
                except ValueError as exc:
                    raise ValueError(f"invalid JSON Schema at {where.lstrip('/')}: {exc}") from None
            return schema

    @cached_property
    def _validator(self) -> Any:
        cls = _validator_class(self.params.schema_)
        return cls(self.params.schema_, format_checker=cls.FORMAT_CHECKER)

    def score(self, req, text, provider_score):
        if text is None:
            return None
        ok, value = extract_json(text)
        if not ok:
            return 0.0
        return 1.0 if self._validator.is_valid(value) else 0.0
