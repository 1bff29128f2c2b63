"""Writing a dataset from production logs: records staged in batches, then deduplicated in SQL.

Why not :class:`~workbench.datasets.generic.DatasetBuilder`: a production log can hold millions of
records, and the builder keeps every row in Python dicts. Here each batch of records goes straight
into a staging table of the new dataset's own (temporary) DuckDB file, so the importer's memory stays
flat; at the end SQL keeps the first record of every prompt (the traffic) and the first answer of every
prompt x model (the ``logged`` outcomes), drops the staging table and renames the file into place.
A failure anywhere removes the temporary file: nothing is written.

Also here, because SQL lives in the store: Parquet read in batches (constant memory), and the readers
of a log's outcomes: the logged rows with their ``propensity`` (the old router's probability of
choosing the logged model, used by the off-policy estimators) and one answer at a time added by a
spend-capped re-ask. Both read and write by column name, so they work on a dataset with or without a
log's extra columns.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pandas as pd

from workbench.errors import InputError, StoreError
from workbench.store.outcomes import PROMPT_COLUMNS, OutcomeStore, dataset_path

__all__ = ["LoggedWriter", "STAGE_COLUMNS", "iter_parquet", "logged_outcomes", "add_answer"]

#: One staged log record: where it came from, the prompt (traffic) and the logged answer (outcome).
STAGE_COLUMNS = {
    "seq": "BIGINT", "file": "VARCHAR", "line": "BIGINT", "prompt_key": "VARCHAR", "prompt_id": "VARCHAR",
    "prompt": "VARCHAR", "messages": "VARCHAR", "category": "VARCHAR", "metadata": "VARCHAR",
    "arrived_at": "DOUBLE", "model": "VARCHAR", "response": "VARCHAR", "prompt_tokens": "INTEGER",
    "completion_tokens": "INTEGER", "latency_s": "DOUBLE", "cost_usd": "DOUBLE", "score": "DOUBLE",
    "feedback": "VARCHAR", "propensity": "DOUBLE",
}
_BATCH = 20_000
_MEMORY = "768MB"
_NAMES = tuple(STAGE_COLUMNS)
_DTYPES: dict[str, Any] = {"VARCHAR": "object", "BIGINT": "Int64", "INTEGER": "Int32", "DOUBLE": "Float64"}


class LoggedWriter:
    """Stage records with :meth:`add`, then :meth:`finish` builds dataset ``name``; use as ``with``."""

    def __init__(self, name: str):
        self.final = dataset_path(name)
        self.tmp = self.final.with_name(f".{self.final.name}.{os.getpid()}.tmp")
        self.tmp.unlink(missing_ok=True)
        self.ds = OutcomeStore(name, create=True, path=self.tmp)
        # a bounded buffer pool: the deduplication spills to a temporary folder rather than growing with the log
        self.spill = Path(tempfile.mkdtemp(prefix="wb-log-spill-"))
        self.ds.con.execute(f"SET memory_limit = '{_MEMORY}'")
        self.ds.con.execute("SET temp_directory = ?", [str(self.spill)])
        cols = ", ".join(f"{c} {t}" for c, t in STAGE_COLUMNS.items())
        self.ds.con.execute(f"CREATE TABLE staged ({cols})")
        self._rows: list[tuple[Any, ...]] = []
        self.staged = 0

    def __enter__(self) -> LoggedWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.ds.close()
        shutil.rmtree(self.spill, ignore_errors=True)
        self.tmp.unlink(missing_ok=True)  # after finish() the file was renamed: nothing left to remove
        Path(f"{self.tmp}.wal").unlink(missing_ok=True)

    def add(self, row: dict[str, Any]) -> None:
        """Stage one record (keys of :data:`STAGE_COLUMNS`; ``seq`` is given here)."""
        row["seq"] = self.staged
        self.staged += 1
        self._rows.append(tuple(map(row.get, _NAMES)))
        if len(self._rows) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        columns = zip(*self._rows, strict=True)
        batch = pd.DataFrame({c: pd.array(v, dtype=_DTYPES[STAGE_COLUMNS[c]])
                              for c, v in zip(_NAMES, columns, strict=True)})
        try:
            self.ds.con.register("batch", batch)
            self.ds.con.execute("INSERT INTO staged SELECT * FROM batch")
            self.ds.con.unregister("batch")
        except duckdb.Error as exc:
            raise StoreError(f"{self.tmp}: staging log records failed (nothing written): {exc}") from None
        self._rows = []

    def finish(self, meta: dict) -> dict[str, int]:
        """Build prompts and outcomes from the staged records, write ``meta``, rename into place.

        Returns the counts: ``records`` staged, ``prompts`` kept, ``outcomes`` kept, ``repeats`` (records
        asking what an earlier one asked), ``answers_dropped`` (a later answer of the same model to it).
        """
        self._flush()
        con = self.ds.con
        self._check_ids(con)
        con.execute("""
            INSERT INTO prompts (prompt_key, seq, prompt_id, prompt, messages, category, difficulty, expected,
                                 metadata, arrived_at)
            SELECT prompt_key, CAST(row_number() OVER (ORDER BY seq) - 1 AS INTEGER), prompt_id, prompt, messages,
                   category, NULL, NULL, metadata, arrived_at
            FROM staged WHERE seq IN (SELECT min(seq) FROM staged GROUP BY prompt_key)""")
        con.execute("""
            INSERT INTO outcomes (prompt_key, model, response, prompt_tokens, completion_tokens, latency_s, cost_usd,
                                  score, source, propensity, feedback)
            SELECT prompt_key, model, response, prompt_tokens, completion_tokens, latency_s, cost_usd, score,
                   'logged', propensity, feedback
            FROM staged
            WHERE seq IN (SELECT min(seq) FROM staged WHERE model IS NOT NULL GROUP BY prompt_key, model)""")
        row = con.execute("SELECT count(*), count(model) FROM staged").fetchone()
        prompts = con.execute("SELECT count(*) FROM prompts").fetchone()
        outcomes = con.execute("SELECT count(*) FROM outcomes").fetchone()
        assert row is not None and prompts is not None and outcomes is not None
        counts = {"records": int(row[0]), "prompts": int(prompts[0]), "outcomes": int(outcomes[0]),
                  "repeats": int(row[0]) - int(prompts[0]), "answers_dropped": int(row[1]) - int(outcomes[0])}
        con.execute("DROP TABLE staged")
        for k, v in {**meta, "import_counts": counts}.items():
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [k, _json(v)])
        con.execute("CHECKPOINT")
        self.ds.close()
        os.replace(self.tmp, self.final)
        return counts

    def _check_ids(self, con: duckdb.DuckDBPyConnection) -> None:
        # cheap test first (one hash aggregate); the details only when an id does name two prompts
        if con.execute("SELECT 1 FROM staged GROUP BY prompt_id HAVING min(prompt_key) <> max(prompt_key) "
                       "LIMIT 1").fetchone() is None:
            return
        clash = con.execute("""
            WITH first AS (SELECT prompt_id, arg_min(prompt_key, seq) AS k, arg_min(line, seq) AS l0
                           FROM staged GROUP BY prompt_id)
            SELECT s.file, s.line, s.prompt_id, first.l0 FROM staged s JOIN first USING (prompt_id)
            WHERE s.prompt_key <> first.k ORDER BY s.seq LIMIT 1""").fetchone()
        if clash is not None:
            raise InputError(f"request id {clash[2]!r} already names a different prompt (line {clash[3]}): ids "
                             "must be unique", file=clash[0], line=int(clash[1]), field="id")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def iter_parquet(path: Path, batch: int = 10_000) -> tuple[list[str], Iterator[tuple]]:
    """Column names and an iterator over the rows of a Parquet file, read ``batch`` rows at a time."""
    con = duckdb.connect()
    try:
        rel = con.execute("SELECT * FROM read_parquet(?)", [str(path)])
        columns = [d[0] for d in rel.description or []]
    except (duckdb.Error, RuntimeError, UnicodeError) as exc:
        con.close()
        raise InputError(f"unreadable Parquet: {exc}", file=path) from None

    def rows() -> Iterator[tuple]:
        try:
            while chunk := rel.fetchmany(batch):
                yield from chunk
        finally:
            con.close()

    return columns, rows()


_LOGGED_SQL = """
SELECT o.prompt_key, p.prompt_id, coalesce(p.category, '') AS category, o.model, o.score, o.cost_usd,
       {propensity} AS propensity
FROM outcomes o JOIN prompts p USING (prompt_key)
WHERE o.source = 'logged' ORDER BY p.seq, o.model
"""


def logged_outcomes(ds: OutcomeStore) -> tuple[bool, pd.DataFrame]:
    """Whether the outcomes have a ``propensity`` column, and the logged rows (``source`` ``logged``):
    prompt key and id, category ('' when none), model, score, cost, propensity (NULL without the column)."""
    con = ds.con
    cols = {c for (c, *_) in con.execute("DESCRIBE outcomes").fetchall()}
    has = "propensity" in cols
    return has, con.execute(_LOGGED_SQL.format(propensity="o.propensity" if has else "NULL::DOUBLE")).df()


def add_answer(ds: OutcomeStore, row: dict[str, Any] | None, meta: dict[str, Any] | None = None) -> None:
    """Upsert one answer (a dict of outcome columns) and/or meta entries, in one transaction; by column
    name, so columns of the dataset this row does not name (a log's ``propensity``) stay NULL."""
    ds.write(pd.DataFrame(columns=list(PROMPT_COLUMNS)), pd.DataFrame([row] if row else []), meta)
