"""The ``utility`` policy among three models, on a simulated outcome matrix imported through the generic
format (real import, real litellm prices and tokens): it stays under the oracle, beats every fixed mix
of the three models at equal cost, and its cost weight calibrates to a budget."""

from __future__ import annotations

import csv
import json
import textwrap

import numpy as np
import pytest
from helpers import run

from workbench.cli import main
from workbench.policies.utility import calibrate_weight, choose, choose_for_target

CHEAP, MID, TOP = "gpt-4o-mini", "gpt-4o", "gpt-4-1106-preview"
#: P(right) by topic: the cheap model only writes poems well, the mid one also code, only the top one maths.
SKILL = {"poem": {CHEAP: 0.9, MID: 0.9, TOP: 0.92}, "code": {CHEAP: 0.25, MID: 0.88, TOP: 0.9},
         "math": {CHEAP: 0.15, MID: 0.3, TOP: 0.9}}
WORDS = {"poem": "write a short poem about the sea and autumn light",
         "code": "write a python function that parses a csv file and returns rows",
         "math": "compute the integral of x squared times sine x from zero to pi"}


def write_three_models(path, n: int = 300, seed: int = 3):
    """A generic-format CSV: ``n`` prompts (a third per topic), each answered by the three models, with
    right/wrong drawn from ``SKILL`` (simulated outcomes; tokens and costs from litellm at import)."""
    rng = np.random.default_rng(seed)
    filler = "please kindly also note that this is request number".split()
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt_id", "prompt", "model", "response", "score", "prompt_tokens", "completion_tokens",
                    "latency_s", "category"])
        for i in range(n):
            topic = list(SKILL)[i % 3]
            words = " ".join(rng.choice(filler, size=4))
            prompt = f"{WORDS[topic]} ({words} {i})"
            for model, p in SKILL[topic].items():
                w.writerow([f"p{i:04d}", prompt, model, "an answer " * (3 if model == CHEAP else 5),
                            int(rng.random() < p), "", "", "", topic])
    return path


@pytest.fixture(scope="module")
def sim3(tmp_path_factory):
    """A data directory holding dataset ``sim3`` (simulated three-model outcomes)."""
    from workbench.datasets import import_outcomes

    folder = tmp_path_factory.mktemp("sim3")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_DATA_DIR", str(folder / "data"))
        import_outcomes(write_three_models(folder / "sim3.csv"), "sim3")
    return folder


@pytest.fixture
def sim3_env(sim3, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(sim3 / "data"))
    return sim3


def test_choice_rules_on_a_small_table():
    q = np.array([[0.9, 0.5, 0.95], [0.2, 0.8, 0.9]])
    c = np.array([[1.0, 2.0, 10.0], [1.0, 2.0, 10.0]])
    assert choose(q, c, 0.0).tolist() == [2, 2]  # best quality, whatever it costs
    assert choose(q, c, 0.02).tolist() == [0, 1]  # 0.9 - 0.02 > 0.95 - 0.2; 0.8 - 0.04 > 0.9 - 0.2
    assert choose(q, c, 1.0).tolist() == [0, 0]
    assert choose_for_target(q, c, 0.85).tolist() == [0, 2]
    assert choose_for_target(q, c, 0.99).tolist() == [2, 2]  # nobody reaches it: the best predicted
    spend = lambda i: float(c[np.arange(2), i].sum())  # noqa: E731
    w = calibrate_weight(q, c, spend, 4.0)  # 20 at weight 0; 3 only once both go to model 0
    assert spend(choose(q, c, w)) <= 4.0 and spend(choose(q, c, w * 0.999)) > 4.0


def test_fleet_eval_stays_under_the_oracle_and_beats_every_fixed_mix(sim3_env, capsys):
    assert main(["datasets", "eval", "sim3", "--fleet", f"{CHEAP},{MID},{TOP}", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    u = r["utility"]
    assert u["out_of_sample"] and u["under_oracle"] and r["no_routing_needed"] is None
    assert u["beats_every_mix"] and u["min_margin"] > 0  # least lead just above the cheapest model's cost
    assert u["aiq"] > u["mix_aiq"] + 0.05  # measured when written: 0.831 against 0.743
    assert all(p["quality"] <= r["oracle"]["quality"] + 1e-12 for p in u["curve"])
    # the mixes' frontier is the three models themselves, cheapest first
    assert [m["model"] for m in r["mixes"]] == [CHEAP, MID, TOP]
    # at the operating point with about the mid model's cost, the router beats the mid model outright
    mid_cost = next(m["cost_usd"] for m in r["models"] if m["model"] == MID)
    mid_q = next(m["quality"] for m in r["models"] if m["model"] == MID)
    near = [p for p in u["curve"] if p["cost_usd"] <= mid_cost]
    assert max(p["quality"] for p in near) > mid_q + 0.02  # when written: 0.740 at $0.043 against 0.710 at $0.053
    assert main(["datasets", "eval", "sim3", "--fleet", f"{CHEAP},{MID},{TOP}"]) == 0
    text = capsys.readouterr().out
    assert "utility beats every fixed mix at equal cost: yes" in text and "no routing needed" not in text


def test_no_routing_needed_when_one_model_is_better_and_cheaper(tmp_path, monkeypatch, capsys):
    from workbench.datasets import import_outcomes

    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    f = tmp_path / "o.csv"
    rows = ["prompt_id,prompt,model,response,score,prompt_tokens,completion_tokens,latency_s"]
    for i in range(12):
        rows.append(f"p{i},question {i} about things,{CHEAP},ok,{1 if i % 4 else 0},10,2,")
        rows.append(f"p{i},question {i} about things,{TOP},ok,{1 if i % 3 else 0},10,2,")
    f.write_text("\n".join(rows) + "\n")
    import_outcomes(f, "dom")
    assert main(["datasets", "eval", "dom", "--fleet", f"{CHEAP},{TOP}", "--folds", "3"]) == 0
    assert f"no routing needed: {CHEAP} is both better and cheaper" in capsys.readouterr().out
    assert main(["datasets", "eval", "dom", "--strong", TOP, "--weak", CHEAP, "--folds", "3", "--json",
                 "--chart", str(tmp_path / "c.svg")]) == 0
    assert json.loads(capsys.readouterr().out)["no_routing_needed"] == CHEAP
    assert (tmp_path / "c.svg").read_text().startswith("<svg")
    assert main(["datasets", "eval", "dom", "--fleet", f"{CHEAP},{TOP}", "--strong", TOP]) == 2
    assert "takes --strong MODEL --weak MODEL, or --fleet" in capsys.readouterr().err


SCENARIO = """\
    name: sim3-utility
    seed: 7
    fleet:
      cheap: {{model: {cheap}, provider: recorded}}
      mid: {{model: {mid}, provider: recorded}}
      top: {{model: {top}, provider: recorded}}
    router:
      policy: utility
      params: {{targets: [cheap, mid, top], {objective}}}
    graders:
      - type: recorded_score
    traffic: {{dataset: sim3}}
"""


def _scenario(tmp_path, objective: str):
    path = tmp_path / "u.yaml"
    path.write_text(textwrap.dedent(SCENARIO.format(cheap=CHEAP, mid=MID, top=TOP, objective=objective)))
    return path


def test_replay_with_a_budget_spends_within_it_and_beats_the_mid_model(sim3_env, tmp_path):
    _, all_cheap = run(_scenario(tmp_path, "quality_target: 0.0"), tmp_path / "a.duckdb")  # all to the cheapest
    rid, s = run(_scenario(tmp_path, "budget_per_1k_usd: 0.5"), tmp_path / "b.duckdb")
    assert s["requests"] == 300
    # the budget is met on predicted costs; the recorded spend lands close to it
    assert s["cost_usd"] / 300 * 1000 == pytest.approx(0.5, rel=0.15)
    assert s["quality"] > all_cheap["quality"] + 0.1, (s, all_cheap)


def test_params_need_exactly_one_objective_and_known_targets(sim3_env, tmp_path):
    from workbench.errors import InputError
    from workbench.runner import prepare

    with pytest.raises(InputError, match="exactly one of cost_weight"):
        prepare(_scenario(tmp_path, "cost_weight: 10, top_share: 0.2"))
    bad = _scenario(tmp_path, "cost_weight: 10").read_text().replace("[cheap, mid, top]", "[cheap, nope]")
    (tmp_path / "bad.yaml").write_text(bad)
    with pytest.raises(InputError, match="unknown target 'nope'"):
        prepare(tmp_path / "bad.yaml")


THRESHOLD = """\
    name: sim3-threshold
    seed: 7
    fleet:
      cheap: {{model: {cheap}, provider: recorded}}
      top: {{model: {top}, provider: recorded}}
    router:
      policy: threshold
      params:
        strong: top
        weak: cheap
        strong_share: {share}
        scorer: {{type: learned, model: {cheap}, {extra}}}
    graders:
      - type: recorded_score
    traffic: {{dataset: sim3}}
"""


def test_threshold_with_the_nested_learned_scorer(sim3_env, tmp_path):
    """The two-model threshold policy can route by the nested-CV scorer (P(strong right) - P(weak right))."""
    from helpers import table

    from workbench.errors import InputError
    from workbench.runner import prepare

    def scenario(share: float, extra: str):
        path = tmp_path / f"t{share}{len(extra)}.yaml"
        path.write_text(textwrap.dedent(THRESHOLD.format(cheap=CHEAP, top=TOP, share=share, extra=extra)))
        return path

    rid, nested = run(scenario(0.4, f"method: nested, strong: {TOP}"), tmp_path / "n.duckdb")
    _, tfidf = run(scenario(0.4, "method: tfidf"), tmp_path / "t.duckdb")
    # 40% strong: the best is every maths prompt (a third) and a few code ones, expected quality about
    # 0.3 + 0.3 + 0.07 * 0.9 + 0.26 * 0.25 = 0.73; the gain scorer gets there, out of sample
    assert nested["quality"] > 0.7 and nested["quality"] >= tfidf["quality"] - 0.02, (nested, tfidf)
    reasons = table(tmp_path / "n.duckdb", "requests", rid)["reason"]
    assert reasons.str.contains(f"learned P({TOP} right) - P({CHEAP} right)", regex=False).all()
    with pytest.raises(InputError, match="give strong"):
        prepare(scenario(0.4, "method: nested"))
