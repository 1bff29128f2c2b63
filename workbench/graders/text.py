"""Text graders against the request's ``expected`` answer: ``exact`` and ``contains``.

Both normalise case and surrounding whitespace by default, because a support label written
``Refund_Issued`` by one model and ``refund_issued`` by another is the same resolution.
"""

from __future__ import annotations

from pydantic import StrictBool

from workbench.graders.base import Grader, GraderParams, register

__all__ = ["Exact", "Contains"]


class _TextParams(GraderParams):
    case_sensitive: StrictBool = False


def _norm(s: str, case_sensitive: bool) -> str:
    s = s.strip()
    return s if case_sensitive else s.casefold()


@register
class Exact(Grader):
    """1 when the answer equals the expected answer (after normalising), else 0."""

    name = "exact"
    Params = _TextParams

    def score(self, req, text, provider_score):
        if req.expected is None or text is None:
            return None
        cs = self.params.case_sensitive
        return 1.0 if _norm(text, cs) == _norm(req.expected, cs) else 0.0


@register
class Contains(Grader):
    """1 when the expected answer appears in the answer (after normalising), else 0."""

    name = "contains"
    Params = _TextParams

    def score(self, req, text, provider_score):
        if req.expected is None or text is None:
            return None
        cs = self.params.case_sensitive
        return 1.0 if _norm(req.expected, cs) in _norm(text, cs) else 0.0
