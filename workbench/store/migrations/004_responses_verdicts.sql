-- 004: what each call answered and how each grader judged it, for audit and re-scoring.
-- attempts.response: the text a call returned (NULL for failures); attempts.verdicts and
-- requests.verdicts: JSON objects {grader label: score or null} for the attempt and for the final
-- answer; requests.prompt_hash: SHA-256 of what was asked (workbench.traffic.prompt_key), the key of
-- the outcome matrix and the audit trail; runs.notes: JSON list of method notes shown in reports
-- (e.g. that a learned scorer's scores are out of sample).
ALTER TABLE attempts ADD COLUMN response VARCHAR;
ALTER TABLE attempts ADD COLUMN verdicts VARCHAR;
ALTER TABLE requests ADD COLUMN verdicts VARCHAR;
ALTER TABLE requests ADD COLUMN prompt_hash VARCHAR;
ALTER TABLE runs ADD COLUMN notes VARCHAR;
