"""Reading and writing workbench YAML files: one parser, a line for every path, one clear error.

Why its own module: scenarios, sweep spaces, exercise rubrics, the simulated provider's profiles and the
app's editor all read YAML written by people, and must read it alike: YAML 1.2 (``on``, ``no`` and
``off`` stay strings), duplicate keys rejected (a second ``seed:`` must not silently win), merge keys
allowed, and every error naming the file, the line and the field. pydantic knows the field that is
wrong, YAML knows the line; the user needs both, in one message.

Why ruamel.yaml in round-trip mode: one parse gives the data, the line of every key and item (its own
line info, ``CommentedMap.lc``) and a tree that keeps the file's comments, key order and flow style. The
validators get plain dicts and lists (:func:`plain`); writers (the app's form, ``workbench sweep --out``)
change the tree in place (:func:`assign`) and dump it (:func:`dump_yaml`), so a form edit keeps the brief
at the top of a scenario and every comment beside a field.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, CommentedSet, TaggedScalar
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from workbench.errors import InputError, ScenarioError

__all__ = ["YAMLError", "read_text", "read_yaml", "read_tree", "plain", "dump_yaml", "to_node",
           "assign", "patch", "field_error",
           "problem", "line_for", "dotted"]

#: Tags that mean a plain YAML 1.2 value; any other tag (``!!python/...``, ``!custom``) is an error.
_CORE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "omap",
                                                   "set", "timestamp", "binary", "merge")}
_MAX_DEPTH = 100  # a scenario nests about 6 deep; far deeper is a mistake (or an attack), not a design
_PLAIN_KEYS = (str, int, float, bytes, date, type(None))
# ruamel's scalar constructors raise these on values such as `seed: 2001-13-01` or `!!int abc`
_VALUE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)


def _yaml() -> YAML:
    """A round-trip YAML instance with the workbench's settings (one per call: instances keep state)."""
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False  # ruamel's default, stated: a second `seed:` is an error
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a line the author wrote
    y.indent(mapping=2, sequence=4, offset=2)  # the library's style: `  - item` under its key
    y.brace_single_entry_mapping_in_flow_sequence = True  # `[{type: exact}]` stays as written
    y.max_depth = _MAX_DEPTH
    y.composer.warn_double_anchors = False  # a re-defined anchor is legal YAML (the last one wins)
    return y


def read_text(path: Path, what: str, error: type[InputError] = ScenarioError) -> str:
    """The file's UTF-8 text; a missing or unreadable file is one ``error`` naming it (``what``: "scenario")."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"no such {what} file", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read: {exc}", file=path) from None


def read_tree(text: str, where: str, error: type[InputError] = ScenarioError) -> tuple[Any, Any, dict[tuple, int]]:
    """Parse once: ``(tree, data, lines)``: the round-trip tree (comments kept, for writers), the same
    document as plain dicts and lists (for validators) and the line of each path. A syntax error, a
    duplicate key or a tag that is not plain YAML is one ``error`` naming ``where``, the line and the field."""
    try:
        y = _yaml()
        tree = y.load(text)
        version = y.doc_infos[-1].doc_version if y.doc_infos else None
        if version is not None and (version.major, version.minor) != (1, 2):
            raise error(f"workbench files are YAML 1.2: remove the %YAML {version.major}.{version.minor} "
                        "directive", file=where, line=1)
        lines = _tree_lines(tree)
        data = plain(tree, where, error, lines)
    except RecursionError:
        raise error("invalid YAML: nested too deeply", file=where) from None
    except MaxDepthExceededError as exc:
        raise error(f"invalid YAML: nested more than {_MAX_DEPTH} deep", file=where,
                    line=exc.problem_mark.line + 1 if exc.problem_mark else None) from None
    except YAMLError as exc:
        raise _syntax_error(exc, text, where, error) from None
    except _VALUE_ERRORS as exc:
        raise error(f"invalid YAML value: {exc}", file=where) from None
    return tree, data, lines


def read_yaml(text: str, where: str, error: type[InputError] = ScenarioError) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML the workbench way (YAML 1.2, duplicate keys rejected) into plain data and the line of
    each path; a syntax error is one ``error`` naming ``where``, the line and the field. For every
    workbench YAML file (scenarios, spaces, rubrics, the app's editor), so they all read alike."""
    _, data, lines = read_tree(text, where, error)
    return data, lines


def plain(tree: Any, where: str = "<yaml>", error: type[InputError] = ScenarioError,
          lines: dict[tuple, int] | None = None) -> Any:
    """``tree`` as plain dicts, lists, str, int, float and bool (what pydantic validates); a tag that is
    not plain YAML or a key that is not a plain value is one ``error`` at its line and field."""
    memo: dict[int, Any] = {}  # an alias is one object: converted once (no alias bomb), cycles kept

    def fail(msg: str, at: tuple) -> InputError:
        return error(msg, file=where, line=_line_for(lines if lines is not None else {}, at), field=_dotted(at))

    def conv(node: Any, at: tuple) -> Any:
        if id(node) in memo:
            return memo[id(node)]
        tag = getattr(node, "tag", None)
        tag_value = getattr(tag, "value", None)
        if tag_value is not None and tag_value not in _CORE_TAGS:
            raise fail(f"invalid YAML: the tag {tag_value} is not plain YAML (no tags here)", at)
        if isinstance(node, TaggedScalar):  # `!!str 5`
            return str(node.value)
        if isinstance(node, dict):
            out: dict = {}
            memo[id(node)] = out
            for k, v in node.items():
                if not isinstance(k, _PLAIN_KEYS):
                    raise fail("a mapping key must be a plain value", at)
                key = conv(k, at)
                out[key] = conv(v, at + (_path_key(key),))
            return out
        if isinstance(node, list):
            items: list = []
            memo[id(node)] = items
            items.extend(conv(v, at + (i,)) for i, v in enumerate(node))
            return items
        if isinstance(node, CommentedSet):
            return {conv(v, at) for v in node}
        return _scalar(node)

    return conv(tree, ())


def _scalar(value: Any) -> Any:
    # ruamel's scalar types (ScalarInt, ScalarFloat, ScalarBoolean, quoted strings) as Python's own
    if value is None or isinstance(value, bytes | date):
        return value
    if isinstance(value, str):
        return str(value)
    if type(value).__name__ == "ScalarBoolean" or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _path_key(key: Any) -> Any:
    # paths name keys as text (as pydantic's locations do, after _line_for); an int key stays an int
    return key if isinstance(key, int) and not isinstance(key, bool) else str(key)


def _tree_lines(tree: Any) -> dict[tuple, int]:
    # The parser's own line info (lc), each node once: an alias points at a node already mapped, so a
    # self-referencing anchor or an alias bomb cannot recurse or explode. Merged keys (`<<: *x`) have
    # no line of their own here: they fall back to their mapping's.
    out: dict[tuple, int] = {}
    if isinstance(tree, CommentedMap | CommentedSeq) and tree.lc.line is not None:
        out[()] = tree.lc.line + 1
    seen: set[int] = set()
    stack: list[tuple[Any, tuple]] = [(tree, ())]
    while stack:
        node, at = stack.pop()
        if id(node) in seen or not isinstance(node, CommentedMap | CommentedSeq):
            continue
        seen.add(id(node))
        for k, pos in (node.lc.data or {}).items():
            if isinstance(node, CommentedMap):
                if k not in node or isinstance(k, tuple):
                    continue
                path = at + (_path_key(k),)
                out.setdefault(path, pos[0] + 1)
                stack.append((node[k], path))
            elif isinstance(k, int) and k < len(node):
                out.setdefault(at + (k,), pos[0] + 1)
                stack.append((node[k], at + (k,)))
    return out


def _syntax_error(exc: YAMLError, text: str, where: str, error: type[InputError]) -> InputError:
    """One ``error`` for a parser error: the line it marks and the field written on that line."""
    mark = getattr(exc, "problem_mark", None)
    problem_ = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
    if isinstance(exc, DuplicateKeyError):
        m = re.match(r'found duplicate key "(.*)" with value', problem_ or "", re.S)
        problem_ = f"duplicate key '{m.group(1)}'" if m else "duplicate key"
    line = mark.line + 1 if mark else None
    field = None
    if line is not None and isinstance(exc, ConstructorError | DuplicateKeyError):
        # construction failed, so there is no tree: the composed nodes (no construction) name the field
        at_line = [p for p, n in _node_lines(text).items() if n == line and p]
        field = _dotted(max(at_line, key=len)) if at_line else None
    return error(f"invalid YAML: {problem_}", file=where, line=line, field=field)


def _node_lines(text: str) -> dict[tuple, int]:
    out: dict[tuple, int] = {}
    try:
        root = _yaml().compose(text)
    except (YAMLError, RecursionError):
        return out
    seen: set[int] = set()
    stack: list[tuple[Node, tuple]] = [(root, ())] if root is not None else []
    while stack:
        node, at = stack.pop()
        out.setdefault(at, node.start_mark.line + 1)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode):
                    out[at + (key.value,)] = key.start_mark.line + 1
                    stack.append((value, at + (key.value,)))
        elif isinstance(node, SequenceNode):
            stack.extend((item, at + (i,)) for i, item in enumerate(node.value))
    return out


# --- writing ---------------------------------------------------------------------------------------

def dump_yaml(data: Any) -> str:
    """YAML text of ``data``: a round-trip tree with its comments, key order and styles, or plain data
    (keys in their order, block style)."""
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def to_node(value: Any) -> Any:
    """A plain value as a round-trip node: short leaf mappings and lists inline (``{rpm: 500}``)."""
    if isinstance(value, dict) and not isinstance(value, CommentedMap):
        node: Any = CommentedMap((k, to_node(v)) for k, v in value.items())
    elif isinstance(value, list) and not isinstance(value, CommentedSeq):
        node = CommentedSeq(to_node(v) for v in value)
    else:
        return value
    leaf = not any(isinstance(v, dict | list) for v in (node.values() if isinstance(node, dict) else node))
    if leaf and 0 < len(node) <= 6:
        node.fa.set_flow_style()
    return node


def _same(old: Any, new: Any) -> bool:
    # equal values of the same kind (True == 1 and 1 == 1.0, but a boolean is not a number here)
    return all(isinstance(old, kind) == isinstance(new, kind) for kind in (bool, str)) and old == new


def assign(container: Any, key: Any, value: Any, prune: bool = True) -> None:
    """Set ``container[key]`` to ``value`` in place, changing only what differs: a mapping's keys are
    updated one by one (and, with ``prune``, keys ``value`` lacks removed), a list of the same length
    item by item, an equal scalar left as written; so comments and formatting around the rest survive."""
    exists = key in container if isinstance(container, dict) else 0 <= key < len(container)
    old = container[key] if exists else None
    if isinstance(old, dict) and isinstance(value, dict):
        for k in [k for k in old if k not in value] if prune else []:
            del old[k]
        for k, v in value.items():
            assign(old, k, v, prune)
    elif isinstance(old, list) and isinstance(value, list) and len(old) == len(value):
        for i, v in enumerate(value):
            assign(old, i, v, prune)
    elif not (exists and _same(old, value)):
        container[key] = to_node(value)


def patch(node: Any, old: dict, new: dict) -> None:
    """Change mapping ``node`` (read from a file whose data was ``old``) so that it reads as ``new``: only
    keys whose values differ are touched (see :func:`assign`); keys the file writes but ``old`` lacks
    (defaults written out) stay as written."""
    for k in [k for k in old if k not in new]:
        node.pop(k, None)
    for k, v in new.items():
        if k in old and old[k] == v:
            continue
        if isinstance(v, dict) and isinstance(old.get(k), dict) and isinstance(node.get(k), dict):
            patch(node[k], old[k], v)
        else:
            assign(node, k, v)


# --- errors ----------------------------------------------------------------------------------------

_UNKNOWN = "unknown field (check the spelling; see the scenario reference in README.md)"


def field_error(exc: ValidationError, where: str, lines: dict[tuple, int], error: type[InputError] = ScenarioError,
                unknown: str = _UNKNOWN) -> InputError:
    """The first problem of a pydantic error as one ``error`` naming the file, line and field."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = _clean_loc(first["loc"])
    msg = unknown if first["type"] == "extra_forbidden" else problem(first)
    more = len(errors) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return error(msg, file=where, line=_line_for(lines, loc), field=_dotted(loc))


def problem(error: Mapping[str, Any]) -> str:
    """What one pydantic error says, in the words of a workbench file (booleans, missing fields)."""
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "bool_type":
        return f"must be true or false, got {error['input']!r} (on, yes, 1 and the like are not booleans here)"
    return error["msg"]


def _clean_loc(loc: tuple) -> tuple:
    # pydantic adds the arrival union's tag ('poisson') after 'arrival', and '[key]' markers; drop them.
    out: list = []
    for part in loc:
        if isinstance(part, str) and (part.endswith("[key]") or (
                out and out[-1] == "arrival" and part in {"poisson", "recorded", "burst"})):
            continue
        out.append(part)
    return tuple(out)


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


line_for: Callable[[dict[tuple, int], tuple], int | None] = _line_for
dotted: Callable[[tuple], str | None] = _dotted
