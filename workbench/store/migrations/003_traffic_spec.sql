-- 003: the run's traffic spec (source, sample, replacement, arrival process) as JSON, so that a run
-- killed part way can be resumed over exactly the same requests and arrival times.
ALTER TABLE runs ADD COLUMN traffic_spec VARCHAR;
