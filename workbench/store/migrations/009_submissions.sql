-- 009: exercise submissions for an interview panel (workbench/store/submissions.py). One row per
-- scored submission: who (the candidate's name as the panel typed it), which exercise, the design as
-- submitted, how long the candidate had taken, the result (JSON of ExerciseResult.to_dict) and the
-- run that was scored (an ordinary run: it opens in Audit). Kept until the panel deletes the store.
CREATE TABLE submissions (
    submission_id  VARCHAR PRIMARY KEY,
    candidate      VARCHAR NOT NULL,
    exercise       VARCHAR NOT NULL,
    submitted_at   TIMESTAMP NOT NULL,
    elapsed_s      DOUBLE,                -- time since the candidate's timer started (NULL: no timer)
    design_yaml    VARCHAR NOT NULL,
    run_id         VARCHAR,               -- the scored run (first held-out seed); NULL if scoring failed
    level          VARCHAR,               -- fails | meets | exceeds
    passed         INTEGER,
    total          INTEGER,
    points         INTEGER,
    max_points     INTEGER,
    result_json    VARCHAR NOT NULL       -- the whole result (every criterion, every seed's run)
);
