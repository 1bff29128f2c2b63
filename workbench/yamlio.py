"""Reading workbench YAML files: one loader, a line for every path, one clear error.

Why its own module: scenarios, exercise rubrics and the app's editor all read YAML written by people,
and must read it alike: YAML 1.2 booleans (``on``, ``no`` and ``off`` stay strings), duplicate keys
rejected (a second ``seed:`` must not silently win), merge keys allowed, and every error naming the
file, the line and the field. pydantic knows the field that is wrong, YAML knows the line; the user
needs both, in one message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from workbench.errors import InputError, ScenarioError

__all__ = ["YamlLoader", "read_text", "read_yaml", "field_error", "problem", "line_for", "dotted"]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false, so ``on``, ``no`` or ``off`` stay strings
    (a category called ``no`` or a key called ``on`` must not silently turn into a boolean), and
    duplicate keys are errors (a second ``seed:`` must not silently win)."""

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, f"expected a mapping, found {node.id}",
                                                    node.start_mark)
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` merges, it does not repeat
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                        key_node.start_mark) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


#: The loader of every workbench YAML file (YAML 1.2 booleans, duplicate keys rejected), for code that
#: needs the data only (the app's editor); :func:`read_yaml` adds the line map and the error.
YamlLoader = _Loader


def read_text(path: Path, what: str, error: type[InputError] = ScenarioError) -> str:
    """The file's UTF-8 text; a missing or unreadable file is one ``error`` naming it (``what``: "scenario")."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"no such {what} file", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read: {exc}", file=path) from None


def read_yaml(text: str, where: str, error: type[InputError] = ScenarioError) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML the workbench way (YAML 1.2 booleans, duplicate keys rejected) and map each path to
    its line; a syntax error is one ``error`` naming ``where``, the line and the field. For every
    workbench YAML file (scenarios, rubrics, the app's editor), so they all read alike."""
    lines: dict[tuple, int] = {}
    try:
        node = yaml.compose(text, Loader=_Loader)
        if node is not None:
            _map_lines(node, (), lines)
        try:
            data = yaml.load(text, Loader=_Loader)  # noqa: S506  (_Loader is a SafeLoader)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as exc:
            # PyYAML's scalar constructors raise these on values such as `seed: 2001-13-01`.
            raise error(f"invalid YAML value: {exc}", file=where) from None
    except RecursionError:
        raise error("invalid YAML: nested too deeply", file=where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark else None
        at_line = [p for p, n in lines.items() if n == line and p]
        raise error(f"invalid YAML: {problem}", file=where, line=line,
                    field=_dotted(max(at_line, key=len)) if at_line else None) from None
    return data, lines


def field_error(exc: ValidationError, where: str, lines: dict[tuple, int], error: type[InputError] = ScenarioError,
                unknown: str = "unknown field (check the spelling; see the scenario reference in README.md)") -> InputError:
    """The first problem of a pydantic error as one ``error`` naming the file, line and field."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = _clean_loc(first["loc"])
    msg = unknown if first["type"] == "extra_forbidden" else problem(first)
    more = len(errors) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return error(msg, file=where, line=_line_for(lines, loc), field=_dotted(loc))


def problem(error: dict) -> str:
    """What one pydantic error says, in the words of a workbench file (booleans, missing fields)."""
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "bool_type":
        return f"must be true or false, got {error['input']!r} (on, yes, 1 and the like are not booleans here)"
    return error["msg"]


def _clean_loc(loc: tuple) -> tuple:
    # pydantic adds the arrival union's tag ('poisson') after 'arrival', and '[key]' markers; drop them.
    out = []
    for part in loc:
        if isinstance(part, str) and (part.endswith("[key]") or (
                out and out[-1] == "arrival" and part in {"poisson", "recorded", "burst"})):
            continue
        out.append(part)
    return tuple(out)


def _map_lines(root: yaml.Node, path: tuple, out: dict[tuple, int]) -> None:
    # Iterative, and each node once: an alias points at a node already mapped (so a self-referencing
    # anchor or an alias bomb cannot recurse or explode); only plain keys have a path.
    seen: set[int] = set()
    stack = [(root, path)]
    while stack:
        node, at = stack.pop()
        out.setdefault(at, node.start_mark.line + 1)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    out[at + (key.value,)] = key.start_mark.line + 1
                    stack.append((value, at + (key.value,)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, at + (i,)) for i, item in enumerate(node.value))


def _line_for(lines: dict[tuple, int], loc: tuple) -> int | None:
    loc = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _dotted(loc: tuple) -> str | None:
    if not loc:
        return None
    return re.sub(r"\.\[", "[", ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc))


line_for = _line_for
dotted = _dotted
