"""``human_label``: the scores people gave to answers, read from a file.

Why a file and not a live queue: labelling happens outside the replay (a spreadsheet, an annotation
tool's export); the workbench only needs ``request id -> score``. The file is CSV or JSONL (by its
extension), with columns ``request_id`` and ``score`` unless ``id_field`` / ``score_field`` say
otherwise; a relative path is read from the scenario file's folder. It is read once, when the scenario
is built, and every problem in it (a missing column, a score that is not a number in [0, 1], an id
labelled twice) stops the build with one error naming the file and the line; the grader keeps the
file's ``path`` and ``sha256`` so a run can say which labels it used. A blank score (an empty
cell, ``null``) means "not labelled yet", like a request absent from the file: the grader cannot judge
it (None).

A label scores the request, not the answer: it is meant for a replay of the same answers that were
labelled (recorded traffic), where the request's final answer is the one the person saw.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from workbench.errors import InputError
from workbench.graders.base import Grader, GraderParams, register

__all__ = ["HumanLabel", "load_labels"]

_Name = Annotated[str, Field(min_length=1)]


def load_labels(path: Path, id_field: str = "request_id", score_field: str = "score") -> dict[str, float]:
    """``request id -> score`` from a CSV or JSONL file; an :class:`InputError` naming the line if malformed."""
    suffix = path.suffix.lower()
    readers = {".csv": _csv_rows, ".jsonl": _jsonl_rows, ".ndjson": _jsonl_rows}
    if suffix not in readers:
        raise InputError(f"unknown label file format '{suffix}' (use .csv or .jsonl)", file=path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=path) from None
    labels: dict[str, float] = {}
    first_line: dict[str, int] = {}
    for line, row in readers[suffix](path, text, (id_field, score_field)):
        rid = _request_id(row.get(id_field), path, line, id_field)
        score = _score(row.get(score_field), path, line, score_field)
        if rid in first_line:
            raise InputError(f"request '{rid}' is labelled twice (first on line {first_line[rid]})",
                             file=path, line=line, field=id_field)
        first_line[rid] = line
        if score is not None:
            labels[rid] = score
    return labels


def _csv_rows(path: Path, text: str, fields: tuple[str, str]) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        for name in fields:
            if name not in header:
                raise InputError(f"no column '{name}' (columns: {', '.join(header) or 'none'})",
                                 file=path, line=1, field=name)
        start = reader.line_num + 1
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"invalid CSV: {exc}", file=path, line=reader.line_num) from None


def _jsonl_rows(path: Path, text: str, fields: tuple[str, str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError, or a number too long to convert
            raise InputError(f"invalid JSON: {exc}", file=path, line=n) from None
        except RecursionError:
            raise InputError("invalid JSON: nested too deeply", file=path, line=n) from None
        if not isinstance(row, dict):
            raise InputError("each line must be a JSON object", file=path, line=n)
        for name in fields:
            if name not in row:
                raise InputError(f"no key '{name}'", file=path, line=n, field=name)
        yield n, row


def _request_id(value: Any, path: Path, line: int, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise InputError(f"a request id must be a non-empty string or integer, not {value!r}"[:200],
                         file=path, line=line, field=field)
    return str(value)


def _score(value: Any, path: Path, line: int, field: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # not labelled yet
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
    if number is None or math.isnan(number):
        raise InputError(f"score {value!r} is not a number"[:200], file=path, line=line, field=field)
    if not 0.0 <= number <= 1.0:
        raise InputError(f"score {value!r} is outside [0, 1]"[:200], file=path, line=line, field=field)
    return number


@register
class HumanLabel(Grader):
    """The score a person gave to the request's answer, from ``file``; None if it is not labelled."""

    name = "human_label"

    class Params(GraderParams):
        """``file`` (CSV or JSONL, relative to the scenario file), ``id_field``, ``score_field``."""

        file: _Name
        id_field: _Name = "request_id"
        score_field: _Name = "score"

    def __init__(self, params: GraderParams):
        super().__init__(params)
        self.labels: dict[str, float] | None = None
        self.path: Path | None = None
        self.sha256: str | None = None  # of the label file as read: provenance for the run

    def bind(self, scenario, loc):
        path = Path(self.params.file)
        if not path.is_absolute() and scenario.path is not None:
            path = scenario.path.parent / path
        if not path.is_file():
            raise scenario.error_at((*loc, "params", "file"), f"no such label file: {path}")
        self.labels = load_labels(path, self.params.id_field, self.params.score_field)
        self.path, self.sha256 = path, hashlib.sha256(path.read_bytes()).hexdigest()

    def score(self, req, text, provider_score):
        if self.labels is None:
            raise RuntimeError("human_label grader used before bind() loaded its file")
        return self.labels.get(req.id)
