-- 007: audit seal version 2 (workbench/store/audit/). runs.audit_seal: the version of the record each
-- audit row of the run holds: 1 for runs audited before this migration (decision, calls, answers,
-- verdicts; not cost, tokens, latency, category, retry/fallback flags or the scenario text), 2 for
-- every column of requests and attempts plus the run's defining fields; NULL for runs not audited.
-- runs.audit_signed: each link is an HMAC-SHA256 under the key in $WORKBENCH_AUDIT_KEY (never stored)
-- instead of a plain SHA-256.
ALTER TABLE runs ADD COLUMN audit_seal INTEGER;
ALTER TABLE runs ADD COLUMN audit_signed BOOLEAN DEFAULT false;
UPDATE runs SET audit_seal = 1 WHERE audit;
