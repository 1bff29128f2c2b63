"""The generic outcome format, and the builder every importer writes a dataset through.

Why one documented long format: any evaluation (a spreadsheet of graded answers, a notebook's export,
another router benchmark) can become a dataset without code, and every importer (RouteLLM's included)
ends in the same validation, token counting and pricing, so two datasets are comparable figure by figure.

Format (CSV with a header, or Parquet): one row per prompt x model.

=====================  ========  =============================================================
column                 required  meaning
=====================  ========  =============================================================
``prompt_id``          yes       the prompt's id (the traffic request id in replays)
``prompt``             yes       the prompt text; the same ``prompt_id`` always carries the same text
``model``              yes       litellm model name (how a scenario's fleet names it)
``response``           header    the model's answer (may be empty)
``score``              yes       quality of the answer, a number in [0, 1] (``true``/``false`` accepted)
``prompt_tokens``      header    empty: counted with litellm's tokenizer for ``model``
``completion_tokens``  header    empty: counted from ``response`` (then ``response`` is needed)
``latency_s``          header    seconds, or empty (not recorded)
``category``           no        the prompt's category
``expected``           no        the reference answer (for graders)
``cost_usd``           no        the answer's cost; empty: tokens x litellm's price (or ``--price``)
=====================  ========  =============================================================

"header" columns must be in the header; their values may be empty. A model litellm has no price for
needs ``cost_usd`` on each of its rows or a ``--price MODEL=IN,OUT`` (USD per million tokens).
Each ``(prompt_id, model)`` appears once, and two ids never carry the same text (a dataset keys a
prompt by the SHA-256 of its text). Any error names the file and the CSV line (the Parquet row) and
nothing is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import catalog
from workbench.errors import InputError
from workbench.store.outcomes import OutcomeStore, check_name
from workbench.traffic import Request, prompt_key

__all__ = ["import_outcomes", "REQUIRED_COLUMNS", "OPTIONAL_COLUMNS", "Pricer", "DatasetBuilder",
           "Progress", "read_csv", "sha256_file", "now_iso"]

REQUIRED_COLUMNS = ("prompt_id", "prompt", "model", "response", "score", "prompt_tokens", "completion_tokens",
                    "latency_s")
OPTIONAL_COLUMNS = ("category", "expected", "cost_usd")
_MUST_HAVE_VALUE = ("prompt_id", "prompt", "model", "score")

#: ``progress(stage, done, total)``: called while a long import counts tokens.
Progress = Callable[[str, int, int], None]


def now_iso() -> str:
    """The current UTC time, ISO-8601, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def sha256_file(data: bytes) -> str:
    """SHA-256 (hex) of a file's bytes, for a dataset's provenance."""
    return hashlib.sha256(data).hexdigest()


def read_csv(path: Path, data: bytes) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Header and ``(line, values)`` rows of a CSV, ``line`` the 1-based line where the row starts."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", file=path) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"malformed CSV header: {exc}", file=path, line=1) from None
    if not header:
        raise InputError("empty file: a header line is needed", file=path, line=1)

    def rows() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num + 1
        try:
            for values in reader:
                if values:  # csv yields [] for a blank line
                    if len(values) != len(header):
                        raise InputError(f"{len(values)} values for {len(header)} header columns",
                                         file=path, line=start)
                    yield start, values
                start = reader.line_num + 1
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", file=path, line=start) from None

    return header, rows()


class Pricer:
    """Per-token prices: litellm's map, or an override ``{model: (in_per_mtok, out_per_mtok)}``."""

    def __init__(self, overrides: Mapping[str, tuple[float, float]] | None = None):
        from workbench.scenario import Price

        self._prices: dict[str, Any] = {}
        for model, pair in (overrides or {}).items():
            try:
                inp, out = (float(x) for x in pair)
            except (TypeError, ValueError):
                raise InputError(f"price of {model!r} must be two numbers (USD per million tokens in, out), "
                                 f"got {pair!r}", field="price") from None
            if not (math.isfinite(inp) and math.isfinite(out) and inp >= 0 and out >= 0):
                raise InputError(f"price of {model!r} must be finite and not negative, got {pair!r}", field="price")
            self._prices[model] = Price(input_per_mtok=inp, output_per_mtok=out)
        self._cache: dict[str, catalog.ModelInfo | None] = {}

    def info(self, model: str) -> catalog.ModelInfo | None:
        """The model's prices, or None when neither litellm nor the override knows it."""
        if model not in self._cache:
            self._cache[model] = catalog.model_info(model, price=self._prices.get(model))
        return self._cache[model]

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """USD of one answer (tokens x price per token, as litellm's ``cost_per_token``)."""
        info = self.info(model)
        assert info is not None, model  # callers check info() first and name the row
        return prompt_tokens * info.input_per_token + completion_tokens * info.output_per_token

    def describe(self, models: list[str]) -> dict[str, dict]:
        """Prices used, per model, for the dataset's metadata."""
        out = {}
        for m in models:
            info = self.info(m)
            if info is not None:
                out[m] = {"input_per_mtok": round(info.input_per_token * 1e6, 9),
                          "output_per_mtok": round(info.output_per_token * 1e6, 9),
                          "source": "override" if info.price_source == "scenario" else "litellm"}
        return out


class DatasetBuilder:
    """Collects prompts and outcomes, then counts missing tokens, prices and writes atomically."""

    def __init__(self, pricer: Pricer):
        self.pricer = pricer
        self._prompts: dict[str, dict] = {}  # prompt_key -> prompt row
        self._outcomes: list[dict] = []

    def __len__(self) -> int:
        return len(self._prompts)

    def add_prompt(self, prompt_id: str, prompt: str, *, category: str | None = None, expected: str | None = None,
                   metadata: dict | None = None, messages: list[dict] | None = None) -> str:
        """Add one prompt (the caller has checked its key is new); returns its key."""
        key = prompt_key(Request(id=prompt_id, prompt=prompt, messages=messages))
        assert key not in self._prompts, prompt_id
        self._prompts[key] = {"prompt_key": key, "seq": len(self._prompts), "prompt_id": prompt_id,
                              "prompt": prompt, "messages": None if messages is None else json.dumps(messages),
                              "category": category, "difficulty": None, "expected": expected,
                              "metadata": metadata}
        return key

    def add_outcome(self, key: str, model: str, score: float, *, response: str | None = None,
                    prompt_tokens: int | None = None, completion_tokens: int | None = None,
                    latency_s: float | None = None, cost_usd: float | None = None) -> None:
        """Add one model's answer to a prompt; ``None`` tokens and cost are filled in by :meth:`write`."""
        self._outcomes.append({"prompt_key": key, "model": model, "response": response,
                               "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                               "latency_s": latency_s, "cost_usd": cost_usd, "score": float(score),
                               "source": "imported"})

    def fill(self, label: str, progress: Progress | None = None) -> dict[str, int]:
        """Count the missing tokens and price the missing costs; returns how many of each were filled."""
        counted = {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0}
        total = len(self._outcomes)
        for i, o in enumerate(self._outcomes, 1):
            model = o["model"]
            if o["prompt_tokens"] is None:
                p = self._prompts[o["prompt_key"]]
                chat = json.loads(p["messages"]) if p["messages"] else [{"role": "user", "content": p["prompt"]}]
                o["prompt_tokens"] = catalog.count_tokens(model, chat, o["prompt_key"])
                counted["prompt_tokens"] += 1
            if o["completion_tokens"] is None:
                o["completion_tokens"] = catalog.count_text_tokens(model, o["response"] or "")
                counted["completion_tokens"] += 1
            if o["cost_usd"] is None:
                o["cost_usd"] = self.pricer.cost(model, o["prompt_tokens"], o["completion_tokens"])
                counted["cost_usd"] += 1
            if progress is not None and (i % 1000 == 0 or i == total):
                progress(label, i, total)
        return counted

    def write(self, name: str, meta: dict) -> None:
        """Write dataset ``name`` (after :meth:`fill`) atomically, with the prices used in its metadata."""
        prompts = pd.DataFrame(list(self._prompts.values()))
        prompts["metadata"] = [None if m is None else json.dumps(m, ensure_ascii=False) for m in prompts["metadata"]]
        prompts["seq"] = prompts["seq"].astype("int32")
        prompts["difficulty"] = prompts["difficulty"].astype("Float64")
        outcomes = pd.DataFrame(self._outcomes)
        for col in ("prompt_tokens", "completion_tokens"):
            outcomes[col] = outcomes[col].astype("Int32")
        for col in ("latency_s", "cost_usd", "score"):
            outcomes[col] = outcomes[col].astype("Float64")
        models = sorted(outcomes["model"].unique())
        meta = {**meta, "prices": self.pricer.describe(models)}
        OutcomeStore.build(name, prompts, outcomes, meta)


# --- the generic format ---------------------------------------------------------------------------
def _rows(path: Path) -> Iterator[tuple[int, dict]]:
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".csv":
        header, lines = read_csv(path, data)
        _check_header(path, header)
        for line, values in lines:
            yield line, dict(zip(header, values, strict=True))
    elif suffix in (".parquet", ".pq"):
        from workbench.store.parquet import read_parquet_rows

        cols, rows = read_parquet_rows(path)  # a TrafficError naming the file if unreadable
        _check_header(path, cols)
        for n, cells in enumerate(rows, start=1):
            yield n, dict(zip(cols, cells, strict=True))
    else:
        raise InputError("outcome files are CSV (.csv) or Parquet (.parquet)", file=path)


def _check_header(path: Path, header: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; the header needs "
                         f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)})", file=path, line=1)
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise InputError(f"unknown column(s) {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}", file=path, line=1)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


def _number(v: Any, bad: Callable[[str], InputError], *, integer: bool = False, score: bool = False) -> float:
    if score and isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return 1.0 if v.strip().lower() == "true" else 0.0
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise bad(f"must be a number, got {v!r}") from None
    if not math.isfinite(x) or x < 0:
        raise bad(f"must be a finite number, not negative, got {v!r}")
    if score and x > 1:
        raise bad(f"must be in [0, 1], got {v!r}")
    if integer and x != int(x):
        raise bad(f"must be a whole number, got {v!r}")
    return int(x) if integer else x


def _parse_row(path: Path, line: int, rec: dict) -> dict:
    def bad(fld: str) -> Callable[[str], InputError]:
        return lambda msg: InputError(msg, file=path, line=line, field=fld)

    for col in _MUST_HAVE_VALUE:
        if _blank(rec.get(col)):
            raise bad(col)("is empty")
    out = {c: (None if _blank(rec.get(c)) else rec.get(c)) for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    for col in ("prompt_id", "prompt", "model", "response", "category", "expected"):
        if out[col] is not None:
            out[col] = str(out[col])
    out["score"] = _number(out["score"], bad("score"), score=True)
    for col in ("prompt_tokens", "completion_tokens"):
        if out[col] is not None:
            out[col] = _number(out[col], bad(col), integer=True)
    for col in ("latency_s", "cost_usd"):
        if out[col] is not None:
            out[col] = _number(out[col], bad(col))
    if out["completion_tokens"] is None and out["response"] is None:
        raise bad("completion_tokens")("is empty and there is no response to count it from")
    return out


def import_outcomes(file: str | Path, name: str, *, prices: Mapping[str, tuple[float, float]] | None = None,
                    progress: Progress | None = None) -> str:
    """Import a file in the generic outcome format (see the module docstring) as dataset ``name``."""
    check_name(name)
    path = Path(file).expanduser()
    if not path.is_file():
        raise InputError("no such file", file=path)
    pricer = Pricer(prices)
    builder = DatasetBuilder(pricer)
    seen: dict[str, tuple[dict, int, str]] = {}  # prompt_id -> (row, line, key)
    by_text: dict[str, tuple[str, int]] = {}  # prompt text -> (prompt_id, line)
    pairs: dict[tuple[str, str], int] = {}
    for line, rec in _rows(path):
        r = _parse_row(path, line, rec)
        pid = r["prompt_id"]
        if pid in seen:
            first, first_line, key = seen[pid]
            for col in ("prompt", "category", "expected"):
                if r[col] is not None and r[col] != first[col]:
                    raise InputError(f"prompt_id {pid!r} has a different {col} than on line {first_line}: "
                                     "a prompt_id always carries the same prompt", file=path, line=line, field=col)
        else:
            if r["prompt"] in by_text:
                other, other_line = by_text[r["prompt"]]
                raise InputError(f"prompt_id {pid!r} repeats the text of prompt_id {other!r} (line {other_line}): "
                                 "a dataset holds each prompt once", file=path, line=line, field="prompt")
            key = builder.add_prompt(pid, r["prompt"], category=r["category"], expected=r["expected"])
            seen[pid] = (r, line, key)
            by_text[r["prompt"]] = (pid, line)
        if (pid, r["model"]) in pairs:
            raise InputError(f"prompt_id {pid!r} and model {r['model']!r} already appear on line "
                             f"{pairs[(pid, r['model'])]}", file=path, line=line, field="model")
        pairs[(pid, r["model"])] = line
        if r["cost_usd"] is None and pricer.info(r["model"]) is None:
            raise InputError(f"model {r['model']!r} has no price in litellm's map: give cost_usd on its rows or "
                             f"--price '{r['model']}=IN,OUT' (USD per million tokens)", file=path, line=line,
                             field="model")
        builder.add_outcome(key, r["model"], r["score"], response=r["response"], prompt_tokens=r["prompt_tokens"],
                            completion_tokens=r["completion_tokens"], latency_s=r["latency_s"],
                            cost_usd=r["cost_usd"])
    if not pairs:
        raise InputError("the file holds no outcome rows", file=path)
    return _write_generic(builder, path, name, len(pairs), progress)


def _write_generic(builder: DatasetBuilder, path: Path, name: str, rows: int, progress: Progress | None) -> str:
    counted = builder.fill(name, progress)
    notes = [f"{rows:,} outcome rows over {len(builder):,} prompts, imported from {path.name}"]
    if counted["prompt_tokens"]:
        notes.append(f"prompt tokens of {counted['prompt_tokens']:,} rows counted with litellm's tokenizer "
                     "(the prompt as one user message)")
    if counted["completion_tokens"]:
        notes.append(f"completion tokens of {counted['completion_tokens']:,} rows counted from the response "
                     "with litellm's tokenizer")
    if counted["cost_usd"]:
        notes.append(f"cost of {counted['cost_usd']:,} rows = tokens x price per token (litellm's price map at "
                     "import, or --price; see meta 'prices')")
    builder.write(name, {"source": f"{path} (generic outcome format)", "format": "outcomes", "notes": notes,
                         "imported_at": now_iso(), "files": {path.name: sha256_file(path.read_bytes())}})
    return name
