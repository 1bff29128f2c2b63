"""The report's provenance sections: where each design's quality came from, and the off-policy estimate.

Why a module of its own: the leader's report (:mod:`workbench.analysis.report`) shows these only for
runs that need them (a replay of logged traffic, a fleet mixing logged, recorded and simulated answers),
and both sections are plain HTML over figures computed elsewhere: the shares by
:mod:`workbench.analysis.provenance`, the estimates by :func:`workbench.estimate.estimate` (handed in by
the caller as a function, since the analysis layer does not build policies).
"""

from __future__ import annotations

import html
from collections.abc import Callable

import duckdb
import pandas as pd

from workbench.analysis import provenance

__all__ = ["provenance_html", "offpolicy_html", "OffPolicyFn", "PROVENANCE_CSS"]

#: ``fn(scenario_yaml, dataset, seed)`` -> the estimate as :func:`workbench.estimate.estimate` returns it,
#: ``{"error": text}`` when the design cannot be estimated, or None when the dataset logged no propensities.
OffPolicyFn = Callable[[str, str, int], "dict | None"]

PROVENANCE_CSS = """
table.provenance td.share{min-width:7em} .bar{display:inline-block;height:.8em;background:#2b6cb0;margin-right:4px}
.bar.simulated,.bar.mixed{background:#c53030} p.untrusted{background:#fff5f5;border-left:5px solid #c53030;
padding:.5em 1em;font-weight:600}
"""


def provenance_html(con: duckdb.DuckDBPyConnection, run_ids: list[str], names: dict[str, str]) -> str:
    """A table of each run's share of requests per provenance, with a bar per cell."""
    df = provenance.shares(con, run_ids)
    seen = [p for p in provenance.LABELS if p in set(df["provenance"])]
    seen += sorted(set(df["provenance"]) - set(seen))
    head = "".join(f"<th title='{html.escape(provenance.LABELS.get(p, p))}'>{html.escape(p)}</th>" for p in seen)
    body = []
    for rid in run_ids:
        got = df[df["run_id"] == rid].set_index("provenance")["share"]
        cells = "".join(_cell(p, float(got.get(p, 0.0))) for p in seen)
        body.append(f"<tr data-run='{html.escape(rid)}'><td>{html.escape(names.get(rid, rid))}</td>{cells}</tr>")
    words = "".join(f"<li><b>{html.escape(p)}</b>: {html.escape(provenance.LABELS.get(p, p))}</li>" for p in seen)
    return (f"<table class=provenance><tr><th>design</th>{head}</tr>{''.join(body)}</table>"
            f"<ul class=provenance-words>{words}</ul>"
            f"<p>A quality difference is called significant only when at most {provenance.SIMULATED_MAX:.0%} of the "
            "requests whose quality differs between the two designs have simulated quality; otherwise the "
            "evidence section says what share of it rests on simulated answers.</p>")


def _cell(label: str, share: float) -> str:
    bar = f"<span class='bar {html.escape(label)}' style='width:{share * 5:.2f}em'></span>" if share else ""
    return f"<td class=share data-provenance='{html.escape(label)}'>{bar}{share:.0%}</td>"


def offpolicy_html(info: pd.DataFrame, fn: OffPolicyFn | None) -> str:
    """The off-policy section for every run replayed over a logged dataset with propensities ('' if none).

    ``info`` is the report's runs frame (index run id; scenario, scenario_yaml, seed, traffic_spec)."""
    if fn is None:
        return ""
    import json

    parts = []
    for rid, r in info.iterrows():
        spec = json.loads(r.traffic_spec) if isinstance(r.traffic_spec, str) and r.traffic_spec else {}
        if not spec.get("dataset"):
            continue
        got = fn(r.scenario_yaml, spec["dataset"], int(r.seed))
        if got is None:
            continue
        name = html.escape(str(r.scenario))
        if "error" in got:
            parts.append(f"<h3>{name}</h3><p>Not estimated: {html.escape(str(got['error']))}</p>")
            continue
        parts.append(f"<h3 data-run='{html.escape(str(rid))}'>{name}</h3>{_estimate_html(got)}")
    if not parts:
        return ""
    return ("<h2>Off-policy estimate from the log</h2><p>ESTIMATED, not replayed: the old router logged the "
            "probability of each choice it made, so the log can be reweighted to estimate what this design's first "
            "choice would have scored and cost, without asking any model again (IPS, SNIPS and doubly robust "
            "estimators, percentile bootstrap intervals).</p>" + "".join(parts))


def _estimate_html(out: dict) -> str:
    rows = []
    for key, label, fmt in (("quality", "quality", "{:.3f}"), ("cost_usd", "cost per request", "${:.6f}")):
        m = out.get(key)
        if m is None:
            rows.append(f"<tr><td>{label}</td><td colspan=3>the log has no {label} to weigh</td></tr>")
            continue
        cells = "".join(f"<td data-estimator='{e}'>{fmt.format(m[e]['value'])} [{fmt.format(m[e]['lo'])}, "
                        f"{fmt.format(m[e]['hi'])}]</td>" for e in ("ips", "snips", "dr"))
        rows.append(f"<tr data-metric='{key}'><td>{label}</td>{cells}</tr>")
    table = ("<table class=offpolicy><tr><th></th><th>IPS</th><th>SNIPS</th><th>doubly robust</th></tr>"
             + "".join(rows) + "</table>")
    ess = (f"<p>{out['rows']:,} logged requests with a propensity; effective sample size {out['ess']:,.1f} "
           f"({out['ess_share']:.1%}); {int(out['level'] * 100)}% intervals from {out['n_boot']:,} resamples.</p>")
    if out["trusted"]:
        return table + ess
    warn = (f"<p class=untrusted>Only {out['ess']:,.0f} effective requests: do not trust these estimates. The new "
            "design goes where the old router rarely went (" + html.escape("; ".join(out["reasons"])) + ").</p>")
    return warn + table + ess
