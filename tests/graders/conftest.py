"""Build graders the way a run does: from a small scenario's ``graders:`` list, parsed and bound."""

from __future__ import annotations

import textwrap

import pytest

from workbench.graders import build_graders
from workbench.scenario import parse_scenario

#: The first grader's line is 8 (``graders[0]``), the next one's 9 when each fits on one line.
HEADER = """name: g
fleet:
  small: {model: gpt-4o-mini}
  judge: {model: gpt-4o}
router: {policy: static, params: {target: small}}
traffic: {source: t.jsonl}
graders:
"""


@pytest.fixture
def make_graders(tmp_path):
    """``make_graders(yaml_lines)``: the built graders of a scenario read from ``tmp_path/s.yaml``."""

    def make(graders_yaml: str):
        text = HEADER + textwrap.dedent(graders_yaml).strip("\n") + "\n"
        return build_graders(parse_scenario(text, source=tmp_path / "s.yaml"))

    return make
