"""Datasets: outcome matrices imported from public evaluations or from a generic file.

Why importers and not a loader per scenario: a dataset is imported once (every row checked, tokens
counted, prices looked up) into the store's outcome matrix (:mod:`workbench.store.outcomes`), and then
re-routed by any number of runs, offline and for free. This package also holds what the
``workbench datasets`` command prints, so the CLI stays a thin shell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from workbench.datasets.fetch import DownloadError, fetch_routellm
from workbench.datasets.generic import import_outcomes
from workbench.datasets.routellm import import_routellm
from workbench.errors import InputError

__all__ = ["eval_chart", "import_routellm", "import_outcomes", "fetch_routellm", "DownloadError", "describe", "format_info",
           "format_list", "evaluate", "format_eval", "parse_prices", "parse_models"]


def describe(name: str) -> dict:
    """A dataset's size, source, notes and, per model, answers, quality (mean score) and cost."""
    from workbench.analysis.routing import model_cost, model_quality
    from workbench.store.outcomes import OutcomeStore

    with OutcomeStore(name) as ds:
        info = ds.info()
        meta = ds.meta()
        m = ds.matrix()
    quality, cost = model_quality(m), model_cost(m)  # defined once, in analysis
    per_model = []
    for model, g in m.groupby("model", sort=True):
        per_model.append({
            "model": model, "answers": int(len(g)), "quality": float(quality[model]),
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
    lines.append(f"\n  {'model':<{width}} {'answers':>8} {'quality':>8} {'cost (USD)':>11} {'per 1k':>9}  price in/out per Mtok")
    for m in d["models"]:
        p = m["price"]
        price = f"${p['input_per_mtok']:g} / ${p['output_per_mtok']:g} ({p['source']})" if p else "from the file"
        lines.append(f"  {m['model']:<{width}} {m['answers']:>8,} {m['quality']:>8.4f} {m['cost_usd']:>11.4f} "
                     f"{m['cost_per_1k_usd']:>9.4f}  {price}")
    if d["notes"]:
        lines.append("\n  notes:")
        lines.extend(f"  - {n}" for n in d["notes"])
    return "\n".join(lines)


def evaluate(name: str, strong: str, weak: str, *, folds: int = 5, seed: int = 0) -> dict:
    """Both models, the oracle, random routing, prompt length as a score (the simplest baseline a router
    must beat) and the learned scorer (cross-fitted: every prompt scored by a model that never saw it)
    on dataset ``name``: quality, cost, APGR, CPT(50%), CPT(80%)."""
    import pandas as pd

    from workbench.analysis.routing import apgr, cpt, oracle, random_curve, routing_curve, routing_metrics
    from workbench.policies.learned import cross_fitted_scores, learned_note
    from workbench.store.outcomes import OutcomeStore

    with OutcomeStore(name) as ds:
        matrix = ds.matrix()
        prompts = ds.prompts()
    best = oracle(matrix, [strong, weak])  # checks both models answer every prompt
    keys = prompts["prompt_key"].tolist()  # dataset order: the folds a `learned` scenario draws
    labels = matrix[matrix["model"] == weak].set_index("prompt_key")["score"].reindex(keys)
    try:
        scores = cross_fitted_scores(prompts["prompt"].tolist(), labels.to_numpy(), folds=folds, seed=seed)
    except ValueError as exc:  # too few prompts for the folds
        raise InputError(str(exc), field="--folds") from None
    learned = routing_metrics(matrix, strong, weak, pd.Series(scores, index=keys))
    length = routing_metrics(matrix, strong, weak, pd.Series(prompts["prompt"].str.len().to_numpy(float), index=keys))
    qw, qs = learned["q_weak"], learned["q_strong"]
    rnd = random_curve(matrix, strong, weak)
    curve = pd.concat([
        routing_curve(matrix, strong, weak, pd.Series(scores, index=keys)).assign(method="learned (out of sample)"),
        rnd.assign(method="random (expectation)")], ignore_index=True)
    return {
        "dataset": name, "prompts": learned["n"], "strong": strong, "weak": weak,
        "models": {strong: {"quality": qs, "cost_usd": learned["cost_strong_usd"]},
                   weak: {"quality": qw, "cost_usd": learned["cost_weak_usd"]}},
        "oracle": best,
        "random": {"apgr": apgr(rnd, qw, qs), "cpt50": cpt(rnd, qw, qs, 0.5), "cpt80": cpt(rnd, qw, qs, 0.8),
                   "apgr_sd": learned.get("random_apgr_sd"),
                   "what": "expectation of random routing (exact, no draw); apgr_sd: spread of one random draw"},
        "length": {"apgr": length["apgr"], "cpt50": length["cpt50"], "cpt80": length["cpt80"]},
        "learned": {"apgr": learned["apgr"], "cpt50": learned["cpt50"], "cpt80": learned["cpt80"],
                    "folds": folds, "seed": seed, "out_of_sample": True},
        "curve": curve[["method", "strong_share", "quality", "cost_usd"]].to_dict("records"),
        "note": f"scores are out of sample: {learned_note(folds)}; seed {seed}; labels: {weak}'s recorded scores",
    }


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

    w = max(len(r["strong"]), len(r["weak"]), 22)
    lines = [f"{r['dataset']}: {r['prompts']:,} prompts", f"  {'':<{w + 8}} {'quality':>8} {'cost (USD)':>11}"]
    for role in ("strong", "weak"):
        m = r["models"][r[role]]
        lines.append(f"  {role:<7} {r[role]:<{w}} {m['quality']:>8.4f} {m['cost_usd']:>11.4f}")
    o = r["oracle"]
    lines.append(f"  {'oracle':<7} {'(cheapest correct model)':<{w}} {o['quality']:>8.4f} {o['cost_usd']:>11.4f}"
                 f"  strong for {o['share'][r['strong']]:.1%} of prompts")
    lines.append(f"\n  {'router':<{w + 8}} {'APGR':>8} {'CPT(50%)':>9} {'CPT(80%)':>9}")
    for label, k in (("random (expectation)", "random"), ("prompt length (longer goes strong)", "length"),
                     (f"learned ({r['learned']['folds']}-fold cross-fitted)", "learned")):
        m = r[k]
        sd = m.get("apgr_sd")
        spread = f"  (one random draw: APGR sd {sd:.4f})" if sd is not None and sd == sd else ""
        lines.append(f"  {label:<{w + 8}} {m['apgr']:>8.4f} {share(m['cpt50']):>9} {share(m['cpt80']):>9}{spread}")
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
