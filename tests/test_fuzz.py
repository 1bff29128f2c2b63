"""Fuzzing the scenario and traffic loaders: bad input gives one validation error, never a traceback.

The property, for every input: loading either succeeds, or raises the loader's own error
(:class:`ScenarioError` / :class:`TrafficError`) naming the file (a scenario's in one line). Any other
exception is a bug. Scenario inputs: arbitrary text and bytes, YAML-looking token soup, splices into
the demo scenario, and structured mutations of it (starting from each registered policy's README
example router), all parsed then built (policy and graders). Traffic inputs: JSONL and CSV files of
mostly-good requests with wild values, bad lines, BOMs and stray bytes; corrupted Parquet.

Every bug the fuzzers found has a regression test at the end of this file. A bug found later and not
fixed at once gets an ``xfail(strict=True)`` regression test and a signature in :data:`KNOWN_BUGS`,
so the fuzzers can go on exploring past it; a fixed bug drops both.

Hypothesis runs derandomized and without its example database: the same examples on every run and
machine (for one hypothesis version), and no failure replayed from a local database that CI lacks.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import traceback
from datetime import timedelta, timezone
from pathlib import Path

import duckdb
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from workbench.errors import ScenarioError, TrafficError
from workbench.graders import build_graders, grader_names
from workbench.policies import build_policy, policy_names
from workbench.scenario import Scenario, load_scenario, parse_scenario
from workbench.traffic import load_traffic

SOURCE = "fuzz.yaml"
TIERED_PATH = Path(__file__).resolve().parents[1] / "scenarios" / "support-tiered.yaml"
TIERED_TEXT = TIERED_PATH.read_text(encoding="utf-8")
TIERED = yaml.safe_load(TIERED_TEXT)


def fuzz(n: int):
    """Deterministic, CI-friendly hypothesis settings with ``n`` examples."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


# --- known bugs: (id, exception types, where it is raised) -------------------------------------------

def _frames(exc: BaseException) -> list[tuple[str, str]]:
    return [(f.filename.replace("\\", "/"), f.name) for f in traceback.extract_tb(exc.__traceback__)]


def _innermost(file_suffix: str, *names: str):
    return lambda fr: bool(fr) and fr[-1][0].endswith(file_suffix) and (not names or fr[-1][1] in names)


def _anywhere(file_part: str, *names: str):
    return lambda fr: any(file_part in f and (not names or n in names) for f, n in fr)


KNOWN_BUGS: list = []  # every bug the fuzzers found is fixed; regression examples below


def known_bug(exc: BaseException) -> str | None:
    """The id of the known bug ``exc`` is an instance of, or None (then it is a new bug)."""
    if isinstance(exc, json.JSONDecodeError):
        return None
    frames = _frames(exc)
    for bug, types, where in KNOWN_BUGS:
        if isinstance(exc, types) and where(frames):
            return bug
    return None


_READER_ERROR = re.compile(r'invalid YAML: .*\n  in "<unicode string>", position \d+\Z', re.S)


def multiline_bug(message: str, echoed: set[str]) -> str | None:
    """Why a multi-line message is a known bug (or None): a YAML reader error, or user text echoed raw."""
    if _READER_ERROR.search(message):
        return "multiline-reader-error"
    for s in sorted(echoed, key=len, reverse=True):
        message = message.replace(s, "")
    return "multiline-echo" if not re.search(r"[\r\n]", message) else None


# --- the properties ------------------------------------------------------------------------------------

_YAML_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def check_scenario_text(text: str, echoed: set[str] | None = None) -> str:
    """Parse (then build policy and graders); only a good ScenarioError may come out. Returns the outcome."""
    try:
        scn = parse_scenario(text, source=SOURCE)
        build_policy(scn)
        build_graders(scn)
    except ScenarioError as err:
        assert err.file == SOURCE, repr(err)
        assert err.line is None or 1 <= err.line <= len(_YAML_BREAKS.split(text)) + 1, repr(err)
        message = str(err)
        assert message.startswith(SOURCE), message
        if re.search(r"[\r\n]", message):
            bug = multiline_bug(message, _strings(text) if echoed is None else echoed)
            assert bug, f"multi-line error message: {message!r}"
            event(f"known bug: {bug}")
            return bug
        return "ScenarioError"
    except Exception as exc:
        bug = known_bug(exc)
        if bug is None:
            raise
        event(f"known bug: {bug}")
        return bug
    assert isinstance(scn, Scenario)
    return "ok"


def _strings(text: str) -> set[str]:
    """Scalar texts (keys and values) of a YAML document holding a line break, for the echo check."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return set()
    out, todo, seen = set(), [root] if root is not None else [], set()
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if re.search(r"[\r\n]", node.value):
                out.add(node.value)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            todo.extend(n for pair in node.value for n in pair)
    return out


def check_traffic_file(path: Path) -> str:
    """Load ``path``; only a TrafficError naming it may come out, and loaded requests are well-formed."""
    try:
        traffic = load_traffic(path)
    except TrafficError as err:
        assert err.file == str(path), repr(err)
        assert err.line is None or err.line >= 1, repr(err)
        return "TrafficError"
    except Exception as exc:
        bug = known_bug(exc)
        if bug is None:
            raise
        event(f"known bug: {bug}")
        return bug
    assert traffic.requests
    for r in traffic.requests:
        assert isinstance(r.id, str) and r.id.strip(), r
        assert isinstance(r.prompt, str) and r.prompt.strip(), r
        assert r.difficulty is None or (isinstance(r.difficulty, float) and 0.0 <= r.difficulty <= 1.0), r
        assert r.arrived_at is None or (isinstance(r.arrived_at, float) and abs(r.arrived_at) < float("inf")), r
        assert isinstance(r.metadata, dict), r
    assert len({r.id for r in traffic.requests}) == len(traffic.requests)
    return "ok"


# --- value strategies ----------------------------------------------------------------------------------

def _field_names() -> list[str]:
    names: set[str] = set()
    todo = [Scenario.model_json_schema()]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            names.update(node.get("properties", {}) if isinstance(node.get("properties"), dict) else ())
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return sorted(names)


FIELDS = _field_names()
TRICKY = ["", " ", "small", "large", "tier2", "gpt-4o", "gpt-4o-mini", "on", "no", "null", "~", "true",
          "2001-13-01", "0x1F", "1e400", ".nan", "-.inf", "a\nb", "\x00", "\x1b[31m", "\u202e", "\ufeff",
          "é", "\U0001f642", "- x", ": ", "{", "*a", "&a", "!!python/object:os.system", "server_error",
          "timeout", "simulated", "live", "weighted", "static", "exact", "recorded", "poisson", "burst",
          "downgrade", "{prompt}", "(?i)x", "a{4294967296}", "[", "ÿ" * 3]
text = st.text(max_size=12) | st.sampled_from(TRICKY)
nasty_numbers = st.sampled_from([0, 1, -1, 0.5, 2 ** 31, 2 ** 63, -2 ** 63 - 1, 10 ** 30, -10 ** 30, 10 ** 400,
                                 -10 ** 400, 1e308, -0.0, 5e-324, float("nan"), float("inf")])
numbers = st.integers() | st.floats() | nasty_numbers
scalars = st.none() | st.booleans() | numbers | text
keys = text | st.sampled_from(FIELDS) | st.integers(-3, 3) | st.none() | st.booleans()
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(keys, c, max_size=3),
                      max_leaves=8)
json_values = st.recursive(st.none() | st.booleans() | numbers | text,
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3), max_leaves=6)


# --- scenario: arbitrary text ----------------------------------------------------------------------------

TOKENS = ["name: ", "fleet:", "router:", "traffic:", "policy: ", "params:", "model: ", "source: ", "seed: ",
          "  ", "    ", "\n", "\t", "- ", ": ", "? ", ", ", "[", "]", "{", "}", "'", '"', "#", "|", ">",
          "&a ", "*a", "*b", "&b ", "<<: ", "!!str ", "!!int ", "!!float ", "!!bool ", "!!binary ", "!!set ",
          "!!timestamp ", "!!python/object:os.system ", "!foo ", "---\n", "...\n", "%YAML 1.2\n",
          "%TAG !x! tag:yaml.org,2002:\n", "2001-13-01", "2001-01-01", "1e400", ".nan", "~", "on", "0x", "0o9",
          "9" * 4400, "static", "weighted", "large", "small", "\x00", "\x85", "\u2028", "\ufeff", "\\n", "é"]
yaml_soup = st.lists(st.sampled_from(TOKENS) | st.text(max_size=3), max_size=40).map("".join)


@fuzz(250)
@given(st.text(max_size=300)
       | st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace"))
       | st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
       | st.binary(max_size=100).map(lambda b: b.decode("utf-8", "surrogateescape")))
def test_arbitrary_text_gives_a_scenario_error_or_a_scenario(text):
    check_scenario_text(text)


@fuzz(200)
@given(yaml_soup)
def test_yaml_token_soup_gives_a_scenario_error_or_a_scenario(text):
    check_scenario_text(text)


@fuzz(150)
@given(st.data())
def test_spliced_demo_scenario_gives_a_scenario_error_or_a_scenario(data):
    """The demo scenario's text with one slice replaced by YAML tokens: errors deep inside a good file."""
    n = len(TIERED_TEXT)
    start = data.draw(st.integers(0, n))
    end = data.draw(st.integers(start, min(n, start + 40)))
    patch = data.draw(st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=4).map("".join))
    check_scenario_text(TIERED_TEXT[:start] + patch + TIERED_TEXT[end:])


@fuzz(60)
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-16"))
       | st.sampled_from([TIERED_TEXT.encode("utf-8-sig"), TIERED_TEXT.encode("utf-8")[:300] + b"\xff\xfe",
                          TIERED_TEXT.encode("latin-1", "replace")]))
def test_scenario_file_of_arbitrary_bytes(tmp_path, raw):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(raw)
    try:
        load_scenario(path)
    except ScenarioError as err:
        assert err.file == str(path), repr(err)
    except Exception as exc:
        if known_bug(exc) is None:
            raise


# --- scenario: structured mutations of the demo scenario ---------------------------------------------------

#: One working router per registered policy (README's examples on the demo fleet), to mutate from.
ROUTERS = {
    "static": {"policy": "static", "params": {"target": "large"}},
    "weighted": {"policy": "weighted", "params": {"weights": {"small": 0.75, "large": 0.25}}},
    "rules": {"policy": "rules", "params": {"default": "small", "rules": [
        {"name": "outages", "to": "large", "category": ["outage"]},
        {"to": "large", "keywords": ["refund", "chargeback"]},
        {"to": "large", "regex": r"(?i)\bSSO\b|SAML"},
        {"to": "tier2", "metadata": {"plan": "enterprise"}, "min_chars": 1200},
        {"to": "large", "min_difficulty": 0.7}]}},
    "semantic": {"policy": "semantic", "params": {
        "routes": {"large": ["I was charged twice and want a refund", "the whole workspace is down"],
                   "small": ["how do I reset my password", "where do I change my email"]},
        "default": "small", "min_similarity": 0.1}},
    "classifier": {"policy": "classifier", "params": {
        "model": "small", "routes": {"simple": "small", "complex": "large"}, "default": "large",
        "truth": {"by": "difficulty", "threshold": 0.5, "low": "simple", "high": "complex"}}},
    "threshold": {"policy": "threshold", "params": {
        "strong": "large", "weak": "small", "scorer": {"type": "keywords", "keywords": {"refund": 2, "sso": 1}},
        "strong_share": 0.3}},
    "loadbalance": {"policy": "loadbalance", "params": {"deployments": ["small", "large"],
                                                         "strategy": "least-busy"}},
    "cascade": {"policy": "cascade", "params": {
        "chain": ["small", "large"], "min_score": 1.0, "refusal": r"(?i)\b(I can.?t|I cannot)\b",
        "format": "^[a-z_]+$"}},
}


def start_scenario(policy: str) -> dict:
    """The demo scenario as a dict, with ``policy``'s example router (bare for a policy without one)."""
    data = copy.deepcopy(TIERED)
    data["router"] = copy.deepcopy(ROUTERS.get(policy, {"policy": policy, "params": {}}))
    return data


@pytest.mark.parametrize("policy", sorted(ROUTERS))
def test_every_starting_router_is_valid(policy):
    """The mutations start from good scenarios, so they reach the policies' own checks."""
    assert check_scenario_text(yaml.safe_dump(start_scenario(policy), sort_keys=False)) == "ok"


def node_paths(node, prefix=()) -> list[tuple]:
    """Paths of every node under ``node`` (not ``node`` itself)."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        out.append(prefix + (k,))
        out.extend(node_paths(v, prefix + (k,)))
    return out


def get(node, path):
    for k in path:
        node = node[k]
    return node


def all_strings(node) -> set[str]:
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return {s for k, v in node.items() for s in all_strings(k) | all_strings(v)}
    if isinstance(node, list):
        return {s for v in node for s in all_strings(v)}
    return set()


def rename(node, old: str, new):
    """``node`` with every string ``old`` (as a key or a value) replaced by ``new``."""
    if isinstance(node, dict):
        return {(new if k == old else k): rename(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [rename(v, old, new) for v in node]
    return new if node == old else node


def mutate(data: dict, draw) -> dict:
    """One random mutation of ``data`` (in place where it can), returned."""
    kind = draw(st.sampled_from(["delete", "replace", "replace", "add", "rename", "graders"]))
    paths = node_paths(data)
    if kind == "delete" and paths:
        path = draw(st.sampled_from(paths))
        del get(data, path[:-1])[path[-1]]
    elif kind == "replace" and paths:
        path = draw(st.sampled_from(paths))
        get(data, path[:-1])[path[-1]] = draw(values)
    elif kind == "add":
        dicts = [()] + [p for p in paths if isinstance(get(data, p), dict)]
        get(data, draw(st.sampled_from(dicts)))[draw(keys)] = draw(values)
    elif kind == "rename" and isinstance(data.get("fleet"), dict) and data["fleet"]:
        old = draw(st.sampled_from(sorted(map(str, data["fleet"]))))
        new = draw(text)
        if draw(st.booleans()):  # everywhere: a consistent rename, only the new name itself is on trial
            return rename(data, old, new)
        data["fleet"] = {(new if k == old else k): v for k, v in data["fleet"].items()}
    elif kind == "graders":
        data["graders"] = draw(st.lists(st.fixed_dictionaries(
            {"type": st.sampled_from(grader_names()) | text},
            optional={"params": st.dictionaries(st.sampled_from(["case_sensitive", "x"]) | text, values,
                                                max_size=2)}), max_size=3))
    return data


@fuzz(160)
@given(st.data())
def test_mutated_scenario_gives_a_scenario_error_or_a_scenario(data):
    scenario = start_scenario(data.draw(st.sampled_from(sorted(set(ROUTERS) | set(policy_names())))))
    for _ in range(data.draw(st.integers(1, 4))):
        scenario = mutate(scenario, data.draw)
    text_ = yaml.safe_dump(scenario, sort_keys=False, allow_unicode=data.draw(st.booleans()),
                           default_flow_style=data.draw(st.sampled_from([False, None, True])))
    outcome = check_scenario_text(text_, echoed={s for s in all_strings(scenario) if re.search(r"[\r\n]", s)})
    event(f"outcome: {outcome}")


# --- scenario: tags, anchors, nesting -----------------------------------------------------------------------

SCENARIO = TIERED_TEXT


def with_description(value: str) -> str:
    old = "description: 75% gpt-4o-mini / 25% gpt-4o at random, cross fallbacks, human safety net."
    assert SCENARIO.count(old) == 1
    return SCENARIO.replace(old, f"description: {value}")


@pytest.mark.parametrize("tagged", [
    "!!python/object/apply:os.system ['touch {sentinel}']",
    "!!python/object/new:os.system ['touch {sentinel}']",
    "!!python/object/apply:subprocess.check_call [[touch, '{sentinel}']]",
    "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {sentinel}']",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:builtins.object {{}}",
    "!!python/tuple [1, 2]",
    "!custom value",
])
def test_python_tags_are_rejected_not_executed(tmp_path, monkeypatch, tagged):
    monkeypatch.chdir(tmp_path)
    sentinel = tmp_path / "executed"
    text = with_description(tagged.format(sentinel=sentinel))
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source=SOURCE)
    err = info.value
    assert (err.file, err.line) == (SOURCE, 7) and (err.field or "").startswith("description"), repr(err)
    assert "invalid YAML" in err.reason and "\n" not in str(err)
    assert not sentinel.exists() and list(tmp_path.iterdir()) == []


def test_tag_directive_aliasing_python_is_rejected_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sentinel = tmp_path / "executed"
    directive = "%TAG !p! tag:yaml.org,2002:python/object/apply:\n---\n"
    text = directive + with_description(f"!p!os.system [touch {sentinel}]")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source=SOURCE)
    assert info.value.file == SOURCE and "python/object/apply:os.system" in info.value.reason
    assert not sentinel.exists()


def test_anchors_and_aliases_are_plain_yaml():
    text = SCENARIO.replace("limits: {rpm: 500, tpm: 200000}", "limits: &lim {rpm: 500, tpm: 200000}")
    text = text.replace("limits: {rpm: 500, tpm: 30000}", "limits: *lim")
    text = text.replace("[server_error, timeout, rate_limit]", "*kinds")
    text = text.replace("*kinds", "&kinds [server_error, timeout, rate_limit]", 1)
    scn = parse_scenario(text, source=SOURCE)
    assert scn.fleet["large"].limits == scn.fleet["small"].limits
    assert scn.fallbacks["small"][0].errors == scn.fallbacks["large"][0].errors
    assert check_scenario_text(text) == "ok"


@pytest.mark.parametrize("text", [
    "seed: *nowhere\n",  # an undefined alias
    "a: &x 1\nb: &x 2\nseed: *x\n",  # a re-defined anchor is legal YAML (the last one wins)
])
def test_alias_edge_cases(text):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, source=SOURCE)
    assert info.value.file == SOURCE and "\n" not in str(info.value)


@pytest.mark.parametrize("depth", [10, 100, 300])
@pytest.mark.parametrize("style", ["flow", "block"])
def test_moderately_deep_nesting_is_a_plain_error(depth, style):
    check = check_scenario_text(_nested(depth, style))
    assert check == "ScenarioError"


def _nested(depth: int, style: str) -> str:
    old = "    weights: {small: 0.75, large: 0.25}\n"
    if style == "flow":
        deep = "    deep: " + "[" * depth + "]" * depth + "\n"
    else:
        deep = "    deep:" + "".join("\n" + "  " * (i + 3) + f"k{i}:" for i in range(depth)) + " 1\n"
    assert SCENARIO.count(old) == 1
    return SCENARIO.replace(old, old + deep)


# --- traffic: JSONL ---------------------------------------------------------------------------------------
# Records are mostly good with a wild value now and then, so that files load often enough for the checks on
# loaded requests to matter, and a single bad field sits among good ones (as in real files).

ISO = st.datetimes(timezones=st.sampled_from([None, timezone.utc, timezone(timedelta(hours=14)),
                                              timezone(-timedelta(hours=23, minutes=59))])).map(
    lambda d: d.isoformat())
TIMES = st.sampled_from(["2026-03-10T07:00:00Z", "2026-03-10", "yesterday", "nan", "inf", "-inf", "1e400",
                         "1773126000", " 12 ", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "Z",
                         "2026-02-30T00:00:00", ""])
LABELS = st.sampled_from(["easy", " HARD ", "Medium", "simple", "complex", "0.5", "1", "-0", "1e-3"])
WILD_DIFFICULTIES = st.sampled_from(["1e400", "nan", "1_0", "0x1", "", "very hard", True, False, 2, -1e-300,
                                     10 ** 400, 1.5])
ROLES = st.sampled_from(["user", "assistant", "system"])
prompt_text = st.text(min_size=1, max_size=20).filter(str.strip) | st.just("Why was I charged twice?")
good_messages = st.lists(st.fixed_dictionaries({"role": ROLES, "content": st.text(max_size=20)}),
                         min_size=1, max_size=3)
wild_messages = st.lists(st.fixed_dictionaries({}, optional={"role": ROLES | json_values,
                                                             "content": text | json_values}), max_size=3)


def good_fields(i: int) -> dict[str, st.SearchStrategy]:
    """A good value's strategy per traffic field, for the request on line/row ``i``."""
    return {
        "id": st.just(f"q{i}") | st.just(i),
        "prompt": prompt_text,
        "messages": good_messages,
        "category": text,
        "difficulty": st.floats(0, 1) | LABELS | st.sampled_from([0, 1]),
        "expected": text,
        "metadata": st.dictionaries(text, json_values, max_size=3),
        "arrived_at": ISO | st.floats(-1e12, 1e12) | st.integers(-10 ** 12, 10 ** 12) | st.just("1773126000"),
    }


huge = st.sampled_from([10 ** 400, -10 ** 400, 2 ** 1024])
WILD_FIELDS = {
    "id": st.sampled_from(["q1", " ", "", "dup"]) | json_values,
    "prompt": st.sampled_from(["", "  \n"]) | json_values,
    "messages": wild_messages | json_values,
    "difficulty": huge | WILD_DIFFICULTIES | nasty_numbers | st.floats() | json_values,
    "arrived_at": huge | TIMES | nasty_numbers | st.floats() | st.integers() | json_values,
    "metadata": json_values,
}


def rarely(draw, percent: int) -> bool:
    """True about ``percent`` % of the time. Not ``integers(...) == 0``: hypothesis favours 0 and the bounds,
    so the event sits mid-range (and shrinking, towards 0, drops it)."""
    return 40 <= draw(st.integers(0, 99)) < 40 + percent


def field_value(draw, good: st.SearchStrategy, name: str):
    """Mostly a good value; one time in five a wild one."""
    if rarely(draw, 20):
        return draw(WILD_FIELDS.get(name, json_values))
    return draw(good)


def traffic_record(draw, i: int) -> dict:
    """One request as a dict: id and prompt (or messages) nearly always, other fields at random."""
    rec = draw(st.dictionaries(text, json_values, max_size=2))  # unknown columns go to metadata
    for name, good in good_fields(i).items():
        wanted = not rarely(draw, 10) if name in ("id", "prompt") else draw(st.booleans())
        if wanted:
            rec[name] = field_value(draw, good, name)
    return rec


BAD_LINES = st.sampled_from(['{"id": "q9", "prompt": ', "{'id': 1}", "[", "NaN", "{}}", '{"id": "x"} tail',
                             '"just a string"', "[1, 2]", "null", "\ufeff{}", "{" * 3000 + "}" * 3000,
                             '{"id": "big", "prompt": "p", "x": ' + "7" * 4400 + "}", "\x00", " ", "", "\t"])


def jsonl_line(draw, i: int) -> str:
    if rarely(draw, 7):
        return draw(BAD_LINES)
    value = draw(json_values) if rarely(draw, 7) else traffic_record(draw, i)
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


@fuzz(120)
@given(st.data())
def test_jsonl_traffic_gives_a_traffic_error_or_requests(tmp_path, data):
    lines = [jsonl_line(data.draw, i) for i in range(data.draw(st.integers(0, 6)))]
    raw = data.draw(st.sampled_from(["\n", "\r\n"])).join(lines).encode("utf-8", "surrogatepass")
    raw = _garble(data.draw, raw)
    path = tmp_path / data.draw(st.sampled_from(["fuzz.jsonl", "fuzz.ndjson", "FUZZ.JSONL"]))
    path.write_bytes(raw)
    event(f"outcome: {check_traffic_file(path)}")


def _garble(draw, raw: bytes) -> bytes:
    """Now and then a BOM in front, or a few arbitrary bytes somewhere."""
    if rarely(draw, 15):
        raw = b"\xef\xbb\xbf" + raw
    if rarely(draw, 15):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    return raw


@fuzz(150)
@given(st.data())
def test_one_wild_field_among_good_requests(tmp_path, data):
    """Good requests but one, whose one field is wild: each field's own check, in JSONL and in CSV."""
    name = data.draw(st.sampled_from(sorted(good_fields(0))))
    records = [{k: data.draw(v) for k, v in good_fields(i).items()
                if k in ("id", "prompt") or data.draw(st.booleans())}
               for i in range(data.draw(st.integers(1, 3)))]
    records[data.draw(st.integers(0, len(records) - 1))][name] = data.draw(WILD_FIELDS.get(name, json_values))
    if data.draw(st.booleans()):
        path = tmp_path / "fuzz.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    else:
        path = tmp_path / "fuzz.csv"
        columns = list(dict.fromkeys(k for r in records for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: json.dumps(v) if k in ("messages", "metadata") else v for k, v in r.items()}
                         for r in records)
        path.write_text(buf.getvalue(), encoding="utf-8")
    event(f"{path.suffix} {name}: {check_traffic_file(path)}")


# --- traffic: CSV -----------------------------------------------------------------------------------------

KNOWN_COLUMNS = ["id", "prompt", "messages", "category", "difficulty", "expected", "metadata", "arrived_at"]
wild_cell = (text | st.sampled_from(['"', '""', "a,b", "a\nb", "a\r\nb", "1e400", "nan", "{", "[]",
                                     "[" * 2000 + "]" * 2000, "9" * 400, "9" * 4400])
             | json_values.map(json.dumps))


def csv_cell(draw, column: str, i: int) -> str:
    """A cell of ``column`` on row ``i``: JSON columns hold JSON; one time in five a wild cell."""
    if rarely(draw, 20):
        return draw(wild_cell)
    goods = good_fields(i)
    if column not in goods:
        return draw(text)
    value = draw(goods[column])
    return json.dumps(value) if column in ("messages", "metadata") else str(value)


@fuzz(120)
@given(st.data())
def test_csv_traffic_gives_a_traffic_error_or_requests(tmp_path, data):
    header = [c for c in ("id", "prompt") if not rarely(data.draw, 10)]
    header += data.draw(st.lists(st.sampled_from(KNOWN_COLUMNS) | text, max_size=4))
    header = data.draw(st.permutations(header))
    rows = []
    for i in range(data.draw(st.integers(0, 5))):
        row = [csv_cell(data.draw, column, i) for column in header]
        if rarely(data.draw, 10):  # a short or a long row
            row = row[:-1] if row and data.draw(st.booleans()) else row + [data.draw(wild_cell)]
        rows.append(row)
    newline = data.draw(st.sampled_from(["\n", "\r\n", "\r"]))
    if not rarely(data.draw, 25):  # a well-formed CSV writer
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator=newline,
                            quoting=data.draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
        writer.writerow(header)
        writer.writerows(rows)
        content = buf.getvalue()
    else:  # naive joining: stray quotes, embedded newlines and commas break the structure
        content = newline.join(",".join(r) for r in [header, *rows])
    raw = _garble(data.draw, content.encode("utf-8", "surrogatepass"))
    path = tmp_path / "fuzz.csv"
    path.write_bytes(raw)
    event(f"outcome: {check_traffic_file(path)}")


# --- traffic: Parquet -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good_parquet(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("pq") / "good.parquet"
    duckdb.sql(f"COPY (SELECT 'q' || i AS id, 'prompt ' || i AS prompt, i / 100 AS difficulty, "
               f"'{{\"plan\": \"pro\"}}' AS metadata FROM range(20) t(i)) TO '{path}' (FORMAT parquet)")
    return path.read_bytes()


@fuzz(60)
@given(data=st.data())
def test_corrupted_parquet_gives_a_traffic_error_or_requests(tmp_path, good_parquet, data):
    raw = bytearray(good_parquet)
    for _ in range(data.draw(st.integers(0, 6))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    path = tmp_path / "fuzz.parquet"
    path.write_bytes(bytes(raw))
    event(f"outcome: {check_traffic_file(path)}")


# --- regression examples of the bugs the fuzzers found (all fixed)

def _scenario_error(text: str) -> ScenarioError:
    """The property, as a plain assertion: parse and build raise one one-line ScenarioError naming SOURCE."""
    with pytest.raises(ScenarioError) as info:
        scn = parse_scenario(text, source=SOURCE)
        build_policy(scn)
        build_graders(scn)
    assert info.value.file == SOURCE
    assert "\n" not in str(info.value), str(info.value)
    return info.value


def test_impossible_date_is_a_scenario_error():
    _scenario_error(SCENARIO.replace("seed: 42", "seed: 2001-13-01"))


def test_huge_yaml_int_is_a_scenario_error():
    _scenario_error(SCENARIO.replace("seed: 42", "seed: " + "9" * 5000))


@pytest.mark.parametrize("tagged", ["!!int abc", "!!float abc", "!!bool maybe", "!!timestamp soon", "!!int ''"])
def test_bad_explicit_scalar_tag_is_a_scenario_error(tagged):
    _scenario_error(SCENARIO.replace("seed: 42", f"seed: {tagged}"))


@pytest.mark.parametrize("text", ["? [a]\n: 1\n", "{[a]: 1}\n", "name: x\n? {a: 1}\n: 2\n"])
def test_complex_mapping_key_is_a_scenario_error(text):
    _scenario_error(text)


@pytest.mark.parametrize("tagged", ["!!set abc", "!!set [a, b]", "!!map [a]", "!!map abc"])
def test_mapping_tag_on_a_non_mapping_is_a_scenario_error(tagged):
    _scenario_error(SCENARIO.replace("seed: 42", f"seed: {tagged}"))


def test_recursive_alias_is_a_scenario_error():
    _scenario_error("a: &x [*x]\n")


@pytest.mark.parametrize("style", ["flow", "block"])
def test_very_deep_nesting_is_a_scenario_error(style):
    _scenario_error(_nested(1500, style))


def test_unprintable_character_gives_a_one_line_message():
    _scenario_error("name: a\x00b\n")


@pytest.mark.parametrize("old, new", [
    ("params:\n    weights: {small: 0.75, large: 0.25}", 'params:\n    weights: {small: 0.75, "a\\nb": 0.25}'),
    ("- {to: tier2}", '- {to: "tier\\n2"}'),
    ("seed: 42", 'seed: 42\n"se\\ned": 1'),
])
def test_line_break_in_a_name_stays_one_line(old, new):
    assert SCENARIO.count(old) == 1
    _scenario_error(SCENARIO.replace(old, new))


def test_yaml_merge_key_is_accepted():
    text = SCENARIO.replace("limits: {rpm: 500, tpm: 200000}", "limits: &lim {rpm: 500, tpm: 200000}")
    text = text.replace("limits: {rpm: 500, tpm: 30000}", "limits: {<<: *lim, tpm: 30000}")
    scn = parse_scenario(text, source=SOURCE)
    assert (scn.fleet["large"].limits.rpm, scn.fleet["large"].limits.tpm) == (500, 30000)


@pytest.mark.parametrize("router", [
    "  policy: cascade\n  params: {chain: [small, large], refusal: 'a{4294967296}'}\n",
    "  policy: cascade\n  params: {chain: [small, large], format: 'x{99999999999}'}\n",
    "  policy: rules\n  params: {default: small, rules: [{to: large, regex: 'a{4294967296}'}]}\n",
])
def test_regex_with_huge_repetition_is_a_scenario_error(router):
    old = "  policy: weighted\n  params:\n    weights: {small: 0.75, large: 0.25}\n"
    assert SCENARIO.count(old) == 1
    _scenario_error(SCENARIO.replace(old, router))


def test_weighted_rejects_an_infinite_weight():
    _scenario_error(SCENARIO.replace("weights: {small: 0.75, large: 0.25}", "weights: {small: .inf, large: 1}"))


def _jsonl(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _traffic_error(path: Path) -> TrafficError:
    with pytest.raises(TrafficError) as info:
        load_traffic(path)
    assert info.value.file == str(path)
    return info.value


@pytest.mark.parametrize("field", ["difficulty", "arrived_at"])
def test_huge_json_int_is_a_traffic_error(tmp_path, field):
    _traffic_error(_jsonl(tmp_path, f'{{"id": "q1", "prompt": "p", "{field}": {"1" * 400}}}'))


def test_json_int_over_the_digit_limit_is_a_traffic_error(tmp_path):
    _traffic_error(_jsonl(tmp_path, '{"id": "q1", "prompt": "p", "seats": ' + "1" * 5000 + "}"))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_deep_json_is_a_traffic_error(tmp_path, fmt):
    deep = "[" * 50_000 + "]" * 50_000  # 100k characters: within the csv module's field size limit
    if fmt == "jsonl":
        path = _jsonl(tmp_path, '{"id": "q1", "prompt": "p", "x": ' + deep + "}")
    else:
        path = tmp_path / "t.csv"
        path.write_text(f"id,prompt,metadata\nq1,p,{deep}\n", encoding="utf-8")
    _traffic_error(path)


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
def test_jsonl_with_a_unicode_line_separator_loads(tmp_path, char):
    path = _jsonl(tmp_path, json.dumps({"id": "q1", "prompt": f"one{char}two"}, ensure_ascii=False))
    assert load_traffic(path).requests[0].prompt == f"one{char}two"


def test_parquet_with_a_non_utf8_column_name_is_a_traffic_error(tmp_path):
    path = tmp_path / "t.parquet"
    duckdb.sql(f"COPY (SELECT 'q1' AS id, 'p' AS prompt, 'x' AS colZZZZ) TO '{path}' "
               "(FORMAT parquet, COMPRESSION uncompressed)")
    raw = path.read_bytes()
    assert b"colZZZZ" in raw
    path.write_bytes(raw.replace(b"ZZZZ", b"\xff\xfe\xfd\xfc"))
    _traffic_error(path)
