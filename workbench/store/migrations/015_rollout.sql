-- 015: rollouts (workbench/rollout/). A rollout replays one stream of traffic through two designs: each
-- request's arm ('baseline' or 'candidate') says which design served it; NULL for a normal run, so every
-- existing trace and golden digest is unchanged. rollout_stages holds each stage decision (promote, hold,
-- rollback, complete) with the guardrails' evidence as JSON (estimates, always-valid p-values, samples).
ALTER TABLE requests ADD COLUMN arm VARCHAR;
CREATE TABLE IF NOT EXISTS rollout_stages (
    run_id VARCHAR NOT NULL,
    stage INTEGER NOT NULL,
    share DOUBLE NOT NULL,
    started_at_s DOUBLE NOT NULL,
    ended_at_s DOUBLE NOT NULL,
    decision VARCHAR NOT NULL,
    evidence VARCHAR NOT NULL
);
