"""``regex``: score an answer by a regular expression, for formats that no other grader knows.

Why so small: a pattern either finds what it looks for in the answer (1) or not (0), searched anywhere
in the text (anchor it with ``^``/``$`` to demand the whole answer). With ``expected_group`` the pattern
also extracts the answer: that group of the first match must equal the request's ``expected`` (both
stripped), e.g. ``pattern: 'Ticket: (?P<label>\\w+)'``, ``expected_group: label``. The pattern is
compiled when the scenario is built, so a typo is an error naming ``graders[i].params.pattern``, not
a run of zeros. It runs on RE2, in time linear in the answer (see :func:`workbench.registry.compile_regex`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from workbench.graders.base import Grader, GraderParams, register
from workbench.registry import check_regex, compile_regex

__all__ = ["Regex"]


@register
class Regex(Grader):
    """1 when ``pattern`` is found in the answer (and its ``expected_group`` equals expected), else 0."""

    name = "regex"

    class Params(GraderParams):
        """``pattern``: searched in the answer; ``expected_group``: a group name or number to compare."""

        pattern: Annotated[str, Field(min_length=1)]
        expected_group: Annotated[int, Field(ge=0)] | str | None = None

        _compiles = field_validator("pattern")(check_regex)

        @field_validator("expected_group")
        @classmethod
        def _group_exists(cls, group: int | str | None, info: ValidationInfo) -> int | str | None:
            pattern = info.data.get("pattern")  # absent when the pattern itself was the error
            if group is not None and pattern is not None:
                rx = compile_regex(pattern)
                if isinstance(group, int) and group > rx.groups:
                    raise ValueError(f"group {group} does not exist: the pattern has {rx.groups} group(s)")
                if isinstance(group, str) and group not in rx.groupindex:
                    names = ", ".join(rx.groupindex) or "none"
                    raise ValueError(f"'{group}' is not a named group of the pattern (named groups: {names})")
            return group

    @cached_property
    def _rx(self):
        return compile_regex(self.params.pattern)

    def score(self, req, text, provider_score):
        if text is None:
            return None
        group = self.params.expected_group
        if group is None:
            return 1.0 if self._rx.search(text) else 0.0
        if req.expected is None:
            return None
        m = self._rx.search(text)
        found = m.group(group) if m else None
        return 1.0 if found is not None and found.strip() == req.expected.strip() else 0.0
