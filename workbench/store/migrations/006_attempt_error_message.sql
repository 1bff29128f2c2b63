-- 006: what a failed call said. attempts.error_message: the provider's error text for a failed live
-- call (a 404's "model not found", a 401's "invalid key"), scrubbed of keys before it is stored
-- (workbench/providers/live.py); NULL for successes and for simulated and recorded failures.
-- runs.status gains 'interrupted': a live run stopped by SIGTERM/SIGINT after writing every request
-- it had finished (`workbench resume` finishes it).
ALTER TABLE attempts ADD COLUMN error_message VARCHAR;
