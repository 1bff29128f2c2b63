"""Graders score answers; see :mod:`workbench.graders.base` for the contract."""

from workbench.graders.base import Grader, build_graders, grade, grader_names

__all__ = ["Grader", "build_graders", "grade", "grader_names"]
