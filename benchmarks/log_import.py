"""Log import speed and memory: 1,000,000 LiteLLM spend-log records through ``workbench traffic import``.

Why this benchmark exists: a team's production log is large, and the import must stream it (memory flat
in the number of records) fast enough to be part of a working session. Goal (issue 15): 1,000,000 records
in under 60 s with peak memory under 2 GB on a 2-core machine.

How: the records are written into a temporary directory as LiteLLM Proxy spend-log rows (JSONL, the
``LiteLLM_SpendLogs`` columns: request id, model, model group, start/end/completion-start times, tokens,
spend, status, cache hit, metadata with a propensity, user, session, tags, stored messages and response),
with a share of repeated prompts, failed calls and rows without stored messages. Then a child process
imports them (``import_log("litellm", ...)``) and the wall time and the child's peak resident memory
(``ru_maxrss``) are printed, with the machine's load: the figures move with it. The figures are synthetic
and only serve the timing.

Usage::

    python benchmarks/log_import.py                      # 1,000,000 records
    python benchmarks/log_import.py --records 200000 --scrub
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S, GOAL_GB = 60.0, 2.0
_CHILD = """
import json, sys, time
from workbench.datasets.logs import import_log
t = time.perf_counter()
r = import_log("litellm", [sys.argv[1]], "bench-logs", scrub=sys.argv[2] == "1")
print(json.dumps({"seconds": time.perf_counter() - t, "read": r.read, "prompts": r.prompts, "outcomes": r.outcomes,
                  "skipped": r.skipped, "repeats": r.repeats, "scrubbed": r.scrubbed}))
"""


def write_log(path: Path, n: int, seed: int = 0) -> None:
    """``n`` spend-log rows: 2 models, 5% repeated prompts, 1% failures, 1% without stored messages."""
    rng = random.Random(seed)
    topics = ["password", "invoice", "refund", "shipping", "account", "upgrade", "cancel", "export"]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            k = rng.randrange(i) if i > 100 and rng.random() < 0.05 else i
            large = rng.random() < 0.3
            model = "gpt-4o" if large else "gpt-4o-mini"
            start = 1_764_583_200 + i * 0.05
            ptok, ctok = 40 + k % 200, 10 + k % 90
            price = (2.5e-6, 10e-6) if large else (0.15e-6, 0.6e-6)
            millis = f".{int(start * 1000) % 1000:03d}Z"
            row = {"request_id": f"chatcmpl-{i:08d}", "call_type": "acompletion",
                   "spend": ptok * price[0] + ctok * price[1],
                   "total_tokens": ptok + ctok, "prompt_tokens": ptok, "completion_tokens": ctok,
                   "startTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)) + millis,
                   "endTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + 1)) + "Z",
                   "model": model, "model_group": "support-large" if large else "support-small",
                   "custom_llm_provider": "openai", "user": f"u{k % 5000}", "end_user": f"customer-{k % 20000}",
                   "metadata": {"category": topics[k % 8], "propensity": 0.3 if large else 0.7},
                   "cache_hit": "False", "request_tags": ["prod"], "session_id": f"s{k // 4}",
                   "messages": [{"role": "system", "content": "You are Acme's support agent."},
                                {"role": "user", "content": f"Ticket {k}: a question about my {topics[k % 8]}, "
                                                            f"order {k * 7919 % 100000}."}],
                   "response": {"choices": [{"message": {"role": "assistant", "content": f"Answer {k} about "
                                                                                          f"{topics[k % 8]}."}}]},
                   "status": "failure" if rng.random() < 0.01 else "success"}
            if rng.random() < 0.01:
                row["messages"] = {}
            f.write(json.dumps(row) + "\n")


def main() -> None:
    """Generate, import in a child process, print seconds and peak memory."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--scrub", action="store_true", help="also scrub (slower: every text is searched)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wb-log-bench-") as tmp:
        log = Path(tmp) / "spend_logs.jsonl"
        t = time.perf_counter()
        write_log(log, args.records)
        print(f"generated {args.records:,} spend-log records ({log.stat().st_size / 1e6:,.0f} MB) in "
              f"{time.perf_counter() - t:.1f} s")
        env = {**os.environ, "WORKBENCH_DATA_DIR": str(Path(tmp) / "data"), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        load = os.getloadavg()
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _CHILD, str(log), "1" if args.scrub else "0"], env=env,
                             capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_gb, cpu_s = usage.ru_maxrss / 1024 / 1024, usage.ru_utime + usage.ru_stime  # maxrss: KiB on Linux
        r = json.loads(out.stdout.strip().splitlines()[-1])
        size = (Path(tmp) / "data" / "datasets" / "bench-logs.duckdb").stat().st_size
    print(f"imported: {r['read']:,} read, {r['prompts']:,} prompts, {r['outcomes']:,} logged answers, "
          f"{r['repeats']:,} repeats, skipped {r['skipped']}" + (f", scrubbed {r['scrubbed']}" if args.scrub else ""))
    print(f"import: {r['seconds']:.1f} s in the library, {wall:.1f} s wall with the child's start "
          f"(goal < {GOAL_S:.0f} s), {cpu_s:.1f} s of CPU; peak memory {peak_gb:.2f} GB (goal < {GOAL_GB:.0f} GB); "
          f"dataset file {size / 1e6:,.0f} MB")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the start (shared: figures move with the load)")


if __name__ == "__main__":
    main()
