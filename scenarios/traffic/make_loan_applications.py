"""Write the synthetic loan applications of the loan-approval scenario (and its held-out sample).

Why generated and not hand-written: every application must carry the recommendation the lender's
written policy gives (``expected``), and how close it sits to a policy boundary (``difficulty``),
computed by one rule set that a reader can check. The generator is seeded, so running it again
writes byte-identical files:

    python scenarios/traffic/make_loan_applications.py

The applicants are invented; no real person, lender or credit file is described. The policy (a
fictional lender's, simplified) declines an application when any of these holds, and approves it
otherwise:

* credit score below 620;
* debt-to-income ratio (existing monthly debts plus this loan's payment, over monthly income)
  above 43%;
* two or more delinquencies in the last 24 months;
* less than one year in the current job (or, for a small business, in business) and an amount
  above $15,000.

Difficulty is the distance to the nearest boundary, scaled to [0.05, 0.95]: an application that
clears every rule by a wide margin, or breaks one grossly, is easy; one a few points from a cut-off
is hard.
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

__all__ = ["application", "recommend", "write"]

HERE = Path(__file__).resolve().parent
FILES = {"loan_applications.jsonl": (20260310, 400, "L"), "loan_applications_holdout.jsonl": (20260311, 240, "H")}
PRODUCTS = {  # share, amount range (USD), terms (months), APR
    "personal": (0.5, (2_000, 40_000), (24, 36, 48, 60), 0.11),
    "auto": (0.3, (8_000, 60_000), (36, 48, 60, 72), 0.07),
    "small_business": (0.2, (20_000, 250_000), (60, 84, 120), 0.09),
}
MIN_SCORE, MAX_DTI, MAX_DELINQ, MIN_YEARS, SMALL_AMOUNT = 620, 43.0, 2, 1.0, 15_000


def _payment(amount: float, months: int, apr: float) -> float:
    r = apr / 12
    return amount * r / (1 - (1 + r) ** -months)


def recommend(app: dict) -> tuple[str, float]:
    """The policy's recommendation and the application's difficulty (see the module docstring)."""
    # Margin to each rule, in units where 1 means "clearly on one side": positive = passes.
    margins = [
        (app["credit_score"] - MIN_SCORE) / 60,
        (MAX_DTI - app["dti_pct"]) / 10,
        (MAX_DELINQ - 0.5 - app["delinquencies_24m"]) / 1.5,
    ]
    if app["amount_usd"] > SMALL_AMOUNT:
        margins.append((app["employment_years"] - MIN_YEARS) / 1.5)
    failing = [m for m in margins if m < 0]
    margin = max(-m for m in failing) if failing else min(margins)
    difficulty = 0.95 - 0.9 * min(1.0, margin)
    return ("decline" if failing else "approve"), round(min(0.95, max(0.05, difficulty)), 2)


def application(rng: random.Random, product: str) -> dict:
    """One invented application of ``product`` (amounts rounded as an applicant would write them)."""
    _, (lo, hi), terms, apr = PRODUCTS[product]
    amount = round(math.exp(rng.uniform(math.log(lo), math.log(hi))) / 500) * 500
    months = rng.choice(terms)
    income = round(rng.lognormvariate(math.log(68_000 if product != "small_business" else 160_000), 0.45), -3)
    debts = round(income / 12 * rng.uniform(0.0, 0.35), -1)
    score = int(min(850, max(480, rng.gauss(690, 70))))
    dti = 100 * (debts + _payment(amount, months, apr)) / (income / 12)
    return {"product": product, "amount_usd": int(amount), "term_months": months, "apr_pct": round(apr * 100, 1),
            "annual_income_usd": int(income), "monthly_debts_usd": int(debts), "credit_score": score,
            "dti_pct": round(dti, 1), "delinquencies_24m": min(5, int(rng.expovariate(1.6))),
            "employment_years": round(rng.expovariate(1 / 6), 1)}


def _prompt(app_id: str, a: dict) -> str:
    tenure = "years in business" if a["product"] == "small_business" else "years in current job"
    return (f"Loan application {app_id}: {a['product'].replace('_', ' ')} loan of ${a['amount_usd']:,} over "
            f"{a['term_months']} months at {a['apr_pct']}% APR. Applicant: annual income ${a['annual_income_usd']:,}, "
            f"existing monthly debt payments ${a['monthly_debts_usd']:,}, credit score {a['credit_score']}, "
            f"debt-to-income with this loan {a['dti_pct']}%, {a['delinquencies_24m']} delinquencies in the last "
            f"24 months, {a['employment_years']} {tenure}. Under the lending policy, recommend approve or "
            "decline. Answer with one word.")


def write(path: Path, seed: int, n: int, prefix: str) -> dict[str, int]:
    """Write ``n`` applications arriving over one business day; return counts per recommendation."""
    rng = random.Random(seed)
    day = datetime(2026, 3, 10, 9, tzinfo=timezone.utc) + timedelta(days=0 if prefix == "L" else 1)
    arrivals = sorted(rng.uniform(0, 8 * 3600) for _ in range(n))
    names, weights = list(PRODUCTS), [p[0] for p in PRODUCTS.values()]
    counts: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as f:
        for i, t in enumerate(arrivals, 1):
            app_id = f"{prefix}{i:04d}"
            a = application(rng, rng.choices(names, weights)[0])
            expected, difficulty = recommend(a)
            counts[expected] = counts.get(expected, 0) + 1
            stamp = (day + timedelta(seconds=round(t))).strftime("%Y-%m-%dT%H:%M:%SZ")
            rec = {"id": app_id, "prompt": _prompt(app_id, a), "category": a["product"], "difficulty": difficulty,
                   "expected": expected, "arrived_at": stamp, "metadata": a}
            f.write(json.dumps(rec) + "\n")
    return counts


if __name__ == "__main__":
    for name, (seed, n, prefix) in FILES.items():
        print(name, write(HERE / name, seed, n, prefix))
