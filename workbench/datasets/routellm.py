"""RouteLLM's public outcome files as two datasets: ``routellm-gsm8k`` and ``routellm-mmlu``.

Why import these: they are real answers of a strong and a weak model (GPT-4-1106-preview and
Mixtral-8x7B) to every question of two benchmarks, each graded right or wrong. With both answers known
for every prompt, any routing policy can be scored offline, exactly, at no cost: the quality of
"always Mixtral" is the share of True in Mixtral's column, to the last digit.

What the files hold and what is added (every addition is written into the dataset's notes):

* ``gsm8k/gsm8k_responses.csv``: question, one True/False column per model, ``<model>_response``
  texts. ``gsm8k/test.jsonl`` gives the reference answer (the number after ``####``), matched on the
  question text.
* ``mmlu/mmlu_<subject>.csv``: question with its four options, True/False per model; no answer texts
  and no answer key. Completion tokens are ASSUMED to be 1 (a one-letter answer; RouteLLM generated
  with ``max_new_tokens=1``).
* Tokens are counted with litellm's tokenizer of each model, on the question as one user message; costs
  use litellm's price map at import (or an override). RouteLLM asked each question after few-shot
  examples (8 for GSM8K, up to 5 for MMLU) that the files do not contain, so real prompt tokens and
  costs were higher than the imported ones. No latencies were recorded.
* 105 MMLU rows repeat the exact text of an earlier row (the same question in two subjects, or twice in
  one), and on 4 of them a model's verdict differs (a repeat can carry another answer key). RouteLLM
  scores every row, so every row stays a prompt: a repeat is stored as a one-message chat with the same
  text, whose key (the hash of what is asked, chat form) differs from the first row's, and its metadata
  names the row it repeats (``repeat_of``). Quality over the dataset is then exactly the share of True
  in each model's columns.

A malformed file (missing column, a verdict other than True/False, an empty or repeated GSM8K
question) raises an :class:`~workbench.errors.InputError` naming the file and CSV line; every file is
read and checked before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workbench.datasets.generic import DatasetBuilder, Pricer, Progress, now_iso, read_csv, sha256_file
from workbench.errors import InputError

__all__ = ["import_routellm", "DEFAULT_MODELS", "SOURCE"]

#: RouteLLM's column names -> litellm model names (both priced in litellm's map).
DEFAULT_MODELS = {
    "mistralai/Mixtral-8x7B-Instruct-v0.1": "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1",
    "gpt-4-1106-preview": "gpt-4-1106-preview",
}
SOURCE = "RouteLLM (lm-sys/RouteLLM, Apache-2.0)"
_VERDICT = {"True": 1.0, "False": 0.0}
_COMMON_NOTES = [
    "token counts: litellm's tokenizer for each model (litellm may approximate a model's own tokenizer, "
    "e.g. with OpenAI's cl100k_base), on the question as one user message",
    "costs: tokens x litellm's price map at import, or the --price override (see meta 'prices')",
    "no latencies recorded (latency_s is empty)",
    "score: RouteLLM's True/False verdict, as 1.0/0.0",
]


@dataclass
class _Table:
    """One RouteLLM CSV, checked: model columns, and per row (line, prompt, verdicts, responses)."""

    path: Path
    sha256: str
    columns: list[str]
    rows: list[tuple[int, str, dict[str, float], dict[str, str]]] = field(default_factory=list)


def _read_table(path: Path, responses: bool) -> _Table:
    data = path.read_bytes()
    header, rows = read_csv(path, data)
    if "prompt" not in header:
        raise InputError("missing column 'prompt'", file=path, line=1, field="prompt")
    cols = [c for c in header if c != "prompt" and not c.endswith("_response")]
    if not cols:
        raise InputError("no model column (a True/False column per model)", file=path, line=1)
    for c in header:
        if c.endswith("_response") and c[: -len("_response")] not in cols:
            raise InputError(f"column {c!r} has no verdict column {c[:-len('_response')]!r}", file=path, line=1)
    if responses:
        for c in cols:
            if f"{c}_response" not in header:
                raise InputError(f"missing column '{c}_response' (the answers of {c})", file=path, line=1)
    idx = {c: header.index(c) for c in header}
    table = _Table(path, sha256_file(data), cols)
    for line, values in rows:
        prompt = values[idx["prompt"]]
        if not prompt.strip():
            raise InputError("empty prompt", file=path, line=line, field="prompt")
        verdicts = {}
        for c in cols:
            v = values[idx[c]]
            if v not in _VERDICT:
                raise InputError(f"expected True or False, got {v!r}", file=path, line=line, field=c)
            verdicts[c] = _VERDICT[v]
        texts = {c: values[idx[f"{c}_response"]] for c in cols if f"{c}_response" in idx}
        table.rows.append((line, prompt, verdicts, texts))
    if not table.rows:
        raise InputError("no rows", file=path)
    return table


def _mapping(models: Mapping[str, str] | None, columns: list[str], path: Path, pricer: Pricer) -> dict[str, str]:
    mapping = {**DEFAULT_MODELS, **(models or {})}
    for col in models or {}:
        if col not in columns:
            raise InputError(f"--model names column {col!r}, which the file lacks (columns: {', '.join(columns)})",
                             file=path, line=1)
    out = {c: mapping.get(c, c) for c in columns}
    if len(set(out.values())) < len(out):
        raise InputError(f"two model columns map to the same model name: {out}", file=path, line=1)
    for col, model in out.items():
        if pricer.info(model) is None:
            raise InputError(f"model {model!r} (column {col!r}) has no price in litellm's map: give "
                             f"--model '{col}=LITELLM_NAME' or --price '{model}=IN,OUT'", file=path, line=1, field=col)
    return out


def _expected(path: Path) -> tuple[dict[str, str], str | None]:
    if not path.is_file():
        return {}, None
    data = path.read_bytes()
    out = {}
    for n, raw in enumerate(data.decode("utf-8").split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
            question, answer = rec["question"], rec["answer"]
        except (ValueError, KeyError, TypeError):
            raise InputError("expected a JSON object with 'question' and 'answer'", file=path, line=n) from None
        if "####" in answer:
            out[question.strip()] = answer.rsplit("####", 1)[1].strip().replace(",", "")
    return out, sha256_file(data)


def _gsm8k(folder: Path, pricer: Pricer, models: Mapping[str, str] | None) -> tuple[DatasetBuilder, dict]:
    table = _read_table(folder / "gsm8k_responses.csv", responses=True)
    mapping = _mapping(models, table.columns, table.path, pricer)
    answers, answers_sha = _expected(folder / "test.jsonl")
    builder = DatasetBuilder(pricer)
    lines: dict[str, int] = {}
    matched = 0
    for i, (line, prompt, verdicts, texts) in enumerate(table.rows):
        if prompt in lines:
            raise InputError(f"the question on line {lines[prompt]} appears again", file=table.path, line=line,
                             field="prompt")
        lines[prompt] = line
        expected = answers.get(prompt.strip())
        matched += expected is not None
        key = builder.add_prompt(f"gsm8k-{i:04d}", prompt, category="gsm8k", expected=expected, metadata={"row": i})
        for col, model in mapping.items():
            builder.add_outcome(key, model, verdicts[col], response=texts[col])
    files = {"gsm8k/gsm8k_responses.csv": table.sha256}
    if answers_sha:
        files["gsm8k/test.jsonl"] = answers_sha
        note = (f"expected: the number after '####' in test.jsonl (commas removed), matched on the question "
                f"text for {matched:,} of {len(table.rows):,} questions")
    else:
        note = "expected is empty: gsm8k/test.jsonl was not found beside the responses"
    fewshot = ("RouteLLM asked each question after 8 worked examples that the files do not hold: real prompt "
               "tokens and costs were higher than these")
    return builder, {"files": files, "columns": mapping, "expected_matched": matched, "notes": [fewshot, note]}


def _mmlu(folder: Path, pricer: Pricer, models: Mapping[str, str] | None) -> tuple[DatasetBuilder, dict]:
    paths = sorted(folder.glob("mmlu_*.csv"))
    tables = [_read_table(p, responses=False) for p in paths]
    mapping = _mapping(models, tables[0].columns, tables[0].path, pricer)
    for t in tables[1:]:
        if t.columns != tables[0].columns:
            raise InputError(f"model columns {t.columns} differ from {tables[0].path.name}'s {tables[0].columns}",
                             file=t.path, line=1)
    builder = DatasetBuilder(pricer)
    first: dict[str, tuple[str, dict]] = {}  # prompt text -> (prompt_id, scores) of its first row
    twice: set[str] = set()
    rows = disagree = 0
    repeats: dict[str, int] = {}
    for t in tables:
        subject = t.path.stem[len("mmlu_"):]
        for i, (line, prompt, verdicts, texts) in enumerate(t.rows):
            rows += 1
            pid = f"mmlu-{subject}-{i:04d}"
            scores = {mapping[c]: v for c, v in verdicts.items()}
            meta: dict[str, int | str] = {"row": i}
            messages = None
            if prompt in first:
                # RouteLLM scored every row on its own (a repeat may carry another answer key), so the
                # repeat stays a prompt of its own: the same text as a one-message chat, whose key
                # (the hash of the chat) differs from the bare text's.
                other, other_scores = first[prompt]
                if prompt in twice:
                    raise InputError(f"this question appears a third time (first as {other})", file=t.path,
                                     line=line, field="prompt")
                twice.add(prompt)
                meta["repeat_of"] = other
                messages = [{"role": "user", "content": prompt}]
                where = "within one subject" if other.startswith(f"mmlu-{subject}-") else "across subjects"
                repeats[where] = repeats.get(where, 0) + 1
                disagree += scores != other_scores
            else:
                first[prompt] = (pid, scores)
            key = builder.add_prompt(pid, prompt, category=subject, metadata=meta, messages=messages)
            for col, model in mapping.items():
                text = texts.get(col) or None
                builder.add_outcome(key, model, verdicts[col], response=text, completion_tokens=None if text else 1)
    notes = _mmlu_notes(rows, repeats, disagree)
    files = {f"mmlu/{t.path.name}": t.sha256 for t in tables}
    return builder, {"files": files, "columns": mapping, "repeated_rows": sum(repeats.values()), "notes": notes}


def _mmlu_notes(rows: int, repeats: dict[str, int], disagree: int) -> list[str]:
    n_rep = sum(repeats.values())
    notes = [
        "RouteLLM asked each question after up to 5 examples of its subject that the files do not hold: real "
        "prompt tokens and costs were higher than these",
        "expected is empty: the MMLU files hold verdicts only, not the answer key",
        "response is empty and completion tokens are ASSUMED to be 1 (a one-letter answer; RouteLLM generated "
        "with max_new_tokens=1): the files hold no answer texts",
    ]
    if n_rep:
        kinds = ", ".join(f"{n:,} {w}" for w, n in sorted(repeats.items()))
        notes.append(f"{n_rep:,} of {rows:,} rows repeat the exact text of an earlier row ({kinds}); RouteLLM "
                     "scored every row, and so does this dataset: a repeat is stored as a one-message chat with "
                     "the same text (its key differs from the first row's) and its metadata names the row it "
                     f"repeats (repeat_of); on {disagree:,} repeats a model's verdict differs from the first row's")
    return notes


def _locate(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        raise InputError("no such folder: give RouteLLM's folder (with gsm8k/ and/or mmlu/) or one of them",
                         file=root)
    found: dict[str, Path] = {}
    for name, probe in (("gsm8k", "gsm8k_responses.csv"), ("mmlu", "mmlu_*.csv")):
        for folder in (root / name, root):
            if any(folder.glob(probe)):
                found.setdefault(name, folder)
    if not found:
        raise InputError("neither gsm8k/gsm8k_responses.csv nor mmlu/mmlu_<subject>.csv found here", file=root)
    return found


def import_routellm(path: str | Path, *, prices: Mapping[str, tuple[float, float]] | None = None,
                    models: Mapping[str, str] | None = None, progress: Progress | None = None) -> list[str]:
    """Import RouteLLM's outcome files under ``path``; returns the dataset names written.

    ``models`` maps a CSV column to a litellm model name (default :data:`DEFAULT_MODELS`); ``prices``
    overrides ``{litellm model: (USD in, USD out per million tokens)}``. Every file is read and checked
    before the first dataset is written.
    """
    root = Path(path).expanduser().resolve()
    names = {**DEFAULT_MODELS, **(models or {})}
    pricer = Pricer({names.get(k, k): v for k, v in (prices or {}).items()})  # a column name also works
    readers = {"gsm8k": _gsm8k, "mmlu": _mmlu}
    parsed = [(f"routellm-{part}", *readers[part](folder, pricer, models)) for part, folder in _locate(root).items()]
    for name, builder, meta in parsed:
        builder.fill(name, progress)
        meta = {**meta, "source": f"{SOURCE}, {root}", "format": "routellm", "imported_at": now_iso(),
                "notes": [*_COMMON_NOTES, *meta["notes"]]}
        builder.write(name, meta)
    return [name for name, _, _ in parsed]
