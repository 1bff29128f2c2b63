"""Where a run's figures came from, request by request, and when a difference between runs is not evidence.

Why per request and not per run: a run's mode (simulated, recorded, live, mixed) says how its models
answered, not how each request was answered. A design replayed over a production log gets the logged
answer where it sends a prompt to the model that answered it in production, a re-ask recorded by
``workbench record`` where one exists, and the simulated profile where neither does (README
"Provenance"); its quality is as good as the mix. So the replay engine stores, per request, the
provenance of its quality (``requests.provenance``, migration 011):

* ``logged``: the answer the logged model gave in production (outcome ``source`` ``logged``);
* ``recorded``: a recorded answer (a re-ask made by ``workbench record``, or an imported public set);
* ``live``: asked for real in this run;
* ``judged``: an LLM judge's verdict is part of the quality (of a real answer, by a real judge);
* ``simulated``: the simulated profile answered (or judged), or a human node did (a human node is modelled:
  its accuracy is the scenario's assumption); ``none``: no call (rejected by the budget).

A run written before migration 011 has no per-request provenance: its run mode stands for every request.

The cost of a request rests on simulated token counts when any of its calls (retries, fallbacks, judges
included: ``attempts.provider``) was simulated; its price is then litellm's real price of simulated tokens.

Significance rule (used by :mod:`workbench.analysis.verdict`, so by Compare, the report and the CLI):
a quality difference between a design and the baseline rests on the requests whose quality differs
between the two (paired by request id; a failed request scores 0). It is called significant only when
its 95% interval excludes zero *and* at most :data:`SIMULATED_MAX` of those requests have simulated
quality in either run. Otherwise the verdict says "the quality difference rests on simulated answers
for 62% of the 120 requests where the designs' quality differs; it is not evidence". Likewise a cost
difference is flagged when more than :data:`SIMULATED_MAX` of a run's requests are priced on simulated
tokens while its mode does not already say it is simulated.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from workbench.analysis.summary import REQUEST_QUALITY

__all__ = ["LABELS", "SIMULATED_MAX", "NOT_EVIDENCE", "shares", "run_shares", "simulated_basis",
           "simulated_cost_share", "basis_words", "annotate", "rests_on_simulation"]

#: Provenance label -> what it means, in the order tables list them (most to least direct evidence).
LABELS: dict[str, str] = {
    "logged": "the answer the logged model gave in production",
    "recorded": "a recorded answer (a re-ask by `workbench record`, or an imported outcome set)",
    "live": "asked for real during this run",
    "judged": "scored by an LLM judge",
    "simulated": "the simulated profile's answer or verdict, or a (modelled) human node's",
    "mixed": "a run from before per-request provenance, with simulated models in its fleet",
    "none": "no answer was asked for (rejected)",
}
#: A quality difference resting on more than this share of simulated requests is not called significant.
SIMULATED_MAX = 0.05
#: Provenances that are not evidence of real quality.
NOT_EVIDENCE = ("simulated", "mixed")

_RUNS = "run_id IN (SELECT unnest(?::VARCHAR[]))"
# a request's provenance; a run older than migration 011 stands in with its mode (mixed:... -> mixed)
_PROV = "coalesce({p}provenance, split_part({u}mode, ':', 1))"
_SIM = "IN ('simulated', 'mixed')"

_SHARES_SQL = f"""
SELECT r.run_id, {_PROV.format(p='r.', u='u.')} AS provenance, count(*) AS requests
FROM requests r JOIN runs u USING (run_id) WHERE r.{_RUNS} GROUP BY ALL
"""

_BASIS_SQL = f"""
SELECT b.run_id, count(*) AS differing,
       count(*) FILTER (WHERE {_PROV.format(p='a.', u='ua.')} {_SIM} OR {_PROV.format(p='b.', u='ub.')} {_SIM})
           AS simulated
FROM requests a JOIN runs ua ON ua.run_id = a.run_id
JOIN requests b ON a.request_id = b.request_id JOIN runs ub ON ub.run_id = b.run_id
WHERE a.run_id = ? AND b.{_RUNS}
  AND ({REQUEST_QUALITY.format(p='a.')}) IS DISTINCT FROM ({REQUEST_QUALITY.format(p='b.')})
GROUP BY b.run_id
"""

_COST_SQL = f"""
SELECT r.run_id, count(*) AS requests,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM attempts t WHERE t.run_id = r.run_id
                                      AND t.request_id = r.request_id AND t.provider = 'simulated')) AS simulated
FROM requests r WHERE r.{_RUNS} GROUP BY r.run_id
"""


def _order(label: str) -> int:
    return list(LABELS).index(label) if label in LABELS else len(LABELS)


def shares(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pd.DataFrame:
    """Per run and provenance: ``requests`` and ``share`` of the run's requests (runs in the given order)."""
    df = con.execute(_SHARES_SQL, [list(run_ids)]).df()
    if df.empty:
        return pd.DataFrame(columns=["run_id", "provenance", "requests", "share"])
    df["share"] = df["requests"] / df.groupby("run_id")["requests"].transform("sum")
    df["_run"] = df["run_id"].map({rid: i for i, rid in enumerate(run_ids)})
    df["_prov"] = df["provenance"].map(_order)
    return df.sort_values(["_run", "_prov"]).drop(columns=["_run", "_prov"]).reset_index(drop=True)


def run_shares(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, float]:
    """Provenance -> share of ``run_id``'s requests (the ``provenance`` of ``run --json``)."""
    df = shares(con, [run_id])
    return {str(p): float(s) for p, s in zip(df["provenance"], df["share"], strict=True)}


def simulated_basis(con: duckdb.DuckDBPyConnection, baseline: str, others: list[str]) -> dict[str, tuple[int, int]]:
    """Per run in ``others``: (requests whose quality differs from ``baseline``'s, of which simulated in either)."""
    got = {rid: (int(n), int(s)) for rid, n, s in con.execute(_BASIS_SQL, [baseline, list(others)]).fetchall()}
    return {rid: got.get(rid, (0, 0)) for rid in others}


def simulated_cost_share(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> dict[str, float]:
    """Per run: the share of its requests whose cost includes a simulated call."""
    return {rid: (s / n if n else 0.0) for rid, n, s in con.execute(_COST_SQL, [list(run_ids)]).fetchall()}


def basis_words(differing: int, simulated: int) -> str:
    """"the quality difference rests on simulated answers for 62% of the 120 requests ..." (a sentence part)."""
    share = simulated / differing if differing else 0.0
    return (f"the quality difference rests on simulated answers for {share:.0%} of the {differing:,} requests "
            "where the designs' quality differs; it is not evidence")


def annotate(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, baseline: str) -> None:
    """Add to a :func:`~workbench.analysis.compare.compare_runs` frame, in place: ``d_quality_differing`` and
    ``d_quality_simulated`` (requests whose quality differs from the baseline's, and of those the simulated
    ones; 0 on the baseline row), ``simulated_quality_share`` and ``simulated_cost_share`` per run."""
    ids = [str(r) for r in frame["run_id"]]
    basis = simulated_basis(con, baseline, [r for r in ids if r != baseline])
    frame["d_quality_differing"] = [basis.get(r, (0, 0))[0] for r in ids]
    frame["d_quality_simulated"] = [basis.get(r, (0, 0))[1] for r in ids]
    by_run = shares(con, ids)
    sim = by_run[by_run["provenance"].isin(NOT_EVIDENCE)].groupby("run_id")["share"].sum()
    frame["simulated_quality_share"] = [float(sim.get(r, 0.0)) for r in ids]
    cost = simulated_cost_share(con, ids)
    frame["simulated_cost_share"] = [cost.get(r, 0.0) for r in ids]


def rests_on_simulation(differing: int, simulated: int) -> bool:
    """Whether a quality difference over ``differing`` requests, ``simulated`` of them simulated, is not evidence."""
    return differing > 0 and simulated / differing > SIMULATED_MAX
