"""Analysis: every metric, defined once, computed in DuckDB SQL over the trace store."""

from workbench.analysis.summary import METRIC_LABELS, format_comparison, run_summary

__all__ = ["METRIC_LABELS", "format_comparison", "run_summary"]
