"""Datasets: outcome matrices imported from public evaluations or from a generic file.

Why importers and not a loader per scenario: a dataset is imported once (every row checked, tokens
counted, prices looked up) into the store's outcome matrix (:mod:`workbench.store.outcomes`), and then
re-routed by any number of runs, offline and for free. This package also holds what the
``workbench datasets`` command prints, so the CLI stays a thin shell.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from workbench.datasets.fetch import DownloadError, fetch_routellm
from workbench.datasets.fleet_eval import evaluate_fleet, format_fleet_eval
from workbench.datasets.generic import import_outcomes
from workbench.datasets.routellm import import_routellm
from workbench.datasets.routerbench import import_routerbench
from workbench.errors import InputError

__all__ = ["eval_chart", "import_routellm", "import_routerbench", "import_outcomes", "fetch_routellm", "DownloadError",
           "describe", "format_info", "format_list", "evaluate", "format_eval", "evaluate_fleet", "format_fleet_eval",
           "parse_prices", "parse_models"]


def describe(name: str) -> dict:
    """A dataset's size, source, notes and, per model, answers, quality (mean score) and cost."""
    from workbench.analysis.routing import model_cost, model_quality
    from workbench.store.outcomes import OutcomeStore

    with OutcomeStore(name) as ds:
        info = ds.info()
        meta = ds.meta()
        m = ds.matrix()
    # defined once, in analysis; a logged dataset may hold answers without a score: quality over the scored
    # ones (None when a model has none), cost over all (its check wants a score: a placeholder is given)
    scored = m[m["score"].notna()]
    quality = {str(k): float(v) for k, v in model_quality(scored).items()} if len(scored) else {}
    cost = model_cost(m.assign(score=m["score"].fillna(0.0)))
    per_model = []
    for model, g in m.groupby("model", sort=True):
        per_model.append({
            "model": model, "answers": int(len(g)), "scored": int(g["score"].notna().sum()),
            "quality": quality.get(str(model)),
            "cost_usd": float(cost[model]), "cost_per_1k_usd": float(cost[model] / len(g) * 1000),
            "mean_prompt_tokens": float(g["prompt_tokens"].mean()),
            "mean_completion_tokens": float(g["completion_tokens"].mean()),
            "latency_recorded": int(g["latency_s"].notna().sum()),
            "sources": {str(k): int(v) for k, v in g["source"].value_counts().items()},
            "price": meta.get("prices", {}).get(model)})
    return {"name": info.name, "path": str(info.path), "prompts": info.prompts,
            "categories": int(m["category"].nunique()), "models": per_model, "source": info.source,
            "imported_at": meta.get("imported_at"), "notes": info.notes, "files": meta.get("files", {})}


def format_list(datasets: list[dict]) -> str:
    """The text of ``workbench datasets list``."""
    if not datasets:
        return "no datasets yet: `workbench datasets import routellm PATH` or `workbench datasets fetch routellm`"
    lines = [f"{'name':<24} {'prompts':>8}  models"]
    for d in datasets:
        lines.append(f"{d['name']:<24} {d['prompts']:>8,}  {', '.join(d['models'])}")
    return "\n".join(lines)


def format_info(d: dict) -> str:
    """The text of ``workbench datasets info NAME``."""
    cats = f"{d['categories']:,} categor{'y' if d['categories'] == 1 else 'ies'}"
    lines = [f"{d['name']}: {d['prompts']:,} prompts in {cats}, {len(d['models'])} models",
             f"  file: {d['path']}", f"  source: {d['source']}"]
    if d.get("imported_at"):
        lines.append(f"  imported: {d['imported_at']}")
    width = max([len(m["model"]) for m in d["models"]] + [5])
    lines.append(f"\n  {'model':<{width}} {'answers':>8} {'quality':>8} {'cost (USD)':>11} {'per 1k':>9}  "
                 "price in/out per Mtok")
    for m in d["models"]:
        p = m["price"]
        price = f"${p['input_per_mtok']:g} / ${p['output_per_mtok']:g} ({p['source']})" if p else "from the file"
        q = "-" if m["quality"] is None else f"{m['quality']:.4f}"
        lines.append(f"  {m['model']:<{width}} {m['answers']:>8,} {q:>8} {m['cost_usd']:>11.4f} "
                     f"{m['cost_per_1k_usd']:>9.4f}  {price}")
    if d["notes"]:
        lines.append("\n  notes:")
        lines.extend(f"  - {n}" for n in d["notes"])
    return "\n".join(lines)


def evaluate(name: str, strong: str, weak: str, *, folds: int = 5, seed: int = 0) -> dict:
    """Both models, the oracle, random routing, two baselines a learned router must beat (prompt length
    as a score, and the TF-IDF + logistic regression "weak fails" scorer) and every candidate of the
    nested-CV quality predictor, with the one it selects as ``learned``; all cross-fitted (every
    prompt scored by a model that never saw it): quality, cost, APGR, CPT(50%), CPT(80%)."""
    import pandas as pd

    from workbench.analysis.fleet import dominant_model
    from workbench.analysis.routing import oracle, routing_curve, routing_metrics
    from workbench.store.outcomes import OutcomeStore

    with OutcomeStore(name) as ds:
        matrix = ds.matrix()
        prompts = ds.prompts()
    best = oracle(matrix, [strong, weak])  # checks both models answer every prompt
    keys = prompts["prompt_key"].tolist()  # dataset order: the folds a `learned` scenario draws
    texts = prompts["prompt"].tolist()
    scores = {m: matrix[matrix["model"] == m].set_index("prompt_key")["score"].reindex(keys).to_numpy(float)
              for m in (strong, weak)}
    scored = _eval_scores(texts, scores, strong, weak, folds, seed)
    metrics = {k: routing_metrics(matrix, strong, weak, pd.Series(v, index=keys)) for k, v in scored["scores"].items()}
    learned = metrics["learned"]
    qw, qs = learned["q_weak"], learned["q_strong"]
    pick = lambda m: {"apgr": m["apgr"], "cpt50": m["cpt50"], "cpt80": m["cpt80"]}  # noqa: E731
    curve = routing_curve(matrix, strong, weak, pd.Series(scored["scores"]["learned"], index=keys))
    return {
        "dataset": name, "prompts": learned["n"], "strong": strong, "weak": weak,
        "models": {strong: {"quality": qs, "cost_usd": learned["cost_strong_usd"]},
                   weak: {"quality": qw, "cost_usd": learned["cost_weak_usd"]}},
        "oracle": best, "no_routing_needed": dominant_model(matrix, [strong, weak]),
        "random": _random_entry(matrix, strong, weak, learned),
        "length": pick(metrics["length"]), "tfidf": pick(metrics["tfidf"]),
        "candidates": {c: pick(metrics[f"candidate:{c}"]) for c in scored["candidates"]},
        "learned": {**pick(learned), "folds": folds, "seed": seed, "out_of_sample": True,
                    "chosen": scored["chosen"]},
        "curve": _eval_curve(curve, matrix, strong, weak),
        "note": f"scores are out of sample: {scored['note']}; seed {seed}; labels: both models' recorded scores",
    }


def _eval_scores(texts: list, scores: dict, strong: str, weak: str, folds: int, seed: int) -> dict:
    """Every scorer's score per prompt (higher = send it to ``strong``), cross-fitted."""
    import numpy as np

    from workbench.policies.learned import cross_fitted_scores, learned_note
    from workbench.policies.quality import cross_fitted_quality, expected_gain, gain_selector, quality_note

    try:
        tfidf = cross_fitted_scores(texts, scores[weak], folds=folds, seed=seed)
        q = cross_fitted_quality(texts, scores, folds=folds, seed=seed, select=gain_selector(strong, weak))
    except ValueError as exc:  # too few prompts for the folds
        raise InputError(str(exc), field="--folds") from None
    out = {"length": np.array([len(t) for t in texts], dtype=float), "tfidf": tfidf,
           "learned": expected_gain(q.selected, strong, weak)}
    out.update({f"candidate:{c}": expected_gain(p, strong, weak) for c, p in q.candidates.items()})
    return {"scores": out, "candidates": list(q.candidates), "chosen": q.chosen,
            "note": f"{quality_note(folds)}; score = P({strong} right) - P({weak} right); baseline 'tfidf': "
                    f"{learned_note(folds)}"}


def _random_entry(matrix, strong: str, weak: str, learned: dict) -> dict:
    from workbench.analysis.routing import apgr, cpt, random_curve

    rnd = random_curve(matrix, strong, weak)
    qw, qs = learned["q_weak"], learned["q_strong"]
    return {"apgr": apgr(rnd, qw, qs), "cpt50": cpt(rnd, qw, qs, 0.5), "cpt80": cpt(rnd, qw, qs, 0.8),
            "apgr_sd": learned.get("random_apgr_sd"),
            "what": "expectation of random routing (exact, no draw); apgr_sd: spread of one random draw"}


def _eval_curve(curve, matrix, strong: str, weak: str) -> list[dict]:
    import pandas as pd

    from workbench.analysis.routing import random_curve

    both = pd.concat([curve.assign(method="learned (out of sample)"),
                      random_curve(matrix, strong, weak).assign(method="random (expectation)")], ignore_index=True)
    return both[["method", "strong_share", "quality", "cost_usd"]].to_dict("records")


def eval_chart(result: dict, path: str | Path) -> Path:
    """Draw :func:`evaluate`'s curves (quality against the share of strong calls) as an SVG file."""
    import pandas as pd

    from workbench.analysis.charts import routing_curve_chart, to_svg

    curve = pd.DataFrame(result["curve"]).assign(mode="recorded")
    best = result["oracle"]
    chart = routing_curve_chart(curve, {"strong_share": best["share"][result["strong"]], "quality": best["quality"]},
                                title=f"{result['dataset']} ({result['prompts']:,} prompts)")
    out = Path(path)
    out.write_text(to_svg(chart), encoding="utf-8")
    return out


def format_eval(r: dict) -> str:
    """The text of ``workbench datasets eval``."""
    def share(x: float | None) -> str:
        return "never" if x is None else f"{x:.1%}"

    w = max(len(r["strong"]), len(r["weak"]), 36)
    lines = [f"{r['dataset']}: {r['prompts']:,} prompts", f"  {'':<{w + 8}} {'quality':>8} {'cost (USD)':>11}"]
    for role in ("strong", "weak"):
        m = r["models"][r[role]]
        lines.append(f"  {role:<7} {r[role]:<{w}} {m['quality']:>8.4f} {m['cost_usd']:>11.4f}")
    o = r["oracle"]
    lines.append(f"  {'oracle':<7} {'(cheapest correct model)':<{w}} {o['quality']:>8.4f} {o['cost_usd']:>11.4f}"
                 f"  strong for {o['share'][r['strong']]:.1%} of prompts")
    lines.append(f"\n  {'router':<{w + 8}} {'APGR':>8} {'CPT(50%)':>9} {'CPT(80%)':>9}")
    rows = [("random (expectation)", r["random"]), ("prompt length (longer goes strong)", r["length"]),
            ("TF-IDF + logistic regression (weak fails)", r["tfidf"])]
    rows += [(f"candidate: {c}", m) for c, m in r.get("candidates", {}).items()]
    rows.append((f"learned ({r['learned']['folds']}-fold cross-fitted, nested CV)", r["learned"]))
    for label, m in rows:
        sd = m.get("apgr_sd")
        spread = f"  (one random draw: APGR sd {sd:.4f})" if sd is not None and sd == sd else ""
        lines.append(f"  {label:<{w + 8}} {m['apgr']:>8.4f} {share(m['cpt50']):>9} {share(m['cpt80']):>9}{spread}")
    lines.append(f"  chosen per fold by the inner CV: {', '.join(r['learned'].get('chosen', []))}")
    if r.get("no_routing_needed"):
        lines.append(f"\n  no routing needed: {r['no_routing_needed']} is both better and cheaper on this dataset")
    lines.append(f"\n  note: {r['note']}")
    lines.append("  CPT(p): the share of strong calls at which quality first recovers p of the gap between the models")
    return "\n".join(lines)


def _pairs(items: Iterable[str], flag: str, shape: str) -> Iterable[tuple[str, str]]:
    for item in items:
        key, sep, value = item.rpartition("=")
        if not sep or not key or not value:
            raise InputError(f"{flag} takes {shape}, got {item!r}", field=flag)
        yield key, value


def parse_prices(items: Iterable[str]) -> dict[str, tuple[float, float]]:
    """``["MODEL=IN,OUT", ...]`` (USD per million tokens) -> ``{model: (in, out)}``."""
    out = {}
    for model, value in _pairs(items, "--price", "MODEL=IN,OUT (USD per million tokens)"):
        parts = value.split(",")
        try:
            inp, outp = (float(x) for x in parts)
        except ValueError:
            raise InputError(f"--price takes MODEL=IN,OUT (two numbers, USD per million tokens), got {value!r} "
                             f"for {model!r}", field="--price") from None
        out[model] = (inp, outp)
    return out


def parse_models(items: Iterable[str]) -> dict[str, str]:
    """``["COLUMN=LITELLM_NAME", ...]`` -> ``{column: name}`` (a column name may hold '/', not '=')."""
    out = {}
    for item in items:
        column, sep, model = item.partition("=")
        if not sep or not column or not model:
            raise InputError(f"--model takes COLUMN=LITELLM_NAME, got {item!r}", field="--model")
        out[column] = model
    return out
