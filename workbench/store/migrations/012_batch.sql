-- 012: batch lanes (workbench/replay/batching.py). An attempt that ran in a provider batch names its batch;
-- a request that entered a batch lane stores its deadline (seconds after its arrival) so that the read-out
-- can count deadline misses. NULL for everything else (every run before this migration included).
ALTER TABLE attempts ADD COLUMN batch_id VARCHAR;
ALTER TABLE requests ADD COLUMN deadline_s DOUBLE;
