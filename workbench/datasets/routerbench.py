"""RouterBench's published outcome pickle as one dataset: many models' answers to ~36k prompts.

Why import it: RouterBench (withmartian/routerbench, Hugging Face dataset ``withmartian/routerbench``,
files ``routerbench_0shot.pkl`` and ``routerbench_5shot.pkl``) holds 11 models' answers, graded, to
prompts from MMLU, GSM8K, HellaSwag, Winogrande, ARC, MBPP, MT-Bench and more: an outcome matrix with
more than two models, which N-model routing (the ``utility`` policy) needs.

The format is RouterBench's own wide format (its ``convertors/common.py``, ``convert_to_wide_format``,
and ``utils.py``, ``get_models_to_route``), one row per prompt:

* ``sample_id`` (unique), ``prompt``, ``eval_name`` (the benchmark; becomes the category);
* per model ``M``: a column ``M`` (its performance score, 0..1; NaN: not evaluated), ``M|model_response``
  (its answer) and ``M|total_cost`` (RouterBench's cost estimate in USD, kept as the answer's cost);
  the models are exactly the columns ending in ``|model_response``, as RouterBench finds them;
* other columns (``oracle_model_to_route_to``, embeddings...) are ignored: the workbench derives its
  own oracle from the scores.

A prompt or response stored as the text of a Python list (RouterBench's multi-turn rows) is read with
``ast.literal_eval`` as RouterBench does and its turns are joined with a blank line. A row repeating an
earlier row's exact prompt is left out (a dataset keys prompts by their text) and counted in the notes;
a model's NaN score leaves that one answer out. Tokens are counted with litellm's tokenizer (the file
holds none). A pickle can run code when it is loaded: import only the file RouterBench publishes.
Every row is checked before anything is written; an error names the file, the row (1-based) and the
column.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.datasets.generic import DatasetBuilder, Pricer, Progress, now_iso, sha256_file
from workbench.errors import InputError
from workbench.store.outcomes import check_name

__all__ = ["import_routerbench", "SOURCE", "RESPONSE", "COST"]

SOURCE = "RouterBench (withmartian/routerbench, Hugging Face dataset withmartian/routerbench)"
RESPONSE, COST = "|model_response", "|total_cost"
_REQUIRED = ("sample_id", "prompt", "eval_name")


def _text(value: Any) -> str | None:
    """A prompt or response as text: a list (or its repr, as RouterBench stores turns) joined by blank lines."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and value[:1] == "[" and value[-1:] == "]":
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value
    if isinstance(value, (list, tuple)):
        return "\n\n".join(str(v) for v in value)
    return str(value)


def _read(path: Path):
    import pandas as pd

    if not path.is_file():
        raise InputError("no such file", file=path)
    try:
        frame = pd.read_pickle(path)
    except Exception as exc:  # noqa: BLE001 - unpickling raises anything; one clear error instead
        raise InputError(f"not a readable pickle ({type(exc).__name__}: {exc})", file=path) from None
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame (RouterBench's wide format), got {type(frame).__name__}",
                         file=path)
    cols = [str(c) for c in frame.columns]
    for c in _REQUIRED:
        if c not in cols:
            raise InputError(f"missing column '{c}' (RouterBench's wide format has sample_id, prompt, eval_name "
                             f"and per model M: M, M{RESPONSE}, M{COST})", file=path, field=c)
    models = [c[: -len(RESPONSE)] for c in cols if c.endswith(RESPONSE)]
    if not models:
        raise InputError(f"no model: no column ends in '{RESPONSE}'", file=path)
    for m in models:
        for c in (m, m + COST):
            if c not in cols:
                raise InputError(f"model '{m}' has a '{m}{RESPONSE}' column but no '{c}' column", file=path, field=c)
    return frame.reset_index(drop=True), models


def _number(value: Any, path: Path, row: int, col: str, *, score: bool) -> float | None:
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"row {row}: must be a number, got {value!r}", file=path, field=col) from None
    if math.isnan(x):
        return None
    if not math.isfinite(x) or x < 0 or (score and x > 1):
        raise InputError(f"row {row}: must be {'in [0, 1]' if score else 'a finite cost, not negative'}, "
                         f"got {value!r}", file=path, field=col)
    return x


def _rows(frame, models: list[str], mapping: Mapping[str, str], path: Path, pricer: Pricer, builder: DatasetBuilder):
    seen_ids: dict[str, int] = {}
    seen_text: set[str] = set()
    stats = {"repeats": 0, "missing_scores": 0, "multi_turn": 0, "rows": len(frame)}
    for i, rec in enumerate(frame.to_dict("records"), start=1):
        sid, prompt = _text(rec["sample_id"]), _text(rec["prompt"])
        if not sid:
            raise InputError(f"row {i}: empty sample_id", file=path, field="sample_id")
        if sid in seen_ids:
            raise InputError(f"row {i}: sample_id {sid!r} already on row {seen_ids[sid]}", file=path,
                             field="sample_id")
        seen_ids[sid] = i
        if not prompt or not prompt.strip():
            raise InputError(f"row {i}: empty prompt", file=path, field="prompt")
        outcomes = []
        for m in models:
            score = _number(rec[m], path, i, m, score=True)
            if score is None:
                stats["missing_scores"] += 1
                continue
            cost = _number(rec[m + COST], path, i, m + COST, score=False)
            if cost is None and pricer.info(mapping[m]) is None:
                raise InputError(f"row {i}: no cost, and litellm has no price for '{mapping[m]}': give --price "
                                 f"'{mapping[m]}=IN,OUT' or --model '{m}=LITELLM_NAME'", file=path, field=m + COST)
            outcomes.append((mapping[m], score, _text(rec[m + RESPONSE]), cost))
        if prompt in seen_text:
            stats["repeats"] += 1
            continue
        seen_text.add(prompt)
        raw = rec["prompt"]
        stats["multi_turn"] += isinstance(raw, (list, tuple)) or (
            isinstance(raw, str) and raw[:1] == "[" and raw[-1:] == "]")
        key = builder.add_prompt(sid, prompt, category=_text(rec["eval_name"]), metadata={"row": i})
        for model, score, response, cost in outcomes:
            builder.add_outcome(key, model, score, response=response or "", cost_usd=cost)
    return stats


def import_routerbench(file: str | Path, *, name: str = "routerbench", models: Mapping[str, str] | None = None,
                       prices: Mapping[str, tuple[float, float]] | None = None,
                       progress: Progress | None = None) -> str:
    """Import RouterBench's wide-format pickle ``file`` as dataset ``name``; ``models`` maps a RouterBench
    model name to a litellm one (default: kept as is)."""
    check_name(name)
    path = Path(file).expanduser().resolve()
    frame, found = _read(path)
    for col in models or {}:
        if col not in found:
            raise InputError(f"--model names '{col}', which the file lacks (models: {', '.join(found)})",
                             file=path, field="--model")
    mapping = {m: (models or {}).get(m, m) for m in found}
    if len(set(mapping.values())) < len(mapping):
        raise InputError(f"two models map to the same name: {mapping}", file=path, field="--model")
    pricer = Pricer(prices)
    builder = DatasetBuilder(pricer)
    stats = _rows(frame, found, mapping, path, pricer, builder)
    if not len(builder):
        raise InputError("the file holds no prompt", file=path)
    builder.fill(name, progress)
    notes = [f"{len(builder):,} prompts from {stats['rows']:,} rows, {len(found)} models, imported from {path.name}",
             "score: RouterBench's performance column per model (0..1); cost_usd: its '<model>|total_cost' "
             "estimate, as published (priced by RouterBench, not by litellm)",
             "prompt and completion tokens counted with litellm's tokenizer (the file holds none)",
             "no latencies recorded (latency_s is empty)"]
    if stats["multi_turn"]:
        notes.append(f"{stats['multi_turn']:,} multi-turn prompts: their turns (and answers) joined with a blank line")
    if stats["repeats"]:
        notes.append(f"{stats['repeats']:,} rows repeat an earlier row's exact prompt and were left out")
    if stats["missing_scores"]:
        notes.append(f"{stats['missing_scores']:,} answers have no score (NaN) and were left out")
    builder.write(name, {"source": f"{SOURCE}, {path}", "format": "routerbench", "notes": notes,
                         "imported_at": now_iso(), "files": {path.name: sha256_file(path.read_bytes())},
                         "columns": mapping})
    return name
