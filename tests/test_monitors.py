"""Timelines and monitors: detectors catch a step change in bounded delay without false alarms, the drills
show their stated figures, alarms act (pin, remove, switch), and bad input stops before anything is written."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import SCENARIOS
from helpers import wb

from workbench.errors import ScenarioError
from workbench.monitors import make_detector
from workbench.monitors.spec import CusumSpec
from workbench.runner import execute, prepare
from workbench.scenario import load_scenario, parse_scenario
from workbench.store import TraceStore
from workbench.store.alerts import run_alerts

_BENCH = SCENARIOS.parent / "benchmarks" / "drift_detection.py"
_spec = importlib.util.spec_from_file_location("drift_detection", _BENCH)
assert _spec is not None and _spec.loader is not None
drift = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(drift)

#: Worst delay in graded answers over 50 seeds (benchmarks/drift_detection.py, README): the bound tested.
BOUND = {"cusum": 320, "ewma": 145, "page_hinkley": 105, "adwin": 272}


def test_each_detector_catches_the_step_in_bounded_delay_and_never_alarms_without_it():
    res = drift.measure(list(range(20)))  # 40 runs of 1,200 requests, about 6 s
    for name, r in res.items():
        assert r["missed"] == 0 and r["false_alarms"] == 0, (name, r)
        assert len(r["requests"]) == 20 and max(r["requests"]) <= BOUND[name], (name, r["requests"])
        assert 0 < min(r["seconds"]) and max(r["seconds"]) <= 90, (name, r["seconds"])
    assert sorted(res["cusum"]["requests"])[10] == pytest.approx(54, abs=25)


def test_cusum_reads_out_statistic_and_threshold():
    det = make_detector(CusumSpec(type="cusum", k=0.5, h=4, warmup=4), "down")
    assert not any(det.update(x) for x in (1.0, 0.0, 1.0, 0.0))  # warm-up: mean 0.5, sd 0.577
    assert not det.update(0.5) and det.statistic == 0.0
    alarms = [det.update(0.0) for _ in range(5)]  # z = -0.866 each: S- grows by 0.366
    assert alarms == [False] * 5 and det.statistic == pytest.approx(5 * (0.5 / 0.57735 - 0.5), rel=1e-4)
    assert det.threshold == 4.0


def _run(scn, tmp_path):
    with TraceStore(tmp_path / "t.duckdb") as store:
        rid, _ = execute(prepare(scn), store)
        alerts = run_alerts(store.con, rid)
        con = store.con
        bad = con.execute("SELECT count(*) FROM attempts WHERE run_id = ? AND ok AND model_version = '2024-11-20'",
                          [rid]).fetchone()[0]
        quality = con.execute("SELECT avg(quality) FROM requests WHERE run_id = ?", [rid]).fetchone()[0]
        p95 = con.execute("SELECT max(p) FROM (SELECT quantile_cont(latency_s, 0.95) p FROM requests WHERE run_id = ? "
                          "GROUP BY floor(arrival_s / 60))", [rid]).fetchone()[0]
        late = con.execute("SELECT count(*) FROM attempts WHERE run_id = ? AND target = 'primary' AND start_s > ?",
                           [rid, alerts[0]["at_s"] if alerts else 1e9]).fetchone()[0]
    return alerts, bad, quality, p95, late


def _with_action(path, action):
    scn = load_scenario(path)
    mon = scn.monitors[0].model_copy(update={"action": action})
    return scn.model_copy(update={"monitors": [mon]})


def test_model_update_drill_pins_the_previous_version_with_the_stated_figures(tmp_path):
    path = SCENARIOS / "drill-model-update.yaml"
    alerts, bad, quality, _, _ = _run(load_scenario(path), tmp_path)
    assert [a["monitor"] for a in alerts] == ["primary-quality"] and alerts[0]["action"] == "pin_previous"
    assert alerts[0]["at_s"] == pytest.approx(75.82, abs=0.01) and alerts[0]["statistic"] > alerts[0]["threshold"] == 20
    assert "pinned primary to version 2024-08-06" in alerts[0]["message"]
    assert bad == 84 and quality == pytest.approx(0.88125)
    alerts2, bad2, quality2, _, _ = _run(_with_action(path, "notify"), tmp_path / "n")
    assert alerts2[0]["at_s"] == alerts[0]["at_s"] and bad2 == 2157 and quality2 == pytest.approx(0.67417, abs=1e-4)


def test_latency_creep_drill_switches_before_the_p95_target_is_missed(tmp_path):
    path = SCENARIOS / "drill-latency-creep.yaml"
    alerts, _, _, p95, late = _run(load_scenario(path), tmp_path)
    assert len(alerts) == 1 and alerts[0]["action"] == "switch_fallback:secondary"
    assert alerts[0]["at_s"] == pytest.approx(78.77, abs=0.01)
    assert late == 0 and p95 == pytest.approx(9.69, abs=0.01) and p95 < 12.0
    _, _, _, p95_notify, late_notify = _run(_with_action(path, "notify"), tmp_path / "n")
    assert p95_notify == pytest.approx(31.78, abs=0.01) and late_notify > 2000


def test_remove_takes_the_target_out_of_routing(tmp_path):
    scn = _with_action(SCENARIOS / "drill-latency-creep.yaml", "remove")
    alerts, _, _, p95, late = _run(scn, tmp_path)
    assert alerts[0]["action"] == "remove" and "took primary out of routing" in alerts[0]["message"]
    assert late == 0 and p95 < 12.0


def test_a_model_without_timeline_stores_no_version_and_steps_apply_at_their_time(tmp_path, scenario_file):
    path = scenario_file("""
        name: t
        seed: 1
        fleet:
          m: {model: gpt-4o-mini, sim: {error_rates: {}}, timeline: [{at_s: 50, version: v2, quality: -1}]}
          n: {model: gpt-4o}
        router: {policy: static, params: {target: m}}
        fallbacks: {m: [{to: n}]}
        graders: [{type: exact}]
        traffic: {source: traffic.jsonl, arrival: {process: poisson, rate_per_s: 2.0}}
        """)
    with TraceStore(tmp_path / "t.duckdb") as store:
        rid, _ = execute(prepare(path), store)
        rows = store.con.execute("SELECT model_version, min(start_s), max(start_s), avg(score) FROM attempts "
                                 "WHERE run_id = ? GROUP BY 1 ORDER BY 2", [rid]).fetchall()
    assert [r[0] for r in rows] == ["base", "v2"] and rows[0][2] < 50 <= rows[1][1] and rows[1][3] == 0.0


BASE = """
name: bad
fleet:
  m:
    model: gpt-4o-mini
    timeline:
      - {at_s: 10, quality: -0.1}
router: {policy: static, params: {target: m}}
graders: [{type: exact}]
monitors:
  - {name: q, metric: score, target: m, detector: {type: cusum}}
traffic: {source: traffic.jsonl, arrival: {process: poisson, rate_per_s: 2.0}}
"""


@pytest.mark.parametrize("old,new,line,field,words", [
    ("{at_s: 10, quality: -0.1}", "{at_s: 5000, quality: -0.1}", 7, "fleet.m.timeline[0].at_s",
     "past the traffic's end"),
    ("{at_s: 10, quality: -0.1}", "{from_s: 20, to_s: 10, latency_x: 2}", 7, "fleet.m.timeline[0]",
     "must be after from_s"),
    ("{at_s: 10, quality: -0.1}", "{at_s: 10, category_quality: {bilING: -0.2}}", 7,
     "fleet.m.timeline[0].category_quality.bilING", "unknown category"),
    ("metric: score", "metric: scroe", 11, "monitors[0].metric", "score"),
    ("target: m,", "target: z,", 11, "monitors[0].target", "unknown target 'z'"),
    ("{type: cusum}", "{type: cusum, h: -1}", 11, "monitors[0].detector.cusum.h", "greater than 0"),
    ("{type: cusum}", "{type: adwin, delta: 2}", 11, "monitors[0].detector.adwin.delta", "less than 1"),
])
def test_bad_input_names_file_line_and_field_and_writes_nothing(tmp_path, scenario_file, old, new, line, field,
                                                               words):
    assert old in BASE
    path = scenario_file(BASE.replace(old, new), n=50)
    with pytest.raises(ScenarioError) as exc:
        prepare(path)
    err = exc.value
    assert (err.file, err.line, err.field) == (str(path), line, field) and words in str(err), str(err)
    res = wb("run", str(path), "--db", str(tmp_path / "x.duckdb"), "--json", cwd=tmp_path)
    assert res.returncode != 0 and f"{path.name}:{line}" in res.stderr and not (tmp_path / "x.duckdb").exists()


def test_run_json_lists_alerts(tmp_path):
    res = wb("run", str(SCENARIOS / "drill-model-update.yaml"), "--requests", "400", "--db",
             str(tmp_path / "t.duckdb"), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    alerts = json.loads(res.stdout)["alerts"]
    got = [(a["monitor"], a["target"], a["action"]) for a in alerts]
    assert got == [("primary-quality", "primary", "pin_previous")]
    assert alerts[0]["at_s"] == pytest.approx(75.82, abs=0.01)


def test_pin_previous_needs_a_timeline():
    text = BASE.replace("detector: {type: cusum}}", "detector: {type: cusum}, action: pin_previous}").replace(
        "    timeline:\n      - {at_s: 10, quality: -0.1}\n", "")
    with pytest.raises(ScenarioError, match="pin_previous needs a target with a timeline"):
        parse_scenario(text)
    with pytest.raises(ScenarioError, match="score needs a grader: the scenario has no graders") as exc:
        parse_scenario(BASE.replace("graders: [{type: exact}]\n", ""))
    assert exc.value.field == "monitors[0].metric"


RECORDED = """
name: rec
seed: 7
fleet:
  strong:
    model: gpt-4-1106-preview
    provider: recorded
    version: A
    timeline: [{at_s: 50, model: together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1, version: B}]
  weak: {model: together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1, provider: recorded}
router: {policy: static, params: {target: TARGET}}
graders: [{type: recorded_score}]
traffic: {dataset: routellm-mmlu, sample: 200, arrival: {process: poisson, rate_per_s: 2.0}}
"""


def test_a_recorded_model_switches_to_another_models_answers_at_its_time(tmp_path, routellm_env):
    got = {}
    with TraceStore(tmp_path / "t.duckdb") as store:
        for target in ("strong", "weak"):
            rid, _ = execute(prepare(parse_scenario(RECORDED.replace("TARGET", target))), store)
            got[target] = store.con.execute(
                "SELECT r.arrival_s, a.start_s, a.score, a.model_version FROM requests r JOIN attempts a "
                "USING (run_id, request_id) WHERE r.run_id = ? ORDER BY r.seq", [rid]).fetchall()
    strong, weak = got["strong"], got["weak"]
    assert len(strong) == len(weak) == 200
    after = [(s[2], w[2]) for s, w in zip(strong, weak, strict=True) if s[1] >= 50]
    before = [(s[2], w[2]) for s, w in zip(strong, weak, strict=True) if s[1] < 50]
    assert 50 < len(after) < 150 and all(a == b for a, b in after)  # version B: the other model's answers
    assert sum(a != b for a, b in before) >= 10  # version A: its own (scores differ on some questions)
    assert {s[3] for s in strong if s[1] < 50} == {"A"} and {s[3] for s in strong if s[1] >= 50} == {"B"}
    assert {w[3] for w in weak} == {None}


def test_explain_lists_the_monitors(tmp_path):
    res = wb("explain", str(SCENARIOS / "drill-latency-creep.yaml"), "My invoice is wrong", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert ("monitor primary-latency: cusum (k 0.5, h 10, warmup 200; up) on latency of primary -> "
            "switch_fallback:secondary") in res.stdout


def test_the_readme_example_loads():
    import re

    readme = (SCENARIOS.parent / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "monitors:" in b)
    scn = parse_scenario("name: r\n" + block + "router: {policy: static, params: {target: primary}}\n"
                         "graders: [{type: exact}]\ntraffic: {source: t.jsonl}\n", source="README.md")
    assert [e.version for e in scn.fleet["primary"].timeline] == ["2024-11-20", None]
    assert scn.monitors[0].action == "pin_previous" and scn.monitors[0].direction == "down"


def test_a_design_monitor_watches_finished_requests(tmp_path, scenario_file):
    path = scenario_file("""
        name: d
        seed: 2
        fleet:
          m: {model: gpt-4o-mini, sim: {error_rates: {}, outages: [{start_s: 60, end_s: 1000}]}}
        router: {policy: static, params: {target: m}}
        retries: {max_retries: 0}
        graders: [{type: exact}]
        monitors:
          - {name: errors, metric: error_rate, detector: {type: cusum, warmup: 50, h: 5}}
        traffic: {source: traffic.jsonl, arrival: {process: poisson, rate_per_s: 2.0}}
        """, n=300)
    with TraceStore(tmp_path / "t.duckdb") as store:
        rid, _ = execute(prepare(path), store)
        alerts = run_alerts(store.con, rid)
    assert [(a["monitor"], a["target"], a["action"]) for a in alerts] == [("errors", None, "notify")]
    assert 60 <= alerts[0]["at_s"] < 65 and "of the design" in alerts[0]["message"]


@pytest.mark.parametrize("monitor,after", [
    ("{name: p95, metric: p95_latency, target: primary, window: 20, detector: {type: ewma, warmup: 5, width: 3}}",
     60.0),
    ("{name: fmt, metric: format_failure_rate, grader: exact, target: primary, detector: {type: page_hinkley, "
     "min_instances: 200, delta: 0.08, threshold: 8}}", 60.0),
])
def test_windowed_p95_and_a_graders_failure_rate_alarm_after_the_change(tmp_path, monitor, after):
    scn = load_scenario(SCENARIOS / "drill-model-update.yaml")
    text = scn.yaml_text.replace("traffic/support_tickets.jsonl", str(SCENARIOS / "traffic" / "support_tickets.jsonl"))
    text = text.replace("{at_s: 60, version: \"2024-11-20\", quality: -0.25}",
                        "{at_s: 60, version: \"2024-11-20\", quality: -0.25, latency_x: 3}")
    head, _, _ = text.partition("monitors:")
    body = text.split("traffic:", 1)[1]
    alerts, *_ = _run(parse_scenario(f"{head}monitors:\n  - {monitor}\ntraffic:{body}"), tmp_path)
    assert len(alerts) == 1 and after < alerts[0]["at_s"] < after + 60, alerts


def test_timeline_steps_ramps_add_up_and_pin_freezes_the_previous_version():
    from workbench.timeline import Timeline, TimelineEntry

    tl = Timeline([TimelineEntry(from_s=100, to_s=200, latency_x=3.0, version="v3"),
                   TimelineEntry(at_s=50, quality=-0.2, category_quality={"billing": 0.1}, version="v2")], "v1")
    assert (tl.at(49.9).version, tl.at(49.9).quality) == ("v1", 0.0)
    mid = tl.at(150)
    assert (mid.version, mid.quality, mid.category_quality, mid.latency_x) == ("v3", -0.2, {"billing": 0.1}, 2.0)
    assert tl.at(500).latency_x == 3.0
    pinned = tl.pin(160)  # the latest change begun is the ramp: back to v2, as it was when the ramp began
    assert pinned is not None and (pinned.version, pinned.quality, pinned.latency_x) == ("v2", -0.2, 1.0)
    assert tl.at(1000) is pinned and tl.pin(1000) is None  # pinned once; later times keep the pin
    assert Timeline([TimelineEntry(at_s=10, quality=-0.1)], None).pin(5) is None  # nothing begun: nothing to pin
