-- 008: design search (workbench/store/sweeps.py). A sweep is a set of runs over the same traffic and
-- seed under one id: sweeps holds what was searched (space YAML, sampler, objectives, constraints),
-- sweep_trials maps each trial to its run (trial 0: the scenario as written, the baseline). Two trials
-- proposing the same design share one run. The runs themselves are ordinary runs.
CREATE TABLE sweeps (
    sweep_id       VARCHAR PRIMARY KEY,
    scenario       VARCHAR NOT NULL,      -- the base scenario's name
    scenario_path  VARCHAR,
    space_yaml     VARCHAR NOT NULL,
    space_path     VARCHAR,
    sampler        VARCHAR NOT NULL,      -- grid | random | optuna
    executor       VARCHAR NOT NULL,      -- serial | process | ray
    seed           BIGINT NOT NULL,       -- the sampler's seed (the runs' seed is in runs)
    objectives     VARCHAR NOT NULL,      -- JSON list of {metric, direction}
    constraints    VARCHAR NOT NULL,      -- JSON list of {metric, op, bound}
    status         VARCHAR NOT NULL,      -- running | completed | failed | cancelled
    started_at     TIMESTAMP NOT NULL,
    finished_at    TIMESTAMP,
    note           VARCHAR
);
CREATE TABLE sweep_trials (
    sweep_id  VARCHAR NOT NULL,
    trial     INTEGER NOT NULL,           -- 0 = baseline, then in the order the search proposed them
    run_id    VARCHAR NOT NULL,
    params    VARCHAR NOT NULL            -- JSON: dotted scenario path -> value ({} for the baseline)
);
