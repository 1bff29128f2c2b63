"""Run a scenario (in process, or as the ``workbench`` command) and read its tables back."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

from conftest import SCENARIOS

from workbench.analysis import run_summary
from workbench.runner import execute, prepare
from workbench.store import TraceStore


def fake_key() -> str:
    """A key-shaped secret made at run time: no key, real or fake, is ever committed to the project."""
    return "sk-" + secrets.token_hex(16)


def run(path: Path, db: Path, **kw) -> tuple[str, dict]:
    """Prepare and execute one scenario; return its run id and summary."""
    prep = prepare(path, **kw)
    with TraceStore(db) as store:
        rid, _ = execute(prep, store)
        return rid, run_summary(store.con, rid)


def table(db: Path, name: str, run_id: str) -> pd.DataFrame:
    """One run's rows of ``requests`` or ``attempts``, in a stable order."""
    order = "seq" if name == "requests" else "request_id, attempt_no"
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT * FROM {name} WHERE run_id = ? ORDER BY {order}", [run_id]).df()


def wb(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed ``workbench`` console script (as a user would), without $WORKBENCH_DB."""
    script = Path(sys.executable).parent / "workbench"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "workbench"]
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DB"}
    return subprocess.run([*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def tiered_scenario(path: Path, n: int, source: Path, extra: str = "") -> Path:
    """support-tiered over ``n`` tickets drawn with replacement from ``source``, Poisson arrivals at 8/s,
    plus ``extra`` top-level YAML; written to ``path``."""
    from conftest import SCENARIOS

    text = (SCENARIOS / "support-tiered.yaml").read_text().replace(
        "  source: traffic/support_tickets.jsonl\n  arrival: {process: recorded, field: arrived_at}",
        f"  source: {source}\n  sample: {n}\n  replace: true\n  arrival: {{process: poisson, rate_per_s: 8}}")
    assert f"sample: {n}" in text
    path.write_text(text + extra)
    return path


def sigkill_mid_run(scenario: Path, db: Path, cwd: Path, flushes: int, batch: int) -> str:
    """Run ``workbench run SCENARIO --run-id killed`` and SIGKILL it right after its ``flushes``-th
    batch of rows is committed, through the engine's exact fault hook (workbench.faults): no race with
    progress output, so the kill lands at the same point on any machine and at any size. Batches are
    ``batch`` requests (``WORKBENCH_TEST_FLUSH_EVERY``), so the kill lands after ``flushes * batch``
    requests however large the run. Returns the hook's ``workbench-test:`` line."""
    script = Path(sys.executable).parent / "workbench"
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DB"}
    env |= {"WORKBENCH_TEST_STOP_AFTER_FLUSHES": str(flushes), "WORKBENCH_TEST_STOP_SIGNAL": "SIGKILL",
            "WORKBENCH_TEST_FLUSH_EVERY": str(batch)}
    proc = subprocess.run([str(script), "run", str(scenario), "--run-id", "killed", "--db", str(db),
                           "--no-progress"], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("workbench-test:"))
    assert f"flushes={flushes}:" in line, line
    return line


#: Routers over :func:`small_wins_scenario`'s fleet: all to the small model, almost all, half, all to the large.
SMALL_WINS = {
    "mini": "router: {policy: static, params: {target: small}}",
    "w97": "router: {policy: weighted, params: {weights: {small: 97, large: 3}}}",
    "w50": "router: {policy: weighted, params: {weights: {small: 50, large: 50}}}",
    "big": "router: {policy: static, params: {target: large}}",
}


def small_wins_scenario(folder: Path, design: str, graders: bool = True) -> Path:
    """``small-wins-<design>`` (a router of :data:`SMALL_WINS`) over the demo tickets, seed 42, in a fleet
    whose cheap model is also the better one (simulated quality 0.99 / 0.95 on easy / hard tickets
    against gpt-4o's calibrated defaults): one single-model design beats every other."""
    from conftest import SCENARIOS

    path = folder / f"small-wins-{design}.yaml"
    path.write_text(
        f"name: small-wins-{design}\nseed: 42\nconcurrency: 16\nfleet:\n"
        "  small: {model: gpt-4o-mini, sim: {quality_easy: 0.99, quality_hard: 0.95}}\n"
        f"  large: {{model: gpt-4o}}\n{SMALL_WINS[design]}\n" + ("graders: [{type: exact}]\n" if graders else "")
        + f"traffic: {{source: {SCENARIOS / 'traffic' / 'support_tickets.jsonl'}, "
        "arrival: {process: recorded, field: arrived_at}}\n")
    return path


def seeded_pii() -> dict[str, str]:
    """One value of every kind the log scrubber replaces, made at run time (like :func:`fake_key`): an
    e-mail, a phone number, a Luhn-valid card number, a checksum-valid IBAN, IPv4 and IPv6 addresses, an
    OpenAI-style key, a bearer token, an AWS access key id, a long hex secret and a person's name."""
    import random

    from stdnum import iban, luhn

    rng = random.Random(secrets.randbits(32))
    body = "".join(rng.choice("0123456789") for _ in range(14))
    card = "4" + body + luhn.calc_check_digit("4" + body)
    account = "".join(rng.choice("0123456789") for _ in range(18))
    iban_value = "DE" + iban.calc_check_digits("DE00" + account) + account
    return {
        "EMAIL": f"jo.{secrets.token_hex(4)}@example.org",
        "PHONE": f"+44 20 7946 0{rng.randrange(100, 999)}",
        "CARD": card, "IBAN": iban_value,
        "IP": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "IPV6": f"2001:db8::{rng.randrange(1, 0xffff):x}:{rng.randrange(1, 0xffff):x}",
        "API_KEY": fake_key(), "BEARER": "Bearer " + secrets.token_urlsafe(24),
        "AWS": "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
        "HEX": secrets.token_hex(24),
        "NAME": rng.choice(["Marguerite", "Thaddeus", "Ottoline", "Bartholomew"]) + " " + rng.choice(
            ["Quibble", "Featherstonehaugh", "Pettigrew", "Wolstencroft"]),
    }


def leaked(values: dict[str, str], texts: list[str]) -> list[str]:
    """The kinds of ``values`` found in any of ``texts`` (raw or with their spaces removed)."""
    found = []
    for kind, value in values.items():
        forms = {value, value.replace(" ", "")}
        if kind == "BEARER":
            forms = {value.split()[1]}
        if any(f in t for f in forms for t in texts):
            found.append(kind)
    return found


def scenario_folder(parent: Path, *names: str, exercises: bool = False) -> Path:
    """``parent/scenarios`` holding copies of the library scenarios ``names``, their traffic folder and,
    with ``exercises``, the interview exercises: a folder the app or a run may write into."""
    folder = parent / "scenarios"
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(SCENARIOS / name, folder / name)
    shutil.copytree(SCENARIOS / "traffic", folder / "traffic")
    if exercises:
        shutil.copytree(SCENARIOS / "exercises", folder / "exercises")
    return folder
