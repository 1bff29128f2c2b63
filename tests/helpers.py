"""Run a scenario (in process, or as the ``workbench`` command) and read its tables back."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd

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
