"""``threshold``: each scorer's score, fixed cuts, calibration to a share (ties included), errors, replay."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run, table

from workbench.errors import ScenarioError, TrafficError
from workbench.policies import RouteContext, build_policy
from workbench.policies.threshold import calibrate
from workbench.scenario import parse_scenario
from workbench.seeds import request_key
from workbench.traffic import Request, load_traffic

# Line numbers matter: ``strong`` is on line 8, PARAMS starts on line 10.
TEXT = """name: t
fleet:
  large: {model: gpt-4o}
  small: {model: gpt-4o-mini}
router:
  policy: threshold
  params:
    strong: STRONG
    weak: small
PARAMS
traffic: {source: t.jsonl}
"""
TICKETS = Path(__file__).resolve().parents[2] / "scenarios" / "traffic" / "support_tickets.jsonl"
CTX = RouteContext(0.0, 0.0, 1)


def policy(params: str, strong: str = "large", source: str | None = None):
    """The built ``threshold`` policy for YAML param lines (each indented under ``params:``)."""
    text = TEXT.replace("STRONG", strong).replace("PARAMS", params.strip("\n"))
    return build_policy(parse_scenario(text, source=source))


def req(prompt: str = "hello", **kw) -> Request:
    return Request(id=kw.pop("id", "r"), prompt=prompt, **kw)


def ctx(seed: int, rid: str) -> RouteContext:
    return RouteContext(0.0, 0.0, request_key(seed, rid))


SCORES = [
    ("{type: length}", [(req("x" * 812), 812.0), (req(""), 0.0), (req("héllo\nwörld"), 11.0)]),
    ("{type: difficulty}", [(req(difficulty=0.97), 0.97), (req(difficulty=0.0), 0.0)]),
    ("{type: keywords, keywords: {refund: 2, lawyer: 3, invoice: 1, credit card: 5, c++: 0.5}}",
     [(req("I want a REFUND from your Lawyer."), 5.0),
      (req("refund refund refund"), 2.0),  # each keyword once, however often it appears
      (req("refunded, nonrefundable, lawyers, invoices"), 0.0),  # whole words only
      (req("my credit\n card and my C++ invoice"), 6.5),
      (req("(refund)/invoice!"), 3.0),
      (req("nothing to see"), 0.0)]),
    ("{type: metadata, field: seats}",
     [(req(metadata={"seats": 950}), 950.0), (req(metadata={"seats": "12.5"}), 12.5),
      (req(metadata={"plan": "pro"}), 0.0), (req(), 0.0), (req(metadata={"seats": True}), 1.0)]),
]


@pytest.mark.parametrize("scorer,cases", SCORES, ids=["length", "difficulty", "keywords", "metadata"])
def test_each_scorer_scores_crafted_requests(scorer, cases):
    p = policy(f"    scorer: {scorer}\n    threshold: 1e9")
    for r, want in cases:
        d = p.decide(r, CTX)
        assert d.score == want, r
        assert d.target == "small" and "(fixed threshold) -> small" in d.reason


def test_reason_labels_the_difficulty_field_and_the_scorer():
    d = policy("    scorer: {type: difficulty}\n    threshold: 0.5").decide(req(difficulty=0.97), CTX)
    assert d.reason == "difficulty field score 0.97 > 0.5 (fixed threshold) -> large"
    seats = policy("    scorer: {type: metadata, field: seats}\n    threshold: 100")
    d = seats.decide(req(metadata={"seats": 9}), CTX)
    assert d.reason == "metadata seats score 9 < 100 (fixed threshold) -> small"


def test_fixed_threshold_routes_score_at_or_above_to_strong():
    p = policy("    scorer: {type: length}\n    threshold: 10")
    p.fit([req("x" * 3)])  # fitting does not move a fixed threshold
    got = {n: p.decide(req("x" * n), CTX) for n in (0, 9, 10, 11, 500)}
    assert {n: d.target for n, d in got.items()} == {0: "small", 9: "small", 10: "large", 11: "large",
                                                     500: "large"}
    assert got[10].reason == "length score 10 >= 10 (fixed threshold) -> large"
    assert got[9].reason == "length score 9 < 10 (fixed threshold) -> small"
    assert [d.score for d in got.values()] == [0.0, 9.0, 10.0, 11.0, 500.0]


@pytest.mark.parametrize("scorer", ["length", "difficulty"])
@pytest.mark.parametrize("share", [0.1, 0.3, 0.5])
def test_calibration_hits_the_target_share_on_the_demo_traffic(scorer, share):
    requests = load_traffic(TICKETS).requests
    p = policy(f"    scorer: {{type: {scorer}}}\n    strong_share: {share}")
    p.fit(requests)
    decisions = [p.decide(r, ctx(11, r.id)) for r in requests]
    achieved = sum(d.target == "large" for d in decisions) / len(decisions)
    assert achieved == pytest.approx(share, abs=0.02)
    assert all(f"(calibrated to {share:.0%} strong on the replayed traffic, in-sample)" in d.reason
               for d in decisions)
    # the threshold is the (1 - share) quantile: no weak request outscores a strong one
    strong = [d.score for d in decisions if d.target == "large"]
    weak = [d.score for d in decisions if d.target == "small"]
    assert min(strong) >= max(weak)


def test_heavy_ties_are_split_by_a_draw_so_the_share_stays_exact():
    # Three labels only (as in traffic labelled easy/medium/hard): 40% of requests tie at 0.5, and a
    # plain "score >= quantile" would send 60% strong when 30% was asked for.
    requests = [req(id=f"r{i}", difficulty=(0.2, 0.5, 0.5, 0.8, 0.2)[i % 5]) for i in range(5000)]
    p = policy("    scorer: {type: difficulty}\n    strong_share: 0.3")
    p.fit(requests)
    decisions = {r.id: p.decide(r, ctx(3, r.id)) for r in requests}
    strong = {rid for rid, d in decisions.items() if d.target == "large"}
    assert len(strong) / len(requests) == pytest.approx(0.3, abs=0.02)
    hard = {r.id for r in requests if r.difficulty == 0.8}
    easy = {r.id for r in requests if r.difficulty == 0.2}
    assert hard <= strong and not easy & strong
    tie = decisions["r1"]
    assert tie.reason.startswith("difficulty field score 0.5 = 0.5, tie draw ") and " 0.250 " in tie.reason
    # the draw is fixed per request and seed: same seed, same routes
    again = {r.id: p.decide(r, ctx(3, r.id)).target for r in requests}
    assert again == {rid: d.target for rid, d in decisions.items()}


@pytest.mark.parametrize("scores,share,want", [
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.3, (8, 1.0)),
    ([1, 1, 1, 1, 2, 2, 2, 2, 3, 3], 0.3, (2, 0.25)),
    ([5] * 10, 0.3, (5, 0.3)),
    ([1, 2, 3], 0.0, (3, 0.0)),
    ([1, 2, 3], 1.0, (1, 1.0)),
])
def test_calibrate_gives_the_cut_and_tie_probability(scores, share, want):
    cut, p = calibrate(scores, share)
    assert (cut, p) == (want[0], pytest.approx(want[1]))


def test_decide_before_fit_with_strong_share_is_a_clear_error():
    p = policy("    scorer: {type: length}\n    strong_share: 0.3")
    with pytest.raises(RuntimeError, match="must be fitted first"):
        p.decide(req(), CTX)


@pytest.mark.parametrize("scorer,bad,message", [
    ("{type: difficulty}", req(id="T9"), "request 'T9' has none"),
    ("{type: metadata, field: seats}", req(id="T8", metadata={"seats": "many"}), "request 'T8' has 'many'"),
])
def test_fit_rejects_a_request_the_scorer_cannot_score(scorer, bad, message):
    p = policy(f"    scorer: {scorer}\n    threshold: 1")
    with pytest.raises(TrafficError, match=message):
        p.fit([req(id="ok", difficulty=0.5, metadata={"seats": 3}), bad])


ERROR_CASES = [
    # (params, strong, field, line, message)
    ("    scorer: {type: length}\n    threshold: 0.5\n    strong_share: 0.3", "large",
     "router.params.strong_share", 12, "not both"),
    ("    scorer: {type: length}", "large", "router.params", 7, "exactly one of threshold"),
    ("    scorer: {type: length}\n    threshold: 5", "huge", "router.params.strong", 8, "unknown target 'huge'"),
    ("    scorer: {type: length}\n    strong_share: 1.5", "large", "router.params.strong_share", 11, "less than"),
    ("    scorer: {type: shoe_size}\n    threshold: 5", "large", "router.params.scorer", 10, "does not match"),
    ("    scorer: {type: keywords, keywords: {Refund: 1, refund: 2}}\n    threshold: 1", "large",
     "router.params.scorer.keywords.keywords", 10, "listed twice"),
    ("    scorer: {type: metadata}\n    threshold: 1", "large", "router.params.scorer.metadata.field", 10,
     "Field required"),
    ("    scorer: {type: length, field: x}\n    threshold: 1", "large", "router.params.scorer.length.field", 10,
     "unknown param"),
]


@pytest.mark.parametrize("params,strong,field,line,message", ERROR_CASES,
                         ids=["both", "neither", "unknown-target", "share-range", "unknown-scorer",
                              "duplicate-keyword", "metadata-needs-field", "typo"])
def test_bad_params_name_file_field_and_line(params, strong, field, line, message):
    with pytest.raises(ScenarioError) as err:
        policy(params, strong, source="t.yaml")
    assert (err.value.file, err.value.field, err.value.line) == ("t.yaml", field, line)
    assert message in err.value.reason


# Ten draws (with replacement) of each of the 370 demo tickets. On the 370 alone the quality gap
# between the two designs has a spread of about 0.023 from seed to seed (12 seeds measured while
# this was written: mean +0.027, one seed below zero) against an expected gain of 0.033
# (0.801 vs 0.768, from the simulated fleet's P(correct) and the tickets' difficulties), so one seed
# could not show it; at 3,700 requests the spread is about a third of that.
SAMPLE = 3700


def _scenario(tmp_path: Path, name: str, router: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""name: {name}
seed: 7
fleet:
  large: {{model: gpt-4o}}
  small: {{model: gpt-4o-mini}}
router:
{router}
graders: [{{type: exact}}]
traffic: {{source: '{TICKETS}', sample: {SAMPLE}, replace: true,
          arrival: {{process: poisson, rate_per_s: 50.0}}}}
""")
    return path


def test_replay_difficulty_threshold_beats_a_blind_split_at_the_same_share(tmp_path):
    threshold = _scenario(tmp_path, "threshold", "  policy: threshold\n  params: {strong: large, weak: small, "
                          "scorer: {type: difficulty}, strong_share: 0.3}")
    weighted = _scenario(tmp_path, "weighted", "  policy: weighted\n  params: {weights: {large: 0.3, small: 0.7}}")
    db = tmp_path / "t.duckdb"
    results = {}
    for name, path in [("threshold", threshold), ("weighted", weighted)]:
        rid, summary = run(path, db)
        rows = table(db, "requests", rid)
        assert len(rows) == SAMPLE and (rows.policy == name).all()
        results[name] = ((rows.route == "large").mean(), summary["quality"], rows)
    t_share, t_quality, t_rows = results["threshold"]
    w_share, w_quality, w_rows = results["weighted"]
    print(f"\nlarge share: threshold {t_share:.3f}, weighted {w_share:.3f}; "
          f"quality: threshold {t_quality:.3f}, weighted {w_quality:.3f}")
    assert set(t_rows.request_id) == set(w_rows.request_id)  # the same requests in both runs
    assert t_share == pytest.approx(0.3, abs=0.02)
    assert w_share == pytest.approx(0.3, abs=0.02)
    assert t_quality > w_quality + 0.01
    assert t_rows.reason.str.contains("calibrated to 30% strong on the replayed traffic, in-sample").all()
    assert t_rows.reason.str.startswith("difficulty field score ").all()
    assert t_rows.decision_score.notna().all()
    # the hard tickets went to the strong model
    by_route = t_rows.groupby("route").decision_score
    assert by_route.min()["large"] >= by_route.max()["small"]
