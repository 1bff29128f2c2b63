"""The failure taxonomy's error kinds are plain strings wherever a trace, a message or a JSON file shows them."""

from __future__ import annotations

import json

from workbench.errors import ErrorKind


def test_an_error_kind_reads_as_its_value_in_text_json_and_comparisons():
    kind = ErrorKind.RATE_LIMIT
    assert [str(kind), f"{kind}", f"{kind:>12}", "%s" % kind] == ["rate_limit", "rate_limit", "  rate_limit",
                                                                   "rate_limit"]
    assert json.dumps({"kind": kind}) == '{"kind": "rate_limit"}'
    assert kind == "rate_limit" and ErrorKind("timeout") is ErrorKind.TIMEOUT
    assert sorted(ErrorKind)[0] == ErrorKind.AUTH  # ordered as strings
