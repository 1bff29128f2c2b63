"""The outcome matrix: every recorded answer of every model to every prompt of a dataset.

Why its own DuckDB file per dataset (under the data directory, not in the trace database): a dataset
is imported or recorded once and then re-routed by many runs, often from several trace databases; it
is read-only input to a replay, like a traffic file, and a user copies, deletes or shares it as one
file. Scenarios name a dataset (``traffic: {dataset: routellm-gsm8k}``), never a path, so the same
scenario runs on any machine that has imported the dataset.

Tables:

* ``prompts``: one row per prompt: ``prompt_key`` (SHA-256 of what is asked, see
  :func:`workbench.traffic.prompt_key`), the id, text, category, expected answer, metadata.
* ``outcomes``: one row per prompt x model: response text, tokens, latency, cost, score, and
  ``source`` (``live``, ``imported``, ``simulated``, ``logged``) so that a recorded replay can label its
  answers; ``propensity`` (the logging router's probability of choosing that model, when the log holds
  it) and ``feedback`` (JSON of every score or feedback value the log attached) for logged answers.
* ``meta``: name, where the data came from, and the assumptions made importing it.

A new dataset is written to a temporary file and renamed into place only when complete, so a failed
import leaves nothing behind; recording into an existing dataset is one transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import duckdb
import pandas as pd

from workbench.errors import InputError, StoreError
from workbench.store.base import Connected

__all__ = ["data_dir", "dataset_path", "list_datasets", "OutcomeStore", "DatasetInfo", "AnswerRow",
           "PROMPT_COLUMNS", "OUTCOME_COLUMNS", "check_name"]

PROMPT_COLUMNS = ("prompt_key", "seq", "prompt_id", "prompt", "messages", "category", "difficulty",
                  "expected", "metadata", "arrived_at")
OUTCOME_COLUMNS = ("prompt_key", "model", "response", "prompt_tokens", "completion_tokens", "latency_s",
                   "cost_usd", "score", "source", "propensity", "feedback")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS prompts (
    prompt_key VARCHAR PRIMARY KEY, seq INTEGER, prompt_id VARCHAR, prompt VARCHAR, messages VARCHAR,
    category VARCHAR, difficulty DOUBLE, expected VARCHAR, metadata VARCHAR, arrived_at DOUBLE);
CREATE TABLE IF NOT EXISTS outcomes (
    prompt_key VARCHAR, model VARCHAR, response VARCHAR, prompt_tokens INTEGER, completion_tokens INTEGER,
    latency_s DOUBLE, cost_usd DOUBLE, score DOUBLE, source VARCHAR, propensity DOUBLE, feedback VARCHAR,
    PRIMARY KEY (prompt_key, model));
"""
# Columns added after the first release (log imports): a dataset written before them gains them, empty, when
# it is opened for writing, at the end of the table as in _SCHEMA, so ``SELECT *`` orders stay the same.
_ADDED = """
ALTER TABLE prompts ADD COLUMN IF NOT EXISTS arrived_at DOUBLE;
ALTER TABLE outcomes ADD COLUMN IF NOT EXISTS propensity DOUBLE;
ALTER TABLE outcomes ADD COLUMN IF NOT EXISTS feedback VARCHAR;
"""
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def data_dir() -> Path:
    """Where datasets live: ``$WORKBENCH_DATA_DIR``, else ``$XDG_DATA_HOME/workbench``, else
    ``~/.local/share/workbench``."""
    env = os.environ.get("WORKBENCH_DATA_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share") / "workbench"


def check_name(name: str) -> str:
    """``name`` if it is a valid dataset name (letters, digits, ``-_.``, not starting with ``.``)."""
    if not name or name.startswith(".") or not set(name) <= _NAME_CHARS:
        raise InputError(f"invalid dataset name {name!r}: use letters, digits, '-', '_' and '.'")
    return name


def dataset_path(name: str) -> Path:
    """The file of dataset ``name`` under :func:`data_dir`."""
    return data_dir() / "datasets" / f"{check_name(name)}.duckdb"


class AnswerRow(NamedTuple):
    """One model's recorded answer to one prompt (a row of ``outcomes``, keyed by prompt and model)."""

    response: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float | None
    """None when the source recorded no latency (imported sets)."""
    cost_usd: float | None
    """None when the source recorded no cost: the reader prices the tokens."""
    score: float | None
    source: str | None
    """``live``, ``imported`` or ``simulated``: how the answer was obtained."""


_ANSWER_SQL = ("SELECT prompt_key, " + ", ".join(AnswerRow._fields) + " FROM outcomes WHERE model = ?")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset holds, for listings and pickers."""

    name: str
    path: Path
    prompts: int
    models: list[str]
    source: str
    notes: list[str]


def list_datasets() -> list[dict]:
    """Every dataset in the data directory: name, path, prompts, models, source, notes."""
    folder = data_dir() / "datasets"
    out = []
    for f in sorted(folder.glob("*.duckdb")) if folder.is_dir() else []:
        try:
            with OutcomeStore(f.stem) as ds:
                info = ds.info()
        except (StoreError, InputError):
            continue  # a half-written or foreign file is not a dataset
        out.append({"name": info.name, "path": str(info.path), "prompts": info.prompts,
                    "models": info.models, "source": info.source, "notes": info.notes})
    return out


class OutcomeStore(Connected):
    """One dataset's outcome matrix. ``create=True`` opens (or makes) it for writing."""

    con: duckdb.DuckDBPyConnection  # __init__ connects

    def __init__(self, name: str, *, create: bool = False, path: Path | None = None):
        self.name = check_name(name)
        self.path = path or dataset_path(name)
        if not create and not self.path.exists():
            hint = ", ".join(d.stem for d in sorted(self.path.parent.glob("*.duckdb"))) or "none yet"
            raise InputError(
                f"dataset '{name}' not found in {self.path.parent} (datasets there: {hint}); import it first, "
                "e.g. `workbench datasets import routellm PATH`, or set WORKBENCH_DATA_DIR")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path), read_only=not create)
            if create:
                self.con.execute(_SCHEMA)
                self.con.execute(_ADDED)
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open dataset '{name}': {exc}") from None

    # --- writing ----------------------------------------------------------------------------
    @classmethod
    def build(cls, name: str, prompts: pd.DataFrame, outcomes: pd.DataFrame, meta: dict) -> Path:
        """Write a whole new dataset atomically (temp file, then rename); replaces an older one."""
        final = dataset_path(name)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            with cls(name, create=True, path=tmp) as ds:
                ds.write(prompts, outcomes, meta)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
        return final

    def write(self, prompts: pd.DataFrame, outcomes: pd.DataFrame, meta: dict | None = None) -> None:
        """Upsert prompts and outcomes (a prompt x model recorded again replaces the older answer), by
        column name: a column the frames do not hold (a log's ``propensity``) is written NULL."""
        p = prompts.reindex(columns=PROMPT_COLUMNS)  # noqa: F841  (read by DuckDB)
        o = outcomes.reindex(columns=OUTCOME_COLUMNS)  # noqa: F841
        con = self.con
        try:
            con.begin()
            if len(p):
                con.execute("INSERT OR REPLACE INTO prompts BY NAME SELECT * FROM p")
            if len(o):
                con.execute("INSERT OR REPLACE INTO outcomes BY NAME SELECT * FROM o")
            for k, v in (meta or {}).items():
                con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [k, json.dumps(v)])
            con.commit()
        except duckdb.Error as exc:
            try:
                con.rollback()
            except duckdb.Error:
                pass
            raise StoreError(f"{self.path}: writing dataset '{self.name}' failed (nothing written): {exc}") from None

    # --- reading ----------------------------------------------------------------------------
    def meta(self) -> dict:
        """The dataset's metadata (source, notes, ...)."""
        return {k: json.loads(v) for k, v in self.con.execute("SELECT key, value FROM meta").fetchall()}

    def info(self) -> DatasetInfo:
        """Name, size, models, source and notes."""
        try:
            (n,) = self.con.execute("SELECT count(*) FROM prompts").fetchone() or (0,)
            models = [m for (m,) in self.con.execute("SELECT DISTINCT model FROM outcomes ORDER BY 1").fetchall()]
            meta = self.meta()
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: not a workbench dataset: {exc}") from None
        return DatasetInfo(self.name, self.path, n, models, meta.get("source", "?"), meta.get("notes", []))

    def prompts(self) -> pd.DataFrame:
        """The prompts in their dataset order."""
        return self.con.execute("SELECT * FROM prompts ORDER BY seq, prompt_key").df()

    def fingerprint(self) -> str:
        """SHA-256 over the prompts' keys and ids in order: the dataset's traffic identity."""
        h = hashlib.sha256()
        rows = self.con.execute("SELECT prompt_key, prompt_id FROM prompts ORDER BY seq, prompt_key").fetchall()
        for key, pid in rows:
            h.update(f"{key}\t{pid}\n".encode())
        return h.hexdigest()

    def answers(self, model: str, keys: Iterable[str] | None = None) -> dict[str, AnswerRow]:
        """``prompt_key ->`` :class:`AnswerRow` for ``model`` (restricted to ``keys`` when given)."""
        if keys is None:
            rows = self.con.execute(_ANSWER_SQL, [model]).fetchall()
        else:
            wanted = pd.DataFrame({"k": sorted(set(keys))})  # noqa: F841
            rows = self.con.execute(_ANSWER_SQL + " AND prompt_key IN (SELECT k FROM wanted)", [model]).fetchall()
        return {key: AnswerRow(*rest) for key, *rest in rows}

    def matrix(self, models: Sequence[str] | None = None) -> pd.DataFrame:
        """The long outcome matrix ``prompt_key, prompt_id, category, model, score, cost_usd, ...``."""
        df = self.con.execute(
            "SELECT o.prompt_key, p.prompt_id, p.category, o.model, o.score, o.cost_usd, o.prompt_tokens, "
            "o.completion_tokens, o.latency_s, o.source FROM outcomes o JOIN prompts p USING (prompt_key) "
            "ORDER BY p.seq, o.model").df()
        return df if models is None else df[df["model"].isin(list(models))].reset_index(drop=True)
