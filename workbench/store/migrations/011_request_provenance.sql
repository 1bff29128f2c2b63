-- 011: where a request's quality came from (workbench/replay/engine.py, README "Provenance"): the source of
-- the attempt that gave its final answer (logged, recorded, live, simulated; a modelled human node's is simulated), 'judged' when an LLM
-- judge's verdict is part of its quality, 'none' when it got no attempt (rejected). NULL for runs written
-- before this migration: readers fall back to the run's mode.
ALTER TABLE requests ADD COLUMN provenance VARCHAR;
