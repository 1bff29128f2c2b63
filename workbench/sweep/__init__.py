"""Design search: replay many variants of one scenario over the same traffic and seed, as one sweep.

Why a package of its own: a sweep sits above the runner (it prepares and replays runs) and beside
the CLI (which only parses and prints). ``space`` reads and checks the design space, ``search``
proposes designs (grid, random, Optuna), ``executors`` computes trials (here, a process pool, Ray),
``run`` ties them to the trace store. The figures come from :mod:`workbench.analysis.sweep`.
"""

from workbench.sweep.executors import EXECUTORS
from workbench.sweep.run import SweepPlan, new_sweep_id, plan_sweep, run_sweep
from workbench.sweep.space import Space, SpaceError, apply_params, load_space, parse_space

__all__ = ["EXECUTORS", "SweepPlan", "plan_sweep", "run_sweep", "new_sweep_id", "Space", "SpaceError",
           "apply_params", "load_space", "parse_space"]
