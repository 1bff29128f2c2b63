"""Production logs as traffic plus a ``logged`` outcome dataset: ``workbench traffic import FORMAT FILE...``.

Why logs: an architect's question is "what would this design do to *our* traffic?". Teams already log
every call (an OpenAI client, the Batch API, a LiteLLM Proxy, Langfuse, OpenTelemetry), so the import
turns a log into one dataset NAME: its prompts are the traffic (``traffic: {dataset: NAME}``, with arrival
times, user, session, category and tags in each request's metadata) and its answers are the logged
model's outcomes (``provider: recorded``): response, tokens, latency, cost and feedback, labelled
``logged``. Replaying "always the logged model" reproduces the logged cost and scores exactly.

How: each format module maps its tool's field names onto one :class:`~.common.LogRecord` (each module's
docstring names where its schema was read); this module scrubs (``--scrub``), counts missing tokens and
prices missing costs with litellm, and streams the rows into :class:`workbench.store.logged.LoggedWriter`.
The first record of a prompt is its traffic row; a later record asking the same thing is a repeat
(counted). The input files are only read, never modified; a bad record stops the import with one error
naming the file, the line and the field, and nothing is written.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.datasets.logs.common import FILE_HASHES, Item, LogRecord, Skip, Where
from workbench.datasets.logs.langfuse import read_langfuse
from workbench.datasets.logs.litellm import read_litellm
from workbench.datasets.logs.openai import read_openai, read_openai_batch
from workbench.datasets.logs.otel import read_otel
from workbench.datasets.logs.scrub import Scrubber
from workbench.datasets.logs.table import read_table
from workbench.errors import InputError

__all__ = ["FORMATS", "ImportReport", "import_log", "parse_mapping", "read_names"]

Reader = Callable[[list[Path], dict[str, Any]], Iterator[Item]]
#: Every format: its reader (a generator of records).
FORMATS: dict[str, Reader] = {"openai": read_openai, "openai-batch": read_openai_batch, "litellm": read_litellm,
                              "langfuse": read_langfuse, "otel": read_otel, "table": read_table}


@dataclass
class ImportReport:
    """What an import read, kept, skipped and scrubbed (counts only: never a scrubbed value)."""

    name: str
    format: str
    files: list[str]
    read: int = 0
    prompts: int = 0
    outcomes: int = 0
    repeats: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    scrubbed: dict[str, dict[str, int]] | None = None
    tokens_counted: int = 0
    costs_priced: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (for ``--json`` and the dataset's metadata)."""
        return dict(self.__dict__)

    def text(self) -> str:
        """The report as the CLI prints it."""
        lines = [f"{self.name}: {self.read:,} records read from {len(self.files)} file(s) ({self.format}), "
                 f"{self.prompts:,} prompts (traffic), {self.outcomes:,} logged answers, in {self.seconds:.1f} s"]
        if self.repeats:
            lines.append(f"  {self.repeats:,} records repeat an earlier prompt (kept once, the first)")
        for reason, n in sorted(self.skipped.items()):
            lines.append(f"  skipped {n:,}: {reason}")
        if self.scrubbed is not None:
            done = ", ".join(f"{k.lower()} {v['replaced']:,} ({v['distinct']:,} distinct)"
                             for k, v in self.scrubbed.items())
            lines.append(f"  scrubbed: {done or 'nothing found'}")
        if self.costs_priced:
            lines.append(f"  {self.costs_priced:,} costs not logged: litellm's price x logged tokens")
        if self.tokens_counted:
            lines.append(f"  {self.tokens_counted:,} token counts not logged: counted with litellm's tokenizer")
        return "\n".join(lines)


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """``["col=field", ...]`` -> ``{column: field}`` (a column name may hold ``=``: the last one splits)."""
    out = {}
    for item in items:
        column, sep, fld = item.rpartition("=")
        if not sep or not column or not fld:
            raise InputError(f"--map takes COLUMN=FIELD, got {item!r}", field="--map")
        out[column] = fld
    return out


def read_names(path: str | Path) -> list[str]:
    """The names to scrub: one a line of a UTF-8 text file (blank lines and ``#`` comments ignored)."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the names file: {exc}", file=p, field="--names") from None
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def import_log(fmt: str, files: Iterable[str | Path], name: str, *, scrub: bool = False, names: Iterable[str] = (),
               mapping: Mapping[str, str] | None = None, prices: Mapping[str, tuple[float, float]] | None = None,
               score: str | None = None, progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import log ``files`` of format ``fmt`` as dataset ``name``; see the module docstring."""
    from workbench.datasets.generic import Pricer, now_iso
    from workbench.datasets.logs.rows import RowMaker
    from workbench.store.logged import LoggedWriter
    from workbench.store.outcomes import check_name

    check_name(name)
    if fmt not in FORMATS:
        raise InputError(f"unknown log format {fmt!r}; formats: {', '.join(FORMATS)}", field="FORMAT")
    paths = [Path(f).expanduser() for f in files]
    if not paths:
        raise InputError("no log file given", field="FILE")
    for p in paths:
        if not p.is_file():
            raise InputError("no such file", file=p)
    started = time.perf_counter()
    report = ImportReport(name=name, format=fmt, files=[str(p) for p in paths])
    scrubber = Scrubber(names) if scrub else None
    maker = RowMaker(Pricer(prices), scrubber, score)
    skipped: Counter[str] = Counter()
    with LoggedWriter(name) as writer:
        for where, rec in FORMATS[fmt](paths, {"mapping": dict(mapping or {})}):
            report.read += 1
            if isinstance(rec, Skip):
                skipped[rec.reason] += 1
            else:
                writer.add(maker.row(rec, where))
            if progress is not None and report.read % 50_000 == 0:
                progress(report.read)
        if writer.staged == 0:
            raise InputError(f"no record to import ({report.read:,} read, all skipped: "
                             f"{', '.join(skipped) or 'empty files'})", file=paths[0])
        report.skipped, report.scrubbed = dict(skipped), scrubber.report() if scrubber else None
        report.tokens_counted, report.costs_priced = maker.tokens_counted, maker.costs_priced
        meta = {"source": f"logged: {fmt} log ({', '.join(p.name for p in paths)})", "format": f"log:{fmt}",
                "imported_at": now_iso(), "notes": _notes(report, maker),
                "files": {p.name: FILE_HASHES.get(str(p)) for p in paths}, "scrub": report.scrubbed,
                "prices": maker.prices_used()}
        counts = writer.finish(meta)
    report.prompts, report.outcomes, report.repeats = counts["prompts"], counts["outcomes"], counts["repeats"]
    report.seconds = time.perf_counter() - started
    return report


def _notes(report: ImportReport, maker: Any) -> list[str]:
    notes = [f"imported from a {report.format} log: answers are the logged model's (source 'logged'), "
             "costs and latencies as logged"]
    if maker.costs_priced:
        notes.append(f"cost of {maker.costs_priced:,} answers not logged: litellm's price x logged tokens at import "
                     "(standard tier)")
    if maker.tokens_counted:
        notes.append(f"{maker.tokens_counted:,} token counts not logged: counted with litellm's tokenizer")
    if maker.no_latency:
        notes.append(f"{maker.no_latency:,} answers have no logged latency (a recorded replay simulates it)")
    if report.skipped:
        notes.append("skipped: " + "; ".join(f"{n:,} {r}" for r, n in sorted(report.skipped.items())))
    if report.scrubbed is not None:
        found = json.dumps(report.scrubbed) if report.scrubbed else "nothing found"
        notes.append(f"scrubbed before storing (counts per kind): {found}")
    return notes


__all__ += ["LogRecord", "Where"]
