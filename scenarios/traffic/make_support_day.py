"""Build ``support_day.jsonl``: one day of support tickets plus the overnight ticket summaries.

Why a second file and not a change to ``support_tickets.jsonl``: the library's designs and their golden
traces replay that file as it is. This one adds what a batch lane is for: 120 requests of category
``summary`` ("summarise this ticket for tomorrow's account review"), one for each of the day's first 120
tickets, queued between 21:00 and 06:00 UTC, which nobody reads before 08:00. The summaries carry no
``expected`` label, and a ``deadline_s``: the seconds from their arrival to 08:00 the next morning (a
batch lane reads it; every other design ignores it). Deterministic: the same file on every run.

    python scenarios/traffic/make_support_day.py
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
N_SUMMARIES = 120


def main() -> None:
    """Write ``support_day.jsonl`` next to this script."""
    tickets = [json.loads(line) for line in (HERE / "support_tickets.jsonl").read_text().splitlines() if line]
    rng = random.Random(14)
    start = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)
    span = 9 * 3600  # 21:00 to 06:00
    ready = datetime(2026, 3, 11, 8, 0, tzinfo=UTC)  # when the account managers read them
    times = sorted(rng.uniform(0, span) for _ in range(N_SUMMARIES))
    summaries = []
    for ticket, t in zip(tickets[:N_SUMMARIES], times, strict=True):
        arrived = start + timedelta(seconds=round(t))
        summaries.append({
            "id": f"S{ticket['id'][1:]}",
            "prompt": "Summarise this support ticket in three bullet points for tomorrow's account review "
                      "(customer, problem, what was promised):\n\n" + ticket["prompt"],
            "category": "summary",
            "difficulty": 0.3,
            "arrived_at": arrived.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "deadline_s": (ready - arrived).total_seconds(),
            "metadata": {"channel": "internal", "ticket": ticket["id"]},
        })
    rows = sorted(tickets + summaries, key=lambda r: r["arrived_at"])
    (HERE / "support_day.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


if __name__ == "__main__":
    main()
