"""Where the next designs come from: a grid, seeded random draws, or Optuna's multi-objective search.

Why batches of a fixed size, whatever the number of workers: Optuna proposes each design from the
results told so far, so a sweep is repeatable only if the results it has seen when it asks are the
same in every run. A search therefore asks for ``batch`` designs, waits for all of them, tells them,
and asks again; with the same seed, the same space and the same results (the replay is deterministic),
a sweep on one process, a pool or a Ray cluster proposes the same designs in the same order.

Grid and random searches know every design up front and hand them over in one batch. Optuna's
samplers are seeded (TPE, NSGA-II when ``algorithm="nsga2"``) and see the constraints
(``Trial.set_constraint``: a design that misses one is ranked after those that meet them all).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Protocol

import numpy as np

from workbench.sweep.space import Constraint, Objective, Param, Space

__all__ = ["Search", "GridSearch", "RandomSearch", "OptunaSearch", "make_search", "grid_values"]


class Search(Protocol):
    """Proposes designs (dotted path -> value) in batches and learns from their metrics."""

    def ask(self) -> list[dict[str, Any]]:
        """The next batch of designs; empty when the search is done."""

    def tell(self, metrics: list[dict | None]) -> None:
        """The metrics of the last batch, in order (None: the trial produced no figures)."""


def _native(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _quantised(p: Param, lo: float, hi: float, values: np.ndarray) -> list:
    if p.step is not None:
        values = lo + np.round((values - lo) / p.step) * p.step
        values = values[values <= hi + 1e-12]
    if p.kind == "int":
        return sorted({int(round(v)) for v in values})
    return [float(round(v, 12)) for v in values]


def _bounds(p: Param) -> tuple[float, float]:
    """``(low, high)`` of a range param (Param validates that a param without choices has one)."""
    bounds = p.int_ or p.float_
    assert bounds is not None
    return bounds


def grid_values(p: Param) -> list:
    """Every value a grid takes for ``p``: each choice; each int of the range (by ``step``, or
    ``points`` values on a log scale); a float range by ``step`` or ``points`` values."""
    if p.choices is not None:
        return list(p.choices)
    lo, hi = _bounds(p)
    if p.log:
        return _quantised(p, lo, hi, np.geomspace(lo, hi, p.points))
    if p.step is not None:
        return _quantised(p, lo, hi, np.arange(0, math.floor((hi - lo) / p.step + 1e-9) + 1) * p.step + lo)
    if p.kind == "int":
        return list(range(int(lo), int(hi) + 1))
    return _quantised(p, lo, hi, np.linspace(lo, hi, p.points))


class GridSearch:
    """Every combination of :func:`grid_values`; with ``trials``, that many in a seeded random order."""

    def __init__(self, space: Space, trials: int | None, seed: int):
        keys = list(space.params)
        combos = itertools.product(*(grid_values(space.params[k]) for k in keys))
        points = [dict(zip(keys, combo, strict=True)) for combo in combos]
        if trials is not None and trials < len(points):
            order = np.random.default_rng(seed).permutation(len(points))[:trials]
            points = [points[i] for i in sorted(order)]
        self.size = len(points)
        self._points: list[dict] | None = points

    def ask(self) -> list[dict[str, Any]]:
        """All the grid at once."""
        points, self._points = self._points or [], None
        return points

    def tell(self, metrics: list[dict | None]) -> None:
        """A grid learns nothing."""


class RandomSearch:
    """``trials`` designs drawn independently (uniform, log-uniform with ``log``), seeded."""

    def __init__(self, space: Space, trials: int, seed: int):
        rng = np.random.default_rng(seed)
        self._points: list[dict] | None = [
            {k: self._draw(p, rng) for k, p in space.params.items()} for _ in range(trials)]

    @staticmethod
    def _draw(p: Param, rng: np.random.Generator) -> Any:
        if p.choices is not None:
            return p.choices[int(rng.integers(len(p.choices)))]
        lo, hi = _bounds(p)
        if p.log:
            v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        elif p.int_ is not None and p.step is None:
            return int(rng.integers(p.int_[0], p.int_[1] + 1))
        else:
            v = rng.uniform(lo, hi)
        return _quantised(p, lo, hi, np.array([v]))[0]

    def ask(self) -> list[dict[str, Any]]:
        """All the draws at once."""
        points, self._points = self._points or [], None
        return points

    def tell(self, metrics: list[dict | None]) -> None:
        """Random draws learn nothing."""


class OptunaSearch:
    """Optuna's ask-and-tell over the space: multi-objective, seeded, constraint-aware, in batches."""

    def __init__(self, space: Space, trials: int, seed: int, objectives: list[Objective],
                 constraints: list[Constraint], batch: int, algorithm: str = "tpe"):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial on stderr
        self._optuna = optuna
        self.space, self.trials, self.batch = space, trials, batch
        self.objectives, self.constraints = objectives, constraints
        sampler: optuna.samplers.BaseSampler
        if algorithm == "nsga2":
            sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=max(2, batch))
        else:
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(batch, 8))
        directions = [optuna.study.StudyDirection[o.direction.upper()] for o in objectives]  # MINIMIZE, MAXIMIZE
        self.study = optuna.create_study(directions=directions, sampler=sampler)
        self._asked: list = []
        self._told = 0

    def _suggest(self, trial, key: str, p: Param) -> Any:
        if p.choices is not None:  # by index: Optuna's categorical values must be plain scalars
            return p.choices[trial.suggest_categorical(key, list(range(len(p.choices))))]
        if p.int_ is not None:
            return trial.suggest_int(key, p.int_[0], p.int_[1], step=int(p.step or 1), log=p.log)
        lo, hi = _bounds(p)
        return trial.suggest_float(key, lo, hi, step=p.step, log=p.log)

    def ask(self) -> list[dict[str, Any]]:
        """The next ``batch`` designs (fewer at the end), each from Optuna's seeded sampler."""
        n = min(self.batch, self.trials - self._told)
        self._asked = [self.study.ask() for _ in range(max(0, n))]
        return [{k: _native(self._suggest(t, k, p)) for k, p in self.space.params.items()} for t in self._asked]

    def tell(self, metrics: list[dict | None]) -> None:
        """Each asked trial's objective values and constraint violations."""
        state = self._optuna.trial.TrialState
        for trial, m in zip(self._asked, metrics, strict=True):
            values: list[Any] = [] if m is None else [m.get(o.metric) for o in self.objectives]
            if m is None or any(v is None or v != v for v in values):
                self.study.tell(trial, state=state.FAIL)
                continue
            for c in self.constraints:  # <= 0: met; samplers rank designs missing one after the others
                trial.set_constraint(str(c), c.violation(m.get(c.metric)))
            self.study.tell(trial, [float(v) for v in values])
        self._told += len(self._asked)
        self._asked = []


def make_search(space: Space, sampler: str, trials: int | None, seed: int, objectives: list[Objective],
                constraints: list[Constraint]) -> Search:
    """The search a sweep runs: ``grid`` (every point, or ``trials`` of them), ``random`` or ``optuna``
    (``trials`` designs, default 32; the space's ``algorithm``: TPE or NSGA-II)."""
    if sampler == "grid":
        return GridSearch(space, trials, seed)
    n = trials or 32
    if sampler == "random":
        return RandomSearch(space, n, seed)
    return OptunaSearch(space, n, seed, objectives, constraints, space.batch, space.algorithm)
