"""``rules``: each condition matches and misses, order and conjunction, errors naming the field, replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run, table

from workbench.errors import ScenarioError
from workbench.policies import RouteContext, build_policy
from workbench.scenario import parse_scenario
from workbench.traffic import Request

# Line numbers matter: RULES starts on line 11, ``default`` is on line 9.
TEXT = """name: r
fleet:
  small: {model: gpt-4o-mini}
  large: {model: gpt-4o}
  tier2: {model: gpt-4o}
router:
  policy: rules
  params:
    default: DEFAULT
    rules:
RULES
traffic: {source: t.jsonl}
"""
CTX = RouteContext(0.0, 0.0, 1)
TICKETS = Path(__file__).resolve().parents[2] / "scenarios" / "traffic" / "support_tickets.jsonl"


def policy(rules: str, default: str = "small", source: str | None = None):
    """The built ``rules`` policy for YAML rule lines (each indented under ``rules:``)."""
    text = TEXT.replace("DEFAULT", default).replace("RULES", rules.strip("\n"))
    return build_policy(parse_scenario(text, source=source))


def req(prompt: str = "hello", **kw) -> Request:
    return Request(id="r", prompt=prompt, **kw)


CASES = [
    ("      - {to: large, category: [outage, refund]}",
     [(req(category="outage"), "rule 1 (category: outage)"), (req(category="refund"), "rule 1 (category: refund)")],
     [req(category="billing"), req(category="Outage"), req()]),
    ("      - {to: large, keywords: [refund, chargeback]}",
     [(req("I want a REFUND."), "rule 1 (keywords: refund)"),
      (req("chargeback filed"), "rule 1 (keywords: chargeback)"),
      (req("(refund)"), "rule 1 (keywords: refund)")],
     [req("I was refunded already"), req("nonrefundable fee"), req("charge back")]),
    (r"      - {to: large, regex: '(?i)\bSSO\b|SAML'}",
     [(req("Our sso login fails"), "rule 1 (regex: 'sso')"), (req("SAMLResponse invalid"), "rule 1 (regex: 'SAML')")],
     [req("my lasso broke"), req("ssologin"), req("samples and single sign-on")]),
    ("      - {to: tier2, metadata: {plan: enterprise, seats: 950}}",
     [(req(metadata={"plan": "enterprise", "seats": 950, "x": 1}), "rule 1 (metadata: plan=enterprise, seats=950)"),
      (req(metadata={"plan": "enterprise", "seats": "950"}), "rule 1 (metadata: plan=enterprise, seats=950)")],
     [req(metadata={"plan": "enterprise"}), req(metadata={"plan": "pro", "seats": 950}), req()]),
    ("      - {to: large, min_chars: 10}",
     [(req("x" * 10), "rule 1 (min_chars: 10 >= 10)"), (req("x" * 500), "rule 1 (min_chars: 500 >= 10)")],
     [req("x" * 9), req("")]),
    ("      - {to: large, max_chars: 5}",
     [(req("abcde"), "rule 1 (max_chars: 5 <= 5)"), (req(""), "rule 1 (max_chars: 0 <= 5)")],
     [req("abcdef")]),
    ("      - {to: large, min_difficulty: 0.7}",
     [(req(difficulty=0.7), "rule 1 (min_difficulty: 0.7 >= 0.7)"),
      (req(difficulty=0.95), "rule 1 (min_difficulty: 0.95 >= 0.7)")],
     [req(difficulty=0.69), req(difficulty=0.0), req()]),
]


@pytest.mark.parametrize("rules,hits,misses", CASES,
                         ids=["category", "keywords", "regex", "metadata", "min_chars", "max_chars", "difficulty"])
def test_each_condition_matches_and_misses(rules, hits, misses):
    p = policy(rules)
    target = "tier2" if "tier2" in rules else "large"
    for r, reason in hits:
        d = p.decide(r, CTX)
        assert (d.target, d.reason, d.score) == (target, reason, None), r
    for r in misses:
        d = p.decide(r, CTX)
        assert (d.target, d.reason, d.score) == ("small", "no rule matched: default", None), r


def test_first_matching_rule_wins():
    keyword_first = "      - {to: tier2, keywords: [refund]}\n      - {to: large, category: [refund]}"
    category_first = "      - {to: large, category: [refund]}\n      - {to: tier2, keywords: [refund]}"
    both = req("refund please", category="refund")
    assert policy(keyword_first).decide(both, CTX).target == "tier2"
    assert policy(category_first).decide(both, CTX).target == "large"
    d = policy(keyword_first).decide(req("hi", category="refund"), CTX)
    assert (d.target, d.reason) == ("large", "rule 2 (category: refund)")


def test_every_condition_of_a_rule_must_hold():
    p = policy("      - {name: big-billing, to: large, category: [billing], metadata: {plan: enterprise},"
               " min_chars: 20, keywords: [invoice]}")
    full = dict(prompt="please fix this invoice now", category="billing", metadata={"plan": "enterprise"})
    d = p.decide(Request(id="r", **full), CTX)
    assert d.target == "large"
    assert d.reason == ("big-billing (category: billing, metadata: plan=enterprise, min_chars: 27 >= 20, "
                        "keywords: invoice)")
    for change in [{"category": "account"}, {"metadata": {"plan": "pro"}}, {"prompt": "fix this invoice"},
                   {"prompt": "please fix this bill right now"}]:
        assert p.decide(Request(id="r", **{**full, **change}), CTX).target == "small", change


def test_keywords_are_whole_words_case_insensitive_and_phrases_span_whitespace():
    p = policy("      - {to: large, keywords: [SSO, credit card, c++]}")
    assert p.decide(req("sso is down"), CTX).reason == "rule 1 (keywords: SSO)"
    assert p.decide(req("my Credit\n  CARD was declined"), CTX).reason == "rule 1 (keywords: credit card)"
    assert p.decide(req("we use C++ here"), CTX).reason == "rule 1 (keywords: c++)"
    for miss in ["ssologin", "creditcard", "credit cards", "c+ only", "lasso"]:
        assert p.decide(req(miss), CTX).target == "small", miss


def test_many_decisions_follow_the_rules_exactly():
    p = policy("      - {to: large, regex: 'SAML'}\n      - {to: tier2, min_difficulty: 0.5}")
    reqs = [req(f"ticket {i} {'SAML' if i % 3 == 0 else ''}", difficulty=(i % 10) / 10) for i in range(3000)]
    got = [p.decide(r, CTX).target for r in reqs]
    want = ["large" if i % 3 == 0 else "tier2" if i % 10 >= 5 else "small" for i in range(3000)]
    assert got == want


ERROR_CASES = [
    # (rules, default, field, line, message)
    ("      - {to: large, category: [outage]}\n      - keywords: [refund]\n        to: zz",
     "small", "router.params.rules[1].to", 13, "unknown target 'zz'"),
    ("      - {to: large, category: [outage]}", "nowhere", "router.params.default", 9, "unknown target 'nowhere'"),
    ("      - {to: large, category: [outage]}\n      - to: large\n        regex: '(unclosed'",
     "small", "router.params.rules[1].regex", 13, "invalid regex: missing )"),
    ("      - {to: large, category: [outage]}\n      - {name: empty, to: large}",
     "small", "router.params.rules[1]", 12, "a rule needs at least one condition"),
    ("      - to: large\n        keyword: [refund]", "small", "router.params.rules[0].keyword", 12, "unknown param"),
    ("      - {to: large, min_chars: 500, max_chars: 100}", "small", "router.params.rules[0]", 11,
     "min_chars (500) > max_chars (100)"),
    ("      - {to: large, keywords: [refund, '  ']}", "small", "router.params.rules[0].keywords", 11,
     "a keyword cannot be blank"),
    ("      - {to: large, min_difficulty: 1.5}", "small", "router.params.rules[0].min_difficulty", 11, "less than"),
    ("      []", "small", "router.params.rules", 10, "at least 1 item"),
]


@pytest.mark.parametrize("rules,default,field,line,message", ERROR_CASES,
                         ids=["unknown-rule-target", "unknown-default", "bad-regex", "empty-rule", "typo",
                              "min-over-max", "blank-keyword", "difficulty-range", "no-rules"])
def test_bad_params_name_file_field_and_line(rules, default, field, line, message):
    with pytest.raises(ScenarioError) as err:
        policy(rules, default, source="r.yaml")
    assert (err.value.file, err.value.field, err.value.line) == ("r.yaml", field, line)
    assert message in err.value.reason


def test_replay_on_support_tickets_routes_outages_to_large(tmp_path):
    tickets = TICKETS
    quiet = "sim: {error_rates: {}, latency_sigma: 0}"
    scenario = tmp_path / "rules.yaml"
    scenario.write_text(f"""name: rules-e2e
seed: 5
fleet:
  large: {{model: gpt-4o, {quiet}}}
  small: {{model: gpt-4o-mini, {quiet}}}
router:
  policy: rules
  params:
    default: small
    rules:
      - {{name: outages-to-large, to: large, category: [outage]}}
graders: [{{type: exact}}]
traffic: {{source: '{tickets}', arrival: {{process: poisson, rate_per_s: 5.0}}}}
""")
    db = tmp_path / "t.duckdb"
    rid, summary = run(scenario, db)
    rows = table(db, "requests", rid).set_index("request_id")
    source = {r["id"]: r.get("category") for r in map(json.loads, tickets.read_text().splitlines()) if r}
    outages = {i for i, c in source.items() if c == "outage"}
    assert len(rows) == len(source) == 370 and len(outages) == 56
    assert set(rows.index[rows.route == "large"]) == outages
    assert (rows.drop(index=list(outages)).route == "small").all()
    assert (rows.loc[list(outages), "reason"] == "outages-to-large (category: outage)").all()
    assert (rows.drop(index=list(outages)).reason == "no rule matched: default").all()
    assert rows.decision_score.isna().all() and (rows.policy == "rules").all()
