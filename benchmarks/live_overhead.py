"""Live overhead: the workbench's live replay against a bare ``litellm.acompletion`` loop.

Why: a live run should measure the providers, not the workbench. Both sides send the same requests to
the same sim-server on loopback, at the same concurrency, through litellm; the workbench also routes,
retries, records every attempt in DuckDB and prices it. The goal (issue): the workbench keeps at
least 90% of the bare loop's throughput at concurrency 64.

Usage::

    python benchmarks/live_overhead.py [--requests 2000] [--concurrency 64] [--speed 20]

The sim-server runs in this process's background thread (its own event loop); its latencies are the
simulated fleet's divided by ``--speed``. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import workbench  # noqa: E402
from workbench.runner import execute, prepare  # noqa: E402
from workbench.scenario import parse_scenario  # noqa: E402
from workbench.simserver import running_server  # noqa: E402
from workbench.store import TraceStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRAFFIC = ROOT / "scenarios" / "traffic" / "support_tickets.jsonl"
SERVER = """name: server
fleet: {small: {model: gpt-4o-mini, sim: {error_rates: {}}}}
router: {policy: static, params: {target: small}}
traffic: {source: none.jsonl}
"""


def client_scenario(url: str, n: int, concurrency: int):
    return parse_scenario(f"""name: live-overhead
seed: 1
concurrency: {concurrency}
fleet:
  small: {{model: openai/gpt-4o-mini, provider: live, api_base: "{url}", timeout_s: 60}}
router: {{policy: static, params: {{target: small}}}}
retries: {{max_retries: 0}}
traffic: {{source: {TRAFFIC}, sample: {n}, replace: true, arrival: {{process: poisson, rate_per_s: 100000}}}}
""", source=ROOT / "scenarios" / "bench.yaml")


async def bare_loop(url: str, prompts: list[str], concurrency: int) -> float:
    import litellm

    litellm.suppress_debug_info = True
    gate = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> None:
        async with gate:
            await litellm.acompletion(model="openai/gpt-4o-mini", api_base=url, api_key="not-needed",
                                      messages=[{"role": "user", "content": prompt}], num_retries=0,
                                      max_retries=0, timeout=60)

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for p in prompts))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--speed", type=float, default=20.0)
    args = ap.parse_args()
    with running_server(parse_scenario(SERVER), speed=args.speed) as url, tempfile.TemporaryDirectory() as tmp:
        prep = prepare(client_scenario(url, args.requests, args.concurrency))
        prompts = [r.prompt for r in prep.requests]
        warm = asyncio.run(bare_loop(url, prompts[:20], args.concurrency))  # imports, connection pool
        bare_s = asyncio.run(bare_loop(url, prompts, args.concurrency))
        with TraceStore(Path(tmp) / "live.duckdb") as store:
            start = time.perf_counter()
            rid, stats = execute(prep, store)
            wb_s = time.perf_counter() - start
            ok = store.con.execute("SELECT count(*) FROM requests WHERE run_id = ? AND status = 'ok'",
                                   [rid]).fetchone()[0]
    bare_rate, wb_rate = args.requests / bare_s, args.requests / wb_s
    print(f"sim-server on loopback, speed {args.speed:g}x (simulated latencies), {args.requests:,} requests, "
          f"concurrency {args.concurrency} (warm-up {warm:.2f} s)")
    print(f"bare litellm.acompletion loop: {bare_s:7.2f} s -> {bare_rate:8.1f} requests/s")
    print(f"workbench live replay:         {wb_s:7.2f} s -> {wb_rate:8.1f} requests/s "
          f"({ok:,} answered, {stats.attempts:,} attempts written to DuckDB)")
    ratio = wb_rate / bare_rate
    print(f"ratio: {ratio:.1%} of the bare loop (goal >= 90%: {'MET' if ratio >= 0.9 else 'NOT MET'})")
    print(f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, workbench {workbench.__version__}")


if __name__ == "__main__":
    main()
