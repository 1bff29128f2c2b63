"""Provider kinds: one file registers a kind, the scenario validates against the registry, the contract
is checked when a provider is built, and labels and colours come from the registration."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import textwrap

import duckdb
import pytest
from conftest import SCENARIOS
from helpers import run, table

from workbench.analysis.charts import data_label
from workbench.app import edits
from workbench.app.ui import mode_badge
from workbench.errors import InputError, ScenarioError
from workbench.providers import FleetProvider, Outcome, Provider, make_provider, register
from workbench.registry import PROVIDER_KINDS, data_modes, mode_colour, provider_kind, provider_kind_names
from workbench.scenario import load_scenario, parse_scenario
from workbench.traffic import Request

#: The whole of a new provider kind: this one file (written to a temp dir, imported as a user's would be).
CONSTANT_KIND = '''
"""A provider kind of a test: every call answers the same text at a fixed latency and price."""

from workbench.providers.base import Outcome, Provider, register


@register
class ConstantProvider(Provider):
    """Answers every call with '42' in 0.25 s for 0.001 USD (10 tokens in, 5 out)."""

    name = "constant"
    mode = "constant"
    colour = "#2f855a"
    order = 40
    asynchronous = False

    def __init__(self, scenario, names, requests, seed):
        self.notes = {n: "every answer is the constant '42'" for n in names}

    def bind(self, model):
        def answer(req, rkey, now, attempt):
            return Outcome(True, 0.25, None, 10, 5, 0.001, "42")
        return answer
'''

SCENARIO = """\
name: const
seed: 3
concurrency: 1000
fleet:
  answerer:
    model: gpt-4o-mini
    provider: {provider}
router:
  policy: static
  params: {{target: answerer}}
graders:
  - type: exact
traffic:
  source: traffic.jsonl
"""


@pytest.fixture
def constant_kind(tmp_path):
    """The ``constant`` kind, registered from its own file; unregistered afterwards."""
    path = tmp_path / "constant_provider.py"
    path.write_text(CONSTANT_KIND)
    spec = importlib.util.spec_from_file_location("wb_test_constant_provider", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module.ConstantProvider
    finally:
        PROVIDER_KINDS.unregister("constant")
        sys.modules.pop(spec.name, None)


def test_builtin_kinds_and_their_display_metadata():
    assert provider_kind_names()[:3] == ["simulated", "recorded", "live"]
    assert data_modes()[:3] == ["simulated", "recorded", "live"] and data_modes()[-1] == "mixed"
    live = provider_kind("live")
    assert (live.mode, live.colour, live.order) == ("live", "#c53030", 30)
    assert provider_kind("constant") is None
    assert mode_colour("mixed: simulated + live") == "#dd6b20" and mode_colour("nobody") == "#4a5568"


def test_a_new_kind_is_one_file_and_replays_into_duckdb(constant_kind, scenario_file, db):
    assert provider_kind_names() == ["simulated", "recorded", "live", "constant"]
    path = scenario_file(SCENARIO.format(provider="constant"), n=40, expected="42")
    scn = load_scenario(path)
    assert scn.mode == "constant"
    rid, s = run(path, db)
    assert (s["mode"], s["model_modes"]) == ("constant", {"answerer": "constant"})
    assert (s["requests"], s["completed"], s["failed"]) == (40, 40, 0)
    assert s["cost_usd"] == pytest.approx(40 * 0.001, abs=1e-12)
    assert s["quality"] == 1.0  # the exact grader against expected '42'
    assert (s["prompt_tokens"], s["completion_tokens"]) == (400, 200)
    attempts = table(db, "attempts", rid)
    assert len(attempts) == 40
    assert set(attempts["provider"]) == {"constant"} and set(attempts["response"]) == {"42"}
    assert (attempts["end_s"] - attempts["start_s"]).tolist() == pytest.approx([0.25] * 40)
    requests = table(db, "requests", rid)
    assert requests["latency_s"].tolist() == pytest.approx([0.25] * 40)  # concurrency 1000: no queueing
    with duckdb.connect(str(db), read_only=True) as con:
        notes = json.loads(con.execute("SELECT notes FROM runs WHERE run_id = ?", [rid]).fetchone()[0])
    assert "answerer: every answer is the constant '42'" in notes


def test_a_new_kind_labels_and_colours_its_figures(constant_kind):
    assert data_modes() == ["simulated", "recorded", "live", "constant", "mixed"]
    assert data_label(["constant", "simulated", "constant"]) == "mixed: simulated + constant"
    assert mode_colour("constant") == "#2f855a" and "#2f855a" in mode_badge("constant")
    assert edits.provider_names()[-1] == "constant"
    data = {"fleet": {"m": {"model": "gpt-4o"}}}
    edits.set_provider(data, "m", "constant")
    assert data["fleet"]["m"]["provider"] == "constant"


def test_the_app_refuses_an_unknown_kind_naming_the_field():
    with pytest.raises(InputError) as info:
        edits.set_provider({"fleet": {"m": {"model": "gpt-4o"}}}, "m", "constant")
    assert info.value.field == "fleet.m.provider"
    assert info.value.reason == "unknown provider 'constant' (registered: simulated, recorded, live)"


def test_an_unknown_kind_is_refused_with_file_line_and_field(tmp_path):
    text = SCENARIO.format(provider="constnat")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert (err.file, err.line, err.field) == (str(path), 7, "fleet.answerer.provider")
    assert err.reason == "unknown provider 'constnat' (registered: simulated, recorded, live)"
    assert str(err).startswith(f"{path}:7, field 'fleet.answerer.provider': unknown provider")


def test_a_mixed_fleet_dispatches_by_kind(constant_kind, tmp_path):
    text = SCENARIO.format(provider="constant").replace(
        "router:", "  other:\n    model: gpt-4o-mini\nrouter:")
    scn = parse_scenario(text, source=tmp_path / "s.yaml")
    assert scn.mode == "mixed"
    req = Request(id="r1", prompt="What is six times seven?", expected="42")
    fleet = make_provider(scn, [req], 3)
    assert (fleet.mode, fleet.modes) == ("mixed", {"answerer": "constant", "other": "simulated"})
    assert fleet.notes == {"answerer": "every answer is the constant '42'"}
    assert fleet.asynchronous is False and not fleet.is_async("other")
    assert fleet.call("answerer", req, 1, 0.0) == Outcome(True, 0.25, None, 10, 5, 0.001, "42")
    simulated = fleet.call("other", req, 1, 0.0)
    assert simulated.ok and simulated.cost_usd > 0
    assert asyncio.run(fleet.acall("other", req, 1, 0.0)) == simulated  # same draw: seeded by the request


# --- the contract: checked when a provider registers and when it is built ------------------------------

def _fleet(kind: str, tmp_path):
    return parse_scenario(SCENARIO.format(provider=kind), source=tmp_path / "s.yaml")


def test_an_incomplete_provider_is_refused_at_build_naming_what_it_lacks(tmp_path):
    @register
    class Incomplete:
        """Forgets notes and asynchronous, and binds nothing."""

        name = "incomplete"
        mode = "incomplete"

        def __init__(self, scenario, names, requests, seed):
            pass

        def bind(self, model):
            return None

    try:
        scn = _fleet("incomplete", tmp_path)  # the name is registered: the scenario loads
        with pytest.raises(TypeError) as info:
            make_provider(scn, [], 0)
    finally:
        PROVIDER_KINDS.unregister("incomplete")
    message = str(info.value)
    assert message.startswith(f"provider kind 'incomplete' ({__name__}.test_an_incomplete_provider_is_refused_at_"
                              "build_naming_what_it_lacks.<locals>.Incomplete) does not implement the Provider "
                              "contract (workbench/providers/base.py): ")
    assert "no 'notes' (a dict: fleet model -> what a report must say" in message
    assert "no 'asynchronous' (a bool: True when bind() returns coroutine functions" in message
    assert "bind('answerer') returned NoneType, not a callable answer(request, rkey, now, attempt)" in message


def test_a_provider_whose_calls_are_not_what_it_declares_is_refused(tmp_path):
    @register
    class Pretender(Provider):
        """Says its calls are plain, but they are coroutines."""

        name = "pretender"
        mode = "live"
        asynchronous = False

        def __init__(self, scenario, names, requests, seed):
            self.notes = {}

        def bind(self, model):
            async def answer(req, rkey, now, attempt):
                return Outcome(True, 0.1)
            return answer

    try:
        with pytest.raises(TypeError, match=r"bind\('answerer'\) returned a coroutine function but "
                                            r"asynchronous is False"):
            make_provider(_fleet("pretender", tmp_path), [], 0)
    finally:
        PROVIDER_KINDS.unregister("pretender")


def test_a_class_without_name_or_mode_cannot_register():
    class Nameless:
        mode = "x"

        def bind(self, model):
            return None

    with pytest.raises(TypeError, match=r"Nameless cannot register: it needs a class attribute 'name' "
                                        r"\(a non-empty str\)"):
        register(Nameless)
    assert "x" not in provider_kind_names()


def test_the_builtin_providers_meet_the_contract(tmp_path):
    scn = parse_scenario(SCENARIO.format(provider="simulated"), source=tmp_path / "s.yaml")
    fleet = make_provider(scn, [], 0)  # built and checked
    assert isinstance(fleet, FleetProvider) and fleet.mode == "simulated" and fleet.notes == {}
    text = textwrap.dedent("""\
        name: l
        fleet:
          m: {model: gpt-4o-mini, provider: live, api_base: "http://127.0.0.1:9"}
        router: {policy: static, params: {target: m}}
        traffic: {source: traffic.jsonl}
        """)
    live = make_provider(parse_scenario(text, source=tmp_path / "l.yaml"), [], 0)
    assert live.asynchronous and live.is_async("m") and live.modes == {"m": "live"}
    with pytest.raises(TypeError, match="answers asynchronously .* use acall"):
        live.call("m", Request(id="r", prompt="hi"), 1, 0.0)


def test_checking_provider_kinds_imports_no_store_and_no_litellm():
    # The loader imports every provider module to list the kinds: none may pull in DuckDB, pandas or
    # litellm at import (they cost a second before the first scenario could even be validated).
    code = ("import sys; from workbench.scenario import load_scenario; "
            "scn = load_scenario(sys.argv[1]); assert scn.mode == 'simulated'; "
            "print(sorted(m for m in ('duckdb', 'pandas', 'litellm') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(SCENARIOS / "support-tiered.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
