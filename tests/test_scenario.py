"""Scenario loading: the demo scenarios, the canonical hash, the YAML round trip, and bad input.

Every bad scenario must give one :class:`ScenarioError` whose file, line and field are exactly right,
and must write nothing. Expected lines are not typed as numbers: the offending line of each case
carries the marker ``# <-- here``, and the expected line is the line holding it, so a case can be
edited without recounting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from workbench.errors import InputError, ScenarioError
from workbench.graders import build_graders
from workbench.policies import build_policy
from workbench.scenario import Scenario, load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
HERE = "# <-- here"

BASE = """\
name: demo
seed: 7
concurrency: 8
fleet:
  large:
    model: gpt-4o
  small:
    model: gpt-4o-mini
router:
  policy: static
  params: {target: large}
traffic:
  source: traffic.jsonl
"""


# --- helpers ----------------------------------------------------------------------------------------

def edit(*swaps: tuple[str, str], append: str = "") -> str:
    """BASE with each ``(old, new)`` replaced once (``old`` must be there) and ``append`` at the end."""
    text = BASE
    for old, new in swaps:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text + append


def marked_line(text: str) -> int:
    """The 1-based line that carries the ``# <-- here`` marker (exactly one must)."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if HERE in line]
    assert len(hits) == 1, hits
    return hits[0]


def write(tmp_path: Path, text: str, name: str = "scn.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, monkeypatch, text: str, build=None) -> tuple[ScenarioError, Path]:
    """Load ``text`` from a file (then ``build`` it, if given); return the error and the file.

    The working directory is ``tmp_path`` too, so a stray relative write would also be seen: the only
    file there afterwards must be the scenario itself.
    """
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        scn = load_scenario(path)
        if build is not None:
            build(scn)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name], "a bad scenario wrote a file"
    return info.value, path


def assert_where(err: ScenarioError, path: Path, line: int | None, field: str | None) -> None:
    """The error names exactly this file, line and field, in its attributes and in its message."""
    assert isinstance(err, InputError)
    assert (err.file, err.line, err.field) == (str(path), line, field)
    text = str(err)
    assert str(path) in text
    if line is not None:
        assert f"{path}:{line}" in text
    if field is not None:
        assert f"field '{field}'" in text


# --- the demo scenarios -----------------------------------------------------------------------------

@pytest.mark.parametrize("file, name, fleet, policy, humans", [
    ("support-baseline.yaml", "support-baseline", ["large"], "static", []),
    ("support-tiered.yaml", "support-tiered", ["small", "large"], "weighted", ["tier2"]),
])
def test_demo_scenarios_load(file, name, fleet, policy, humans):
    scn = load_scenario(SCENARIOS / file)
    assert scn.name == name
    assert list(scn.fleet) == fleet
    assert list(scn.humans) == humans
    assert scn.targets == fleet + humans
    assert scn.router.policy == policy
    assert scn.seed == 42
    assert scn.mode == "simulated"
    assert scn.fleet["large"].model == "gpt-4o"
    assert scn.traffic.arrival.process == "recorded"
    assert scn.path == SCENARIOS / file
    assert scn.traffic_path() == SCENARIOS / "traffic" / "support_tickets.jsonl"
    assert scn.traffic_path().is_file()
    assert scn.traffic_path("elsewhere.csv") == Path("elsewhere.csv")
    assert build_policy(scn).name == policy
    assert [g.name for g in build_graders(scn)] == ["exact"]


def test_demo_fallbacks_and_outage_are_read():
    scn = load_scenario(SCENARIOS / "support-tiered.yaml")
    assert [rule.to for rule in scn.fallbacks["small"]] == ["large", "tier2"]
    assert scn.fallbacks["small"][1].errors is None
    (outage,) = scn.fleet["large"].sim.outages
    assert (outage.start_s, outage.end_s, str(outage.kind)) == (29400, 30300, "server_error")


def test_content_hash_is_stable_and_tracks_the_design(tmp_path):
    first = load_scenario(SCENARIOS / "support-tiered.yaml").content_hash
    assert load_scenario(SCENARIOS / "support-tiered.yaml").content_hash == first
    # Pinned: a field added to the schema with a default (as `audit` and `recorded` were) must not change
    # the hash of an existing design, or runs of the same design stop matching across versions.
    assert first == "c0c00cf14a6b6128c043799570bed4a6361e5060f093ee0bfd9643aeca6bc56a"
    explicit = (SCENARIOS / "support-tiered.yaml").read_text() + "audit: false\n"
    assert load_scenario(write(tmp_path, explicit)).content_hash == first
    assert len(first) == 64 and int(first, 16) >= 0
    base = load_scenario(write(tmp_path, BASE)).content_hash
    assert load_scenario(write(tmp_path, edit(("seed: 7", "seed: 8")))).content_hash != base
    commented = edit(("seed: 7", "seed: 7   # the usual one")) + "# trailing note\n"
    assert load_scenario(write(tmp_path, "# a header comment\n" + commented)).content_hash == base
    reordered = BASE.replace("name: demo\nseed: 7\n", "") + "seed: 7\nname: demo\n"
    assert load_scenario(write(tmp_path, reordered)).content_hash == base


def test_mode_is_mixed_when_the_fleet_combines_kinds():
    scn = parse_scenario(edit(("    model: gpt-4o-mini\n", "    model: gpt-4o-mini\n    provider: live\n")))
    assert scn.mode == "mixed"


@pytest.mark.parametrize("file", ["support-baseline.yaml", "support-tiered.yaml"])
def test_to_yaml_round_trips_the_design(file):
    scn = load_scenario(SCENARIOS / file)
    again = parse_scenario(scn.to_yaml())
    assert again.model_dump() == scn.model_dump()
    assert again.content_hash == scn.content_hash


@pytest.mark.parametrize("file", ["support-baseline.yaml", "support-tiered.yaml"])
def test_to_yaml_round_trip_is_model_equal(file):
    scn = load_scenario(SCENARIOS / file)
    assert parse_scenario(scn.to_yaml()) == scn


def test_yaml_12_booleans_stay_strings():
    text = edit(
        ("name: demo", "name: demo\ndescription: off"),
        ("  large:", "  on:"),
        ("{target: large}", "{target: on}"),
        ("    model: gpt-4o\n", "    model: gpt-4o\n    sim:\n      category_quality: {no: 0.1, yes: -0.1}\n"),
        ("source: traffic.jsonl", "source: traffic.jsonl\n  replace: true"),
    )
    scn = parse_scenario(text)
    assert scn.description == "off"
    assert list(scn.fleet) == ["on", "small"]
    assert scn.router.params == {"target": "on"}
    assert scn.fleet["on"].sim.category_quality == {"no": 0.1, "yes": -0.1}
    assert scn.traffic.replace is True  # YAML 1.2 booleans still are booleans
    assert build_policy(scn).params.target == "on"


# --- bad scenarios: one error naming file, line and field, and nothing written ------------------------

ROUTER = "router:\n  policy: static\n  params: {target: large}\n"
HUMAN = "{agents: 2, handling_time_s: 300, cost_per_request_usd: 4}"
BAD = {
    "misspelt top-level key": (
        edit(append=f"fallback:  {HERE}\n  large:\n    - {{to: small}}\n"), "fallback"),
    "unknown key in a fleet model": (
        edit(("    model: gpt-4o\n", f"    model: gpt-4o\n    temprature: 0.2  {HERE}\n")),
        "fleet.large.temprature"),
    "wrong type": (edit(("concurrency: 8", f"concurrency: many  {HERE}")), "concurrency"),
    "missing required field": (edit(("name: demo", f"name: demo  {HERE}"), (ROUTER, "")), "router"),
    "missing field of a fleet model": (
        edit(("    model: gpt-4o-mini\n", "    provider: simulated\n"), ("  small:", f"  small:  {HERE}")),
        "fleet.small.model"),
    "invalid YAML syntax": (edit(("seed: 7", f"seed: 7\n  oops: 1  {HERE}")), None),
    "unknown provider kind": (
        edit(("    model: gpt-4o-mini\n", f"    model: gpt-4o-mini\n    provider: openai  {HERE}\n")),
        "fleet.small.provider"),
    "negative price": (
        edit(("    model: gpt-4o\n",
              f"    model: gpt-4o\n    price: {{input_per_mtok: -1, output_per_mtok: 10}}  {HERE}\n")),
        "fleet.large.price.input_per_mtok"),
    "outage that ends when it starts": (
        edit(("    model: gpt-4o\n",
              f"    model: gpt-4o\n    sim:\n      outages:\n        - {{start_s: 100, end_s: 100}}  {HERE}\n")),
        "fleet.large.sim.outages[0]"),
    "fallback to an unknown target": (
        edit(append=f"fallbacks:\n  large:\n    - {{to: nobody}}  {HERE}\n"), "fallbacks.large[0].to"),
    "fallback to a later unknown target": (
        edit(append=f"fallbacks:\n  small:\n    - {{to: large}}\n    - to: tier9  {HERE}\n"),
        "fallbacks.small[1].to"),
    "fallback key that is not a fleet model": (
        edit(append=f"fallbacks:\n  medium:  {HERE}\n    - {{to: small}}\n"), "fallbacks.medium"),
    "budget downgrade without downgrade_to": (
        edit(append=f"budget:  {HERE}\n  max_usd: 5\n  on_exceed: downgrade\n"), "budget"),
    "downgrade_to not in the fleet": (
        edit(append=f"budget:\n  max_usd: 5\n  on_exceed: downgrade\n  downgrade_to: tiny  {HERE}\n"),
        "budget.downgrade_to"),
    "name in both fleet and humans": (
        edit(append=f"humans:\n  large: {HUMAN}  {HERE}\n"), "humans.large"),
    "unknown error kind in retries": (
        edit(append=f"retries:\n  errors:\n    - timeout\n    - gremlins  {HERE}\n"), "retries.errors[1]"),
    "unknown arrival process": (
        edit(("source: traffic.jsonl", f"source: traffic.jsonl\n  arrival: {{process: weird}}  {HERE}")),
        "traffic.arrival"),
    "bad burst inside an arrival": (
        edit(("source: traffic.jsonl", "source: traffic.jsonl\n  arrival:\n    process: burst\n"
              f"    rate_per_s: 1\n    bursts:\n      - {{at_s: 5, duration_s: 0, rate_per_s: 9}}  {HERE}")),
        "traffic.arrival.bursts[0].duration_s"),
    "not a mapping": (f"- name: demo  {HERE}\n- seed: 7\n", None),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_scenario_names_file_line_and_field(case, tmp_path, monkeypatch):
    text, field = BAD[case]
    err, path = load_error(tmp_path, monkeypatch, text)
    assert_where(err, path, marked_line(text), field)


def test_invalid_yaml_says_so(tmp_path, monkeypatch):
    err, _ = load_error(tmp_path, monkeypatch, BAD["invalid YAML syntax"][0])
    assert "invalid YAML" in err.reason


def test_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert_where(info.value, path, None, None)
    assert "no such scenario file" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_several_problems_are_counted(tmp_path, monkeypatch):
    text = edit(("seed: 7", f"seed: seven  {HERE}"), ("concurrency: 8", "concurrency: many"),
                append="fallback: {}\n")
    err, path = load_error(tmp_path, monkeypatch, text)
    assert_where(err, path, marked_line(text), "seed")
    assert "(and 2 more problems)" in str(err)


def test_one_more_problem_is_singular(tmp_path, monkeypatch):
    text = edit(("seed: 7", f"seed: seven  {HERE}"), ("concurrency: 8", "concurrency: many"))
    err, _ = load_error(tmp_path, monkeypatch, text)
    assert "(and 1 more problem)" in str(err)


# --- policy and grader params: validated by their registries, with the scenario's lines ---------------

BUILD_BAD = {
    "unknown policy": (
        edit(("policy: static", f"policy: telepathy  {HERE}")), build_policy, "router.policy"),
    "weighted with an unknown target": (
        edit(("  policy: static\n  params: {target: large}\n",
              f"  policy: weighted\n  params:\n    weights:\n      large: 1\n      nobody: 3  {HERE}\n")),
        build_policy, "router.params.weights.nobody"),
    "static with an extra param": (
        edit(("  params: {target: large}", f"  params: {{target: large, shadow: small}}  {HERE}")),
        build_policy, "router.params.shadow"),
    "static to an unknown target": (
        edit(("  params: {target: large}", f"  params:\n    target: medium  {HERE}")),
        build_policy, "router.params.target"),
    "unknown grader type": (
        edit(append=f"graders:\n  - type: vibes  {HERE}\n"), build_graders, "graders[0].type"),
    "second grader unknown": (
        edit(append=f"graders:\n  - type: exact\n  - type: vibes  {HERE}\n"), build_graders, "graders[1].type"),
}


@pytest.mark.parametrize("case", list(BUILD_BAD), ids=list(BUILD_BAD))
def test_policy_and_grader_errors_name_the_line(case, tmp_path, monkeypatch):
    text, build, field = BUILD_BAD[case]
    err, path = load_error(tmp_path, monkeypatch, text, build=build)
    assert_where(err, path, marked_line(text), field)


def test_static_extra_param_is_called_unknown(tmp_path, monkeypatch):
    text, build, _ = BUILD_BAD["static with an extra param"]
    err, _ = load_error(tmp_path, monkeypatch, text, build=build)
    assert "unknown param" in err.reason and "static" in err.reason


def test_scenario_built_in_code_names_a_placeholder_file():
    scn = parse_scenario(edit(("policy: static", "policy: telepathy")))
    with pytest.raises(ScenarioError) as info:
        build_policy(scn)
    assert (info.value.file, info.value.line, info.value.field) == ("<scenario>", 10, "router.policy")


# --- bugs found while writing these tests -----------------------------------------------------------

def test_error_inside_a_model_named_like_an_arrival_process(tmp_path, monkeypatch):
    text = edit(("  large:\n    model: gpt-4o\n", f"  burst:\n    model: gpt-4o\n    temprature: 1  {HERE}\n"),
                ("{target: large}", "{target: burst}"))
    err, path = load_error(tmp_path, monkeypatch, text)
    assert_where(err, path, marked_line(text), "fleet.burst.temprature")


def test_duplicate_key_is_an_error(tmp_path, monkeypatch):
    text = edit(append=f"seed: 8  {HERE}\n")
    err, path = load_error(tmp_path, monkeypatch, text)
    assert_where(err, path, marked_line(text), "seed")


def test_scenario_is_frozen():
    scn = parse_scenario(BASE)
    assert isinstance(scn, Scenario)
    with pytest.raises(ValidationError, match="frozen"):
        scn.seed = 8  # type: ignore[misc]


# --- strict input (issue 12): seeds in range, booleans only true/false, numbers finite ---------------

SRC = "source: traffic.jsonl"
STRICT_BAD = {
    # name: (text, field, the reason's start)
    "seed 2**63": (edit(("seed: 7", f"seed: 9223372036854775808  {HERE}")), "seed",
                   "Input should be less than or equal to 9223372036854775807"),
    "negative seed": (edit(("seed: 7", f"seed: -1  {HERE}")), "seed", "Input should be greater than or equal to 0"),
    "audit: on": (edit(append=f"audit: on  {HERE}\n"), "audit", "must be true or false, got 'on'"),
    "audit: yes": (edit(append=f"audit: yes  {HERE}\n"), "audit", "must be true or false, got 'yes'"),
    "audit: 1": (edit(append=f"audit: 1  {HERE}\n"), "audit", "must be true or false, got 1"),
    "replace: 'true'": (edit((SRC, f"{SRC}\n  replace: 'true'  {HERE}")), "traffic.replace",
                        "must be true or false, got 'true'"),
    "price .inf": (edit(("    model: gpt-4o\n", "    model: gpt-4o\n"
                         f"    price: {{input_per_mtok: .inf, output_per_mtok: 1}}  {HERE}\n")),
                   "fleet.large.price.input_per_mtok", "Input should be a finite number"),
    "outage end .nan": (edit(("    model: gpt-4o\n", "    model: gpt-4o\n    sim:\n      outages:\n"
                              f"        - {{start_s: 1, end_s: .nan}}  {HERE}\n")),
                        "fleet.large.sim.outages[0].end_s", "Input should be a finite number"),
    "timeout .inf": (edit(append=f"timeouts: {{attempt_s: .inf}}  {HERE}\n"), "timeouts.attempt_s",
                     "Input should be a finite number"),
    "rate 1e-300": (edit((SRC, f"{SRC}\n  arrival: {{process: poisson, rate_per_s: 1e-300}}  {HERE}")),
                    "traffic.arrival.rate_per_s", "must be at least 1e-06 a second (one request in about 11.6 days)"),
    "burst rate 1e-7": (edit((SRC, f"{SRC}\n  arrival:\n    process: burst\n    rate_per_s: 1\n    bursts:\n"
                              f"      - {{at_s: 5, duration_s: 9, rate_per_s: 1e-7}}  {HERE}")),
                        "traffic.arrival.bursts[0].rate_per_s", "must be at least 1e-06 a second (one request in about 11.6 days)"),
    "speedup 1e-300": (edit((SRC, f"{SRC}\n  arrival: {{process: recorded, speedup: 1e-300}}  {HERE}")),
                       "traffic.arrival.speedup", "Input should be greater than or equal to 0.000001"),
}


@pytest.mark.parametrize("case", list(STRICT_BAD), ids=list(STRICT_BAD))
def test_strict_seeds_booleans_and_numbers(case, tmp_path, monkeypatch):
    text, field, reason = STRICT_BAD[case]
    err, path = load_error(tmp_path, monkeypatch, text)
    assert_where(err, path, marked_line(text), field)
    assert reason in err.reason


STRICT_PARAMS_BAD = {
    "grader boolean": (edit(append=f"graders:\n  - type: exact\n    params: {{case_sensitive: on}}  {HERE}\n"),
                       build_graders, "graders[0].params.case_sensitive", "must be true or false, got 'on'"),
    "policy number": (edit(("policy: static\n  params: {target: large}",
                            "policy: loadbalance\n  params:\n    deployments: [large, small]\n"
                            f"    strategy: latency-based-routing\n    latency_buffer: .inf  {HERE}")),
                      build_policy, "router.params.latency_buffer", "Input should be a finite number"),
    "rule number": (edit(("policy: static\n  params: {target: large}",
                          f"policy: rules\n  params:\n    default: small\n    rules:\n"
                          f"      - {{to: large, min_difficulty: .nan}}  {HERE}")),
                    build_policy, "router.params.rules[0].min_difficulty", "Input should be a finite number"),
}


@pytest.mark.parametrize("case", list(STRICT_PARAMS_BAD), ids=list(STRICT_PARAMS_BAD))
def test_strict_policy_and_grader_params(case, tmp_path, monkeypatch):
    text, build, field, reason = STRICT_PARAMS_BAD[case]
    err, path = load_error(tmp_path, monkeypatch, text, build=build)
    assert_where(err, path, marked_line(text), field)
    assert err.reason.startswith(reason), err.reason


def _models():
    """Every pydantic model a scenario is made of: the scenario's own, and each policy's and grader's params."""
    import inspect

    import workbench.scenario as scenario_module
    from pydantic import BaseModel

    from workbench.graders.base import _REGISTRY as GRADERS
    from workbench.policies.base import _REGISTRY as POLICIES

    seen, todo = set(), [m for _, m in inspect.getmembers(scenario_module, inspect.isclass)
                         if issubclass(m, BaseModel) and m.__module__ == scenario_module.__name__]
    todo += [reg.get(n).Params for reg in (POLICIES, GRADERS) for n in reg.names()]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            todo += [t for t in _types(field.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
    return seen


def _types(annotation) -> list:
    from typing import get_args

    out, todo = [], [annotation]
    while todo:
        t = todo.pop()
        out.append(t)
        todo += get_args(t)
    return out


def _bools(annotation) -> tuple[int, int]:
    """How many booleans ``annotation`` holds, and how many of them are not strict (a bare ``bool``)."""
    from typing import Annotated, get_args, get_origin

    from pydantic import Strict

    total, loose, todo = 0, 0, [annotation]
    while todo:
        t = todo.pop()
        if get_origin(t) is Annotated and get_args(t)[0] is bool:
            total += 1
            loose += not any(isinstance(m, Strict) and m.strict for m in get_args(t)[1:])
        elif t is bool:
            total, loose = total + 1, loose + 1
        else:
            todo += get_args(t)
    return total, loose


def test_every_boolean_of_a_scenario_is_strict_and_every_number_finite():
    """A guard for fields added later: every bool anywhere in a scenario (params included) is strict,
    so "on", "yes" or 1 is an error, and every model rejects inf and nan."""
    from pydantic import Strict

    models = _models()
    assert len(models) > 30
    total = 0
    for model in models:
        assert model.model_config.get("allow_inf_nan") is False, model
        for name, field in model.model_fields.items():
            if field.annotation is bool:
                total += 1
                assert any(isinstance(m, Strict) and m.strict for m in field.metadata), (model, name)
            else:
                n, loose = _bools(field.annotation)
                total += n
                assert loose == 0, (model, name)
    assert total >= 4  # audit, traffic.replace, exact/contains case_sensitive, a rule's metadata values
