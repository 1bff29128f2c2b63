"""Traffic for the next run: a file or an imported dataset, a sample size, an arrival process, a seed.

Why the choice is written into the first scenario's YAML (and not passed around as overrides): the
stored run must say exactly what was replayed, and ``workbench.runner.prepare_many`` already replays
every other scenario over the first one's traffic and seed. The preview uses the loader, sampler and
arrival clock the runner uses, so it shows exactly the requests the run will replay, in order.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd
import param

from workbench.app import edits
from workbench.errors import InputError, WorkbenchError
from workbench.scenario import parse_scenario
from workbench.traffic import arrival_times, load_dataset_traffic, load_traffic, sample_requests

__all__ = ["TrafficChoice", "list_traffic_files", "list_datasets", "PROCESSES", "DATASET_PREFIX"]

PROCESSES = ["as in the scenario", "recorded", "poisson", "burst"]
DATASET_PREFIX = "dataset:"
_SUFFIXES = {".jsonl", ".ndjson", ".csv", ".parquet"}


def list_traffic_files(folder: str | Path) -> list[Path]:
    """Traffic files (JSONL, CSV, Parquet) directly in ``folder``."""
    p = Path(folder)
    return sorted(f for f in p.iterdir() if f.suffix.lower() in _SUFFIXES) if p.is_dir() else []


def list_datasets() -> list[dict]:
    """Imported outcome datasets (name, prompts, models...), or [] when this version has none."""
    try:
        outcomes = importlib.import_module("workbench.store.outcomes")
    except ImportError:
        return []
    lister = getattr(outcomes, "list_datasets", None)
    if lister is None:
        return []
    try:
        return list(lister())
    except WorkbenchError:
        return []


class TrafficChoice(param.Parameterized):
    """What the next run replays; empty or zero fields keep the first scenario's own settings."""

    folder = param.String(default="scenarios/traffic", doc="where traffic files are listed")
    source = param.String(default="", doc="'' (the scenario's), a traffic file path, or 'dataset:NAME'")
    sample = param.Integer(default=0, bounds=(0, None), doc="requests drawn with the seed; 0: the scenario's")
    process: param.Selector = param.Selector(objects=PROCESSES, default=PROCESSES[0])
    rate_per_s = param.Number(default=1.0, bounds=(0, None), inclusive_bounds=(False, True))
    speedup = param.Number(default=1.0, bounds=(0, None), inclusive_bounds=(False, True))
    burst_at_s = param.Number(default=600.0, bounds=(0, None))
    burst_duration_s = param.Number(default=120.0, bounds=(0, None), inclusive_bounds=(False, True))
    burst_rate_per_s = param.Number(default=20.0, bounds=(0, None), inclusive_bounds=(False, True))
    seed = param.Integer(default=None, allow_None=True, doc="None: the first scenario's seed")

    def arrival(self) -> dict | None:
        """The arrival mapping to write, or None to keep the scenario's."""
        if self.process == "recorded":
            return {"process": "recorded", "field": "arrived_at", "speedup": self.speedup}
        if self.process == "poisson":
            return {"process": "poisson", "rate_per_s": self.rate_per_s}
        if self.process == "burst":
            return {"process": "burst", "rate_per_s": self.rate_per_s, "bursts": [
                {"at_s": self.burst_at_s, "duration_s": self.burst_duration_s, "rate_per_s": self.burst_rate_per_s}]}
        return None

    def apply(self, data: dict, *, full: bool = True) -> dict:
        """A copy of scenario ``data`` with this choice written into its ``traffic`` section.

        ``full=False`` writes only what the runner cannot override (a dataset, the arrival process);
        the file, the sample and the seed then go to ``prepare_many`` (:meth:`run_options`), as the
        CLI's ``--traffic``, ``--requests`` and ``--seed`` do, and the stored YAML stays as written.
        """
        out = dict(data)
        traffic = dict(out.get("traffic") or {})
        if self.source.startswith(DATASET_PREFIX):
            traffic.pop("source", None)
            traffic["dataset"] = self.source[len(DATASET_PREFIX):]
        elif self.source and full:
            traffic.pop("dataset", None)
            traffic["source"] = str(Path(self.source).resolve())
        if self.sample and full:
            traffic["sample"] = self.sample
        arrival = self.arrival()
        if arrival is not None:
            traffic["arrival"] = arrival
        out["traffic"] = traffic
        return out

    def apply_to_text(self, text: str, *, full: bool = True) -> str:
        """Scenario YAML ``text`` with this choice applied (see :meth:`apply`); unchanged if nothing is."""
        dataset = self.source.startswith(DATASET_PREFIX)
        if not (dataset or self.arrival() or (full and (self.source or self.sample))):
            return text
        data = edits.load_yaml_data(text)
        if not isinstance(data, dict):
            raise InputError("the scenario is not a YAML mapping")
        return edits.dump_yaml(self.apply(data, full=full))

    def run_options(self) -> dict:
        """``traffic``, ``requests`` and ``seed`` for :func:`workbench.runner.prepare_many`."""
        file = self.source if self.source and not self.source.startswith(DATASET_PREFIX) else None
        return {"traffic": str(Path(file).resolve()) if file else None, "requests": self.sample or None,
                "seed": self.seed}

    def describe(self) -> str:
        """One line for the Run page: what will be replayed."""
        src = ("the first scenario's own traffic" if not self.source
               else self.source if self.source.startswith(DATASET_PREFIX) else Path(self.source).name)
        sample = f"{self.sample:,} requests" if self.sample else "the scenario's sample"
        seed = "the first scenario's seed" if self.seed is None else f"seed {self.seed}"
        return f"{src}; {sample}; arrivals {self.process}; {seed}"

    def preview(self, text: str, source: str | Path, rows: int = 20) -> tuple[pd.DataFrame, str]:
        """The first ``rows`` requests the run would replay over scenario ``text``, and a summary line."""
        scn = parse_scenario(self.apply_to_text(text), source=source)
        spec = scn.traffic
        seed = scn.seed if self.seed is None else self.seed
        if spec.dataset:  # as the runner does: the dataset's prompts are the traffic
            loaded = load_dataset_traffic(spec.dataset)
            path, name = loaded.path, f"dataset {spec.dataset}"
        else:
            path = scn.traffic_path()
            loaded = load_traffic(path)
            name = path.name
        picked = sample_requests(loaded.requests, spec.sample, seed, replace=spec.replace, source=path)
        ordered, times = arrival_times(picked, spec.arrival, seed, source=path)
        frame = pd.DataFrame([{
            "arrival_s": round(t, 2), "id": r.id, "category": r.category, "difficulty": r.difficulty,
            "expected": r.expected, "prompt": r.prompt[:160]}
            for r, t in zip(ordered[:rows], times[:rows], strict=True)])
        span = f", last arrival at {times[-1] / 3600:.2f} h" if times else ""
        return frame, (f"{len(ordered):,} of {len(loaded.requests):,} requests from {name} "
                       f"(SHA-256 {loaded.sha256[:12]}), {spec.arrival.process} arrivals, seed {seed}{span}")
