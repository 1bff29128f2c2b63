"""``regex``: found or not, a group compared with expected, and patterns checked when built."""

from __future__ import annotations

import pytest

from workbench.errors import ScenarioError
from workbench.graders.regex import Regex
from workbench.registry import check_regex
from workbench.traffic import Request


def req(expected: str | None = None) -> Request:
    return Request(id="r", prompt="q", expected=expected)


def test_found_anywhere_or_anchored(make_graders):
    anywhere, whole = make_graders(r"""
        - {type: regex, params: {pattern: '(?i)ticket\s+#\d+'}}
        - {type: regex, params: {pattern: '^\d{3}-\d{4}$'}}
    """)
    texts = ["Opened TICKET  #4521 for you", "ticket 4521", ""]
    assert [anywhere.score(req(), t, None) for t in texts] == [1.0, 0.0, 0.0]
    assert [whole.score(req(), t, None) for t in ["555-1234", "call 555-1234", "555-12345"]] == [1.0, 0.0, 0.0]
    assert anywhere.score(req(), None, None) is None
    assert anywhere.score(req("ignored without expected_group"), "ticket #1", None) == 1.0


def test_expected_group_by_name_and_number(make_graders):
    named, numbered = make_graders(r"""
        - {type: regex, params: {pattern: 'Label:\s*(?P<label>\w+)', expected_group: label}}
        - {type: regex, params: {pattern: '(\d+) items?', expected_group: 1}}
    """)
    assert named.score(req("refund"), "Label: refund\nThanks", None) == 1.0
    assert named.score(req(" refund "), "Label:refund", None) == 1.0   # both stripped
    assert named.score(req("refund"), "Label: escalate", None) == 0.0
    assert named.score(req("refund"), "refund", None) == 0.0            # no match at all
    assert named.score(req(None), "Label: refund", None) is None
    assert numbered.score(req("12"), "You ordered 12 items.", None) == 1.0
    assert numbered.score(req("12"), "You ordered 1 item and 12 items.", None) == 0.0  # first match
    (optional,) = make_graders(r"- {type: regex, params: {pattern: 'a(b)?', expected_group: 1}}")
    assert optional.score(req("b"), "a", None) == 0.0  # the group did not take part


@pytest.mark.parametrize("params, field, message", [
    ("{pattern: 'ticket (#\\d+'}", "pattern", "invalid regex: missing ), unterminated subpattern"),
    ("{pattern: 'a{4294967296}'}", "pattern", "invalid regex"),
    ("{pattern: ''}", "pattern", "at least 1 character"),
    ("{expected_group: 1}", "pattern", "Field required"),
    ("{pattern: '(a)(b)', expected_group: 3}", "expected_group",
     "group 3 does not exist: the pattern has 2 group(s)"),
    ("{pattern: '(?P<x>a)', expected_group: y}", "expected_group",
     "'y' is not a named group of the pattern (named groups: x)"),
    ("{pattern: 'a', target: answer}", "target", "unknown param"),
])
def test_bad_params_name_the_field_and_line(make_graders, params, field, message):
    with pytest.raises(ScenarioError) as info:
        make_graders(f"- type: exact\n- type: regex\n  params: {params}\n")
    assert info.value.field == f"graders[1].params.{field}", str(info.value)
    assert info.value.line == 10 and message in str(info.value), str(info.value)


def test_check_regex_moved_to_the_registry_and_still_reexported():
    from workbench.policies import base as policies_base

    assert policies_base.check_regex is check_regex
    assert check_regex(None) is None and check_regex("a+") == "a+"
    with pytest.raises(ValueError, match="invalid regex"):
        check_regex("(")
    assert Regex.Params(pattern="x").expected_group is None
