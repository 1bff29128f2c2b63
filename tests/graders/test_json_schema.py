"""``json_schema``: answers (or their ```json block) validated; schemas checked when the scenario is built."""

from __future__ import annotations

import time

import pytest

from workbench.errors import ScenarioError
from workbench.graders.json_schema import extract_json
from workbench.traffic import Request

TICKET = """
- type: json_schema
  params:
    schema:
      type: object
      required: [category, priority]
      properties:
        category: {enum: [billing, outage, account]}
        priority: {type: integer, minimum: 1, maximum: 3}
        email: {type: string, format: email}
      additionalProperties: false
"""
REQ = Request(id="r", prompt="Classify this ticket as JSON")


@pytest.mark.parametrize("answer, score", [
    ('{"category": "billing", "priority": 2}', 1.0),
    ('  {"category": "outage", "priority": 1, "email": "ana@example.com"}\n', 1.0),
    ('Here it is:\n```json\n{"category": "account", "priority": 3}\n```\nAnything else?', 1.0),
    ('```JSON\n{"category": "account", "priority": 3}\n```', 1.0),
    ('```json\n{"category": "account", "priority": 9}\n```', 0.0),        # maximum
    ('{"category": "refund", "priority": 2}', 0.0),                       # enum
    ('{"category": "billing"}', 0.0),                                     # required
    ('{"category": "billing", "priority": 2, "note": "x"}', 0.0),         # additionalProperties
    ('{"category": "billing", "priority": 2, "email": "not an address"}', 0.0),  # format is checked
    ('{"category": "billing", "priority": NaN}', 0.0),                    # NaN is not JSON
    ("{'category': 'billing', 'priority': 2}", 0.0),                      # not JSON
    ("billing, priority 2", 0.0),
    ('```\n{"category": "billing", "priority": 2}\n```', 0.0),            # only a fence marked json counts
])
def test_scores_answers(make_graders, answer, score):
    (grader,) = make_graders(TICKET)
    assert grader.score(REQ, answer, None) == score


def test_first_json_block_wins_and_no_answer_cannot_be_judged(make_graders):
    (grader,) = make_graders(TICKET)
    two = '```json\n{"category": "x"}\n```\n```json\n{"category": "billing", "priority": 1}\n```'
    assert grader.score(REQ, two, None) == 0.0
    assert grader.score(REQ, None, None) is None
    assert extract_json("[1, 2]") == (True, [1, 2])
    assert extract_json("null") == (True, None)
    assert extract_json("nope") == (False, None)


def test_draft_from_dollar_schema(make_graders):
    # Draft 4's exclusiveMaximum is a boolean; under 2020-12 the same schema would be invalid.
    (grader,) = make_graders("""
        - type: json_schema
          params:
            schema: {$schema: 'http://json-schema.org/draft-04/schema#', maximum: 3, exclusiveMaximum: true}
    """)
    assert [grader.score(REQ, t, None) for t in ["2", "3"]] == [1.0, 0.0]


@pytest.mark.parametrize("schema, message", [
    ("{type: nope}", "invalid JSON Schema at type: 'nope' is not valid"),
    ("{properties: {a: {pattern: '('}}}", "invalid JSON Schema at properties/a/pattern: '(' is not a 'regex'"),
    ("{minLength: -1}", "invalid JSON Schema at minLength: -1 is less than the minimum of 0"),
    ("{$schema: 'http://example.com/mine', type: object}", "unknown $schema 'http://example.com/mine'"),
    ("{$ref: 'https://example.com/ticket.json'}", "$ref 'https://example.com/ticket.json' points outside"),
    ("[1, 2]", "valid dictionary"),
])
def test_bad_schema_is_an_error_at_build(make_graders, schema, message):
    with pytest.raises(ScenarioError) as info:
        make_graders(f"- type: exact\n- type: json_schema\n  params:\n    schema: {schema}\n")
    assert info.value.field == "graders[1].params.schema" and info.value.line == 11, str(info.value)
    assert message in str(info.value), str(info.value)


def test_schema_is_required(make_graders):
    with pytest.raises(ScenarioError, match=r"field 'graders\[0\]\.params\.schema': Field required"):
        make_graders("- type: json_schema")


# --- the schema's regexes run on RE2 (issue 12: a user regex must not take exponential time) --------

EVIL, TEXT = "(a+)+$", "a" * 26 + "!"  # Python's re: about 5 s a search; RE2: microseconds


def test_json_schema_regexes_run_on_re2_too(make_graders):
    """The json_schema grader's ``pattern``, ``patternProperties`` and ``additionalProperties`` search
    with RE2: the same evil pattern costs nothing, and the results match jsonschema's own."""
    (strict, loose) = make_graders(f"""
        - type: json_schema
          params: {{schema: {{type: object, properties: {{code: {{type: string, pattern: '{EVIL}'}}}},
                    patternProperties: {{'{EVIL}': {{type: integer}}}}, additionalProperties: false}}}}
        - type: json_schema
          params: {{schema: {{type: object, additionalProperties: {{type: string}},
                    patternProperties: {{'^x_': {{type: integer}}}}}}}}
    """)
    req = Request(id="r", prompt="q")
    started = time.perf_counter()
    assert strict.score(req, '{"code": "%s"}' % TEXT, None) == 0.0
    assert strict.score(req, '{"%s": 1}' % TEXT, None) == 0.0  # not a pattern property: additional, refused
    assert time.perf_counter() - started < 1.0
    assert strict.score(req, '{"code": "aaa", "aa": 3}', None) == 1.0
    assert strict.score(req, '{"aa": "three"}', None) == 0.0  # a pattern property of the wrong type
    assert [loose.score(req, t, None) for t in ('{"x_a": 1, "b": "s"}', '{"x_a": "s"}', '{"b": 2}')] == [1.0, 0.0, 0.0]


def test_json_schema_regex_re2_cannot_run_is_an_error_at_build(make_graders):
    with pytest.raises(ScenarioError) as info:
        make_graders("- {type: json_schema, params: {schema: {properties: {a: {pattern: '(?!x)y'}}}}}")
    assert info.value.field == "graders[0].params.schema"
    assert info.value.reason.startswith("Value error, invalid JSON Schema at properties/a/pattern: regex not "
                                        "supported by RE2")
