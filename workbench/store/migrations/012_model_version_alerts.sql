-- 012: models that change over time and the monitors that watch them (workbench/timeline.py,
-- workbench/monitors/). attempts.model_version: the version label of the model that answered (a fleet
-- model with a timeline: its label at the attempt's virtual time; NULL for a model without one).
-- alerts: one row per monitor alarm, at its virtual time, with the detector's statistic and threshold,
-- what it said and the action it took (notify, pin_previous, remove, switch_fallback:<target>).
ALTER TABLE attempts ADD COLUMN model_version VARCHAR;
CREATE TABLE IF NOT EXISTS alerts (
    run_id VARCHAR NOT NULL,
    at_s DOUBLE NOT NULL,
    monitor VARCHAR NOT NULL,
    target VARCHAR,
    statistic DOUBLE,
    threshold DOUBLE,
    message VARCHAR,
    action VARCHAR
);
