-- 005: the audit trail (workbench/store/audit.py). runs.audit: the run's scenario set `audit: true`,
-- so every request batch it writes is sealed into audit_trail in the same transaction. One row per
-- request, in the order written: pos 0, 1, ... within the run; row_hash = sha256(prev_hash +
-- row_json), row_json being the canonical JSON of the request's decision, calls, answers, verdicts
-- and human override; the first row's prev_hash is 64 zeros. No PRIMARY KEY, as for requests (see
-- 001): the writer appends each request once.
ALTER TABLE runs ADD COLUMN audit BOOLEAN DEFAULT false;
CREATE TABLE audit_trail (
    run_id      VARCHAR NOT NULL,
    pos         BIGINT NOT NULL,       -- position in the chain
    seq         INTEGER NOT NULL,      -- the request's position in arrival order
    request_id  VARCHAR NOT NULL,
    prev_hash   VARCHAR NOT NULL,
    row_hash    VARCHAR NOT NULL,
    row_json    VARCHAR NOT NULL       -- exactly the text that was hashed (after prev_hash)
);
