"""Comparisons in words: a verdict per design, a recommendation, the metric glossary, the provenance words.

Why in analysis and not in each view: the Compare page, the leader's report and the CLI must say the
same thing about the same runs, and the words carry the honesty rules. A difference is called
"significant" only when its paired 95% interval (:func:`~workbench.analysis.compare.compare_runs`)
excludes zero and the quality behind it was not simulated: at most 5% of the requests whose quality
differs between the two runs may have simulated quality (:mod:`workbench.analysis.provenance`; a run
from before per-request provenance falls back to its mode). A simulated run's quality is what the
simulator's quality model assumes, so a clear gap there is named "clear in the replay" and the sentence
says what share of the difference rests on simulated answers and that it is not evidence. Runs over
different traffic are explained in words (which
run, what differs, what to do), not as the ``ValueError`` text.

The recommendation rule, stated in the memo too: among the designs within the monthly budget (all, if
none is given), keep those whose quality is not clearly below the baseline's (the interval's upper end
is at least zero, or no grader judged them); recommend the cheapest of those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from workbench.analysis import provenance

__all__ = ["GLOSSARY", "MODE_WORDS", "Verdict", "verdicts", "recommendation", "budget_words",
           "quality_words", "incompatible_words", "month_words"]

#: Metric key -> (short label, one-sentence explanation): table headers, hover titles and the glossary.
GLOSSARY: dict[str, tuple[str, str]] = {
    "requests": ("requests", "Requests replayed: every compared run saw exactly the same ones."),
    "cost_usd": ("cost", "What the run's provider calls cost in total (answers, retries, fallbacks, router and "
                 "judge calls, human hand-offs), in US dollars."),
    "cost_per_1k_usd": ("cost per 1k", "Cost per 1,000 requests: the run's cost divided by its requests, times 1,000."),
    "d_cost_per_1k_usd": ("Δ cost per 1k [95%]", "This design's cost per 1,000 requests minus the baseline's; in "
                          "brackets the 95% interval of that difference (paired bootstrap over the same requests)."),
    "quality": ("quality", "Share of requests answered correctly: the mean grader score (0 to 1), where a failed "
                "or rejected request scores 0."),
    "d_quality": ("Δ quality [95%]", "This design's quality minus the baseline's (in points of the 0-1 score); in "
                  "brackets the 95% interval. An interval that includes 0 means the data cannot tell the two apart."),
    "p50_latency_s": ("p50 latency", "Median time a user waited, from arrival to answer, in seconds."),
    "p95_latency_s": ("p95 latency", "95% of requests were answered within this many seconds."),
    "p99_latency_s": ("p99 latency", "99% of requests were answered within this many seconds."),
    "error_rate": ("error rate", "Share of requests that got no answer (every attempt failed, or the budget "
                   "rejected them)."),
    "fallback_rate": ("fallback rate", "Share of requests answered by a fallback model after the first one failed."),
    "retry_rate": ("retry rate", "Share of requests that needed at least one retry."),
    "handoff_rate": ("hand-off rate", "Share of requests handed to a human node."),
    "strong_share": ("strong-model share", "Share of answered requests whose answer came from the most expensive "
                     "model per token seen across the compared runs."),
}

#: What a run's data mode means for its figures (report and Compare glossary).
MODE_WORDS: dict[str, str] = {
    "simulated": "Simulated: answers, latencies, errors and quality come from the workbench's calibrated, seeded "
                 "model of the fleet. Costs use real prices on simulated token counts. Good for comparing designs "
                 "and failure handling; quality differences show what the simulator assumes, not measured quality.",
    "recorded": "Recorded: every model's real answer to each prompt was captured once (or imported from a public "
                "outcome set), or logged in production, and is replayed; cost, tokens and quality are real, latency "
                "is as recorded. A missing answer simulated instead (on_miss: simulate) is labelled so per request: "
                "see where each design's quality came from.",
    "live": "Live: the replay called the providers for real; every figure was measured in this run.",
    "mixed": "Mixed: some models were live or recorded and others simulated; each figure is only as real as "
             "the models behind it.",
}


@dataclass(frozen=True)
class Verdict:
    """One design against the baseline, in words, with the facts the words rest on."""

    run_id: str
    scenario: str
    sentence: str
    monthly_saving_usd: float
    significant: bool  # the quality interval excludes 0 and the difference does not rest on simulated quality
    clear_drop: bool  # the quality interval lies wholly below 0 (simulated or not)


def month_words() -> str:
    """How the memo names the projection's month (:data:`~workbench.analysis.compare.DAYS_PER_MONTH` days)."""
    return "an average calendar month (a year's 365¼ days ÷ 12, about 30.4 days)"


def _simulated(mode: str) -> bool:
    return mode in ("simulated", "mixed") or str(mode).startswith("mixed")


def _simulated_basis(r: pd.Series) -> tuple[bool, str | None]:
    """Whether a run's quality difference rests on simulation (the rule of :mod:`workbench.analysis.provenance`),
    and the words saying on how much; a frame without provenance columns falls back to the run's mode."""
    differing, simulated = r.get("d_quality_differing"), r.get("d_quality_simulated")
    if differing is None or pd.isna(differing):
        return _simulated(r["mode"]), None
    n, k = int(differing), int(simulated)
    if provenance.rests_on_simulation(n, k):
        return True, provenance.basis_words(n, k)
    return False, None


def _cost_words(r: pd.Series, base: pd.Series) -> str | None:
    """A note when a run that is not labelled simulated prices simulated tokens for part of its requests."""
    notes = []
    for row, who in ((r, "this design"), (base, "the baseline")):
        share = row.get("simulated_cost_share")
        if share is not None and not pd.isna(share) and share > provenance.SIMULATED_MAX \
                and not str(row["mode"]).startswith("simulated"):
            notes.append(f"{share:.0%} of {who}'s requests")
    if not notes:
        return None
    return ("the cost difference rests on simulated token counts (at real prices) for " + " and ".join(notes)
            + "; it is an estimate, not a measured cost")


def _money(v: float) -> str:
    return f"${v:,.2f}" if abs(v) >= 1 else f"${v:,.4f}"


def quality_words(d: float, lo: float, hi: float, simulated: bool, basis: str | None = None) -> str:
    """``d`` (quality difference, 0-1) with its interval, as a sentence part a leader can read; ``basis``
    says what a simulated difference rests on (:func:`~workbench.analysis.provenance.basis_words`)."""
    pts = abs(d) * 100
    if d == 0 and lo == hi == 0:
        return "answers exactly as many requests correctly"
    way = "fewer" if d < 0 else "more"
    head = f"answers {pts:.1f} percentage points {way} requests correctly"
    span = f"95% interval {lo * 100:+.1f} to {hi * 100:+.1f} points"
    if lo <= 0 <= hi:
        tail = "; the quality is simulated" if simulated else ""
        return f"{head}, but that is within noise ({span}: it includes no difference){tail}"
    change = "drop" if d < 0 else "gain"
    if simulated and basis:
        return f"{head}; the {change} is clear in the replay ({span}), but the quality is simulated: {basis}"
    if simulated:
        return (f"{head}; the {change} is clear in the simulation ({span}), but the quality is simulated, so it "
                "shows what the simulator assumes, not a measured difference")
    return f"{head}; the {change} is significant ({span}, which excludes no difference)"


def verdicts(table: pd.DataFrame, monthly_cost: dict[str, float], baseline: str, volume: float) -> list[Verdict]:
    """Per design other than ``baseline``: "saves $X a month, answers Y points fewer requests correctly; ...".

    ``table`` is :func:`~workbench.analysis.compare.compare_runs`' frame; ``monthly_cost`` maps run id to
    its projected cost in month 1 at ``volume`` requests a day.
    """
    rows = table.set_index("run_id")
    base_cost = monthly_cost[baseline]
    out = []
    for rid, r in rows.iterrows():
        if rid == baseline:
            continue
        saving = base_cost - monthly_cost[rid]
        money = (f"saves {_money(saving)} a month" if saving >= 0 else f"costs {_money(-saving)} a month more")
        parts = [f"{money} at {volume:,.0f} requests a day"]
        sim, basis = _simulated_basis(r)
        significant = clear_drop = False
        if pd.isna(r.d_quality):
            parts.append("no grader judged its answers, so its quality cannot be compared")
        else:
            parts.append(quality_words(r.d_quality, r.d_quality_lo, r.d_quality_hi, sim, basis))
            excludes = not (r.d_quality_lo <= 0 <= r.d_quality_hi)
            significant, clear_drop = excludes and not sim, r.d_quality_hi < 0
        parts.append(f"{r.error_rate:.1%} of its requests failed (baseline {rows.loc[baseline].error_rate:.1%})")
        if cost_note := _cost_words(r, rows.loc[baseline]):
            parts.append(cost_note)
        out.append(Verdict(str(rid), str(r.scenario), "; ".join(parts) + ".", float(saving), significant, clear_drop))
    return out


def budget_words(monthly: pd.DataFrame, budget: float | None) -> dict[str, str]:
    """Per run id: whether its projected cost stays within ``budget`` each month, in words.

    ``monthly`` is :func:`~workbench.analysis.compare.monthly_projection`'s frame.
    """
    out = {}
    for rid, rows in monthly.groupby("run_id", sort=False):
        first = float(rows.cost_usd.iloc[0])
        if budget is None:
            out[rid] = f"{_money(first)} in the first month; no budget was given"
            continue
        over = rows[rows.cost_usd > budget]
        if over.empty:
            out[rid] = (f"{_money(first)} in the first month, within the {_money(budget)} budget in every one of "
                        f"the {len(rows)} months projected")
        elif int(over.month.iloc[0]) == 1:
            out[rid] = (f"{_money(first)} in the first month: over the {_money(budget)} budget by "
                        f"{_money(first - budget)}")
        else:
            out[rid] = (f"{_money(first)} in the first month, within the {_money(budget)} budget until month "
                        f"{int(over.month.iloc[0])}, when growth takes it over")
    return out


def recommendation(table: pd.DataFrame, monthly: pd.DataFrame, baseline: str, budget: float | None) -> dict:
    """The design the memo recommends (see the module docstring for the rule): ``run_id``, ``scenario``,
    ``within_budget`` (False when no design fits: then the cheapest is named) and ``why``."""
    rows = table.set_index("run_id")
    first = monthly[monthly.month == 1].set_index("run_id").cost_usd
    within = [rid for rid in rows.index if budget is None or first[rid] <= budget]
    if not within:
        rid = str(first.idxmin())
        return {"run_id": rid, "scenario": rows.loc[rid].scenario, "within_budget": False,
                "why": f"no design fits the {_money(budget or 0)} monthly budget; {rows.loc[rid].scenario} is the "
                       f"cheapest at {_money(first[rid])} a month"}

    def holds_quality(rid: str) -> bool:
        hi = rows.loc[rid].d_quality_hi
        return rid == baseline or hi is None or (isinstance(hi, float) and math.isnan(hi)) or hi >= 0

    keep = [rid for rid in within if holds_quality(rid)] or within
    rid = min(keep, key=lambda k: (first[k], k != baseline))
    scope = "within the budget" if budget is not None else "compared"
    why = (f"the cheapest of the designs {scope} whose quality is not clearly below the baseline's"
           if rid in [k for k in within if holds_quality(k)] else
           f"every design {scope} loses quality clearly against the baseline; this is the cheapest of them")
    return {"run_id": str(rid), "scenario": rows.loc[rid].scenario, "within_budget": True, "why": why}


def incompatible_words(exc: Exception, names: dict[str, str]) -> str:
    """The "not replayed over identical traffic" error of ``compare_runs`` in words; ``names`` maps run id
    to how the user knows it (scenario, label, date)."""
    raw = str(exc)
    if "identical traffic" not in raw:
        return raw
    said = []
    for part in raw.split(": ", 1)[1].split("; "):
        rid, _, what = part.partition(" against baseline ")
        base, _, diffs = what.partition(": ")
        reasons = []
        if "traffic_hash" in diffs:
            reasons.append("it replayed other requests (another traffic file or sample)")
        if "seed" in diffs:
            seeds = diffs.split("seed ", 1)[1].split(",")[0]
            reasons.append(f"it used another seed ({seeds.replace(' vs ', ' against ')})")
        if "request ids" in diffs and not reasons:
            reasons.append("its requests are not the baseline's")
        said.append(f"{names.get(rid, rid)} cannot be compared with {names.get(base, base)}: "
                    + " and ".join(reasons or [diffs]))
    return ("These runs did not see the same requests, so their figures cannot be compared side by side. "
            + "; ".join(said) + ". Pick runs from one traffic group, or replay the designs together on the Run "
            "page (they then share traffic and seed).")
