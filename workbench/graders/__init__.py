"""Graders score answers; see :mod:`workbench.graders.base` for the contract."""

from workbench.graders.base import Grader, build_graders, grade, grade_all, grader_labels, grader_names

__all__ = ["Grader", "build_graders", "grade", "grade_all", "grader_labels", "grader_names"]
